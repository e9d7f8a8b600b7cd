"""Config problems and how they read: "file: key.path: expected X; found Y", secrets never shown."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

if TYPE_CHECKING:  # pydantic only where its errors are read: the CLI's read commands import none
    from pydantic import BaseModel, ValidationError


@dataclass
class Problem:
    key: str
    message: str


def format_problem(path: Path, problem: Problem, warning: bool = False) -> str:
    mark = "WARNING " if warning else ""
    if problem.key:
        return f"{path}: {mark}{problem.key}: {problem.message}"
    return f"{path}: {mark}{problem.message}"


class ConfigError(Exception):
    """Every problem found in one config file (and the warnings found beside them)."""

    def __init__(self, path: Path | str, problems: list[Problem], warnings: list[Problem] | None = None) -> None:
        self.path = Path(path)
        self.problems = problems
        self.warnings = warnings or []
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(format_problem(self.path, p) for p in self.problems)


SECRET_WORDS = ("token", "secret", "password", "auth", "key")
# Keys whose whole value is secret though their name says nothing of it (a URL with a password).
SECRET_KEYS = {("store", "url")}


@dataclass
class _Redacted:
    length: int


def _is_secret_key(loc: tuple[Any, ...]) -> bool:
    names = [p for p in loc if isinstance(p, str)]
    if tuple(names) in SECRET_KEYS:
        return True
    return any(word in part.lower() for part in names[-2:] for word in SECRET_WORDS)


def _describe(value: Any) -> str:
    if isinstance(value, _Redacted):
        return f"a secret value of {value.length} characters (not shown)"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, int | float):
        return f"number {value}"
    return f"{type(value).__name__} {value!r}"


def join_key(loc: tuple[Any, ...]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a table",
    "model_type": "a table",
    "list_type": "an array",
    "time_type": "a time like 09:00",
    "time_parsing": "a time like 09:00",
    "date_type": "a date like 2026-01-05",
    "date_parsing": "a date like 2026-01-05",
    "date_from_datetime_parsing": "a date like 2026-01-05",
    "datetime_type": "a date-time like 2026-11-27T09:00:00",
    "datetime_parsing": "a date-time like 2026-11-27T09:00:00",
    "datetime_from_date_parsing": "a date-time like 2026-11-27T09:00:00",
    "path_type": "a path string",
}


def _expected(err: dict[str, Any]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    if kind == "literal_error":
        return f"one of {ctx.get('expected')}"
    if kind == "string_pattern_mismatch":
        return f"a string matching {ctx.get('pattern')}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()), "?")
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"a number {sign} {bound}"
    if kind == "too_short":
        return f"at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"at most {ctx.get('max_length')} item(s)"
    if kind == "string_too_long":
        return f"a string of at most {ctx.get('max_length')} character(s)"
    if kind == "string_too_short":
        return f"a string of at least {ctx.get('min_length')} character(s)"
    msg = err["msg"]
    return msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg


def problems_from_validation(
    exc: ValidationError, prefix: tuple[Any, ...] = (), model: type[BaseModel] | None = None
) -> list[Problem]:
    """Turn pydantic's errors into "key.path: expected X; found Y" problems."""
    out = []
    for err in exc.errors():
        raw_loc = tuple(err["loc"])
        is_key = "[key]" in raw_loc
        loc = tuple(p for p in raw_loc if p != "[key]")
        key = join_key(prefix + loc)
        value = err.get("input")
        if _is_secret_key(loc) and value is not None:
            value = _Redacted(len(str(value)))
        # A key of the wrong shape (e.g. a contact kind) is reported like a value, with what was expected.
        if err["type"] == "extra_forbidden" or (is_key and err["type"] == "literal_error"):
            allowed = _allowed_keys(model, loc[:-1]) if model else None
            if is_key and err["type"] == "literal_error":
                allowed = [str(x).strip("'") for x in str(err["ctx"]["expected"]).replace(" or ", ", ").split(", ")]
            hint = f" (expected one of: {', '.join(allowed)})" if allowed else ""
            out.append(Problem(key, f"unknown key{hint}"))
        elif err["type"] == "missing":
            out.append(Problem(key, "missing required key"))
        else:
            expected = _expected(err)
            if expected.startswith("expected"):
                out.append(Problem(key, f"{expected}; found {_describe(value)}"))
            else:
                out.append(Problem(key, f"expected {expected}; found {_describe(value)}"))
    return out


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """Follow ``loc`` through nested annotations to list the keys allowed there."""
    from pydantic import BaseModel

    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return None
    target = _strip_optional(annotation)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return sorted(target.model_fields)
    return None


def _strip_optional(annotation: Any) -> Any:
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    if get_origin(annotation) in (Union, UnionType) and len(args) == 1:
        return args[0]
    return annotation


def _step(annotation: Any, part: Any) -> Any:
    from pydantic import BaseModel

    annotation = _strip_optional(annotation)
    origin = get_origin(annotation)
    if origin is dict:
        return get_args(annotation)[1]
    if origin is list:
        return get_args(annotation)[0] if isinstance(part, int) else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        info = annotation.model_fields.get(part)
        return None if info is None else info.annotation
    return None
