"""The OpenAPI document of /api/v1, generated from the pydantic models that validate the requests.

Each API view carries its description (``@api_doc(...)``: summary, query model, body model,
responses); ``document(app)`` walks the app's URL map, so a route and its description cannot drift
apart, and a route under /api/v1 without one is listed in ``undescribed(app)`` (a test keeps that
empty). ``parse_query``/``parse_body`` are the validators the views use, turning pydantic's errors
into the API's one-line reasons.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

API_PREFIX = "/api/v1"
# A URL rule's variable, with or without a converter: <name>, <int:name>.
VARIABLE_RE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])


class ApiError(BaseModel):
    """Every refusal: one line saying why."""

    error: str


class Query(BaseModel):
    """Query parameters: unknown ones are refused (a typo must not silently list everything)."""

    model_config = ConfigDict(extra="forbid")


class Body(BaseModel):
    """A JSON request body: strict types (``"10"`` is not a number, ``true`` not an id), no unknown keys."""

    model_config = ConfigDict(extra="forbid", strict=True)


@dataclass(frozen=True)
class Operation:
    summary: str
    # status -> (description, a response model or [model] or a JSON schema, or None for no content)
    responses: Mapping[int, tuple[str, Any]]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    # A body that is not a model: the sample messages passed to the rules as received.
    raw_body: str | None = None
    path: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    auth: bool = True
    description: str = ""


def api_doc(
    summary: str,
    responses: Mapping[int, tuple[str, Any]],
    *,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    raw_body: str | None = None,
    path: Mapping[str, dict[str, Any]] | None = None,
    auth: bool = True,
    description: str = "",
) -> Callable[[F], F]:
    """Describe an API view for the OpenAPI document (put it directly under the route decorator)."""
    op = Operation(summary, responses, query, body, raw_body, path or {}, auth, description)

    def decorate(view: F) -> F:
        view.__alertd_api__ = op  # type: ignore[attr-defined]
        return view

    return decorate


def _problem(exc: ValidationError, model: type[BaseModel], where: str) -> str:
    """The first of pydantic's errors as one line in the API's words."""
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"]]
    name = loc[0] if loc else ""
    kind = err["type"]
    info = model.model_fields.get(name)
    if kind == "extra_forbidden":
        expected = ", ".join(f"{k!r}" for k in model.model_fields) or "none"
        return f"unknown key {name[:40]!r} in the {where}; expected only {expected}"
    if kind == "missing":
        what = f" ({info.description})" if info is not None and info.description else ""
        return f"the {where} needs {name!r}{what}"
    if kind == "value_error":
        return f"{name}: {err['ctx']['error']}" if name else str(err["ctx"]["error"])
    # A wrong type or value is told by the field's description; a length by pydantic's words.
    if info is not None and info.description and len(loc) == 1 and "too_" not in kind:
        return f"{name} must be {info.description}"
    return f"{'.'.join(loc)}: {err['msg']}" if loc else err["msg"]


def parse_query(model: type[M], args: Any) -> M | str:
    """``model`` from the query string (the first value of each name), or the reason it is refused."""
    values = {k: args.get(k) for k in args}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        return _problem(exc, model, "query")


def parse_body(model: type[M], data: bytes, example: str = "{}") -> M | str:
    """``model`` from a JSON body (an empty body is ``{}``), or the reason it is refused."""
    if not data.strip():
        raw: Any = {}
    else:
        try:
            raw = json.loads(data)
        except (ValueError, RecursionError):
            return f"the body must be a JSON object such as {example}"
        if not isinstance(raw, dict):
            return f"the body must be a JSON object such as {example}; found a JSON {type(raw).__name__}"
    try:
        return model.model_validate(raw)
    except (ValidationError, RecursionError) as exc:
        if isinstance(exc, RecursionError):
            return "the body is nested too deeply"
        return _problem(exc, model, "body")


class _Schemas:
    """Model schemas collected into components/schemas, referenced by name."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, model: type[BaseModel]) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        self.components.update(schema.pop("$defs", {}))
        self.components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def of(self, what: Any) -> dict[str, Any]:
        """The schema of a model, of ``[model]`` (an array of them), or ``what`` itself (a schema)."""
        if isinstance(what, list):
            return {"type": "array", "items": self.of(what[0])}
        if isinstance(what, type) and issubclass(what, BaseModel):
            return self.ref(what)
        return what


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    # A query parameter is absent or a string: "null" is not one of its values.
    options = schema.get("anyOf")
    if options:
        rest = [o for o in options if o.get("type") != "null"]
        if len(rest) == 1:
            return {**{k: v for k, v in schema.items() if k != "anyOf"}, **rest[0]}
    return schema


def _parameters(op: Operation, variables: list[str]) -> list[dict[str, Any]]:
    params = []
    for name in variables:
        schema = op.path.get(name, {"type": "string", "minLength": 1, "maxLength": 200})
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if op.query is not None:
        full = op.query.model_json_schema()
        for name, prop in full.get("properties", {}).items():
            prop = _without_null(prop)
            prop.pop("title", None)
            if prop.get("default", "") is None:
                del prop["default"]
            entry: dict[str, Any] = {"name": name, "in": "query", "required": name in full.get("required", [])}
            if "description" in prop:
                entry["description"] = "must be " + prop["description"]
            entry["schema"] = prop
            params.append(entry)
    return params


def _operation(op: Operation, variables: list[str], schemas: _Schemas, view: str) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": view, "summary": op.summary}
    if op.description:
        out["description"] = op.description
    params = _parameters(op, variables)
    if params:
        out["parameters"] = params
    if op.body is not None:
        required = bool(op.body.model_json_schema().get("required"))
        out["requestBody"] = {
            "required": required,
            "content": {"application/json": {"schema": schemas.ref(op.body)}},
        }
    elif op.raw_body is not None:
        out["requestBody"] = {
            "required": True,
            "description": op.raw_body,
            "content": {"application/json": {"schema": {}}},
        }
    responses: dict[str, Any] = {}
    statuses = dict(op.responses)
    if op.auth:
        statuses.setdefault(401, ("no valid API token (Authorization: Bearer <token>)", ApiError))
    if op.query is not None or op.body is not None or op.raw_body is not None:
        statuses.setdefault(400, ("the request is refused; the reason is in error", ApiError))
    if op.body is not None or op.raw_body is not None:
        statuses.setdefault(413, ("the body is too large", ApiError))
    for status, (description, model) in sorted(statuses.items()):
        entry: dict[str, Any] = {"description": description}
        if model is not None:
            entry["content"] = {"application/json": {"schema": schemas.of(model)}}
        responses[str(status)] = entry
    out["responses"] = responses
    if op.auth:
        out["security"] = [{"bearer": []}]
    else:
        out["security"] = []
    return out


def _rules(app: Any) -> list[tuple[Any, Any]]:
    """(rule, view function) of every route under /api/v1."""
    return [
        (rule, app.view_functions[rule.endpoint])
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(API_PREFIX + "/")
    ]


def undescribed(app: Any) -> list[str]:
    """The /api/v1 routes without ``@api_doc``: each should have one."""
    return sorted(rule.rule for rule, view in _rules(app) if getattr(view, "__alertd_api__", None) is None)


def document(app: Any, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the app's /api/v1 routes."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for rule, view in sorted(_rules(app), key=lambda rv: rv[0].rule):
        op: Operation | None = getattr(view, "__alertd_api__", None)
        if op is None:
            continue
        template = VARIABLE_RE.sub(r"{\1}", rule.rule)
        variables = VARIABLE_RE.findall(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(template, {})[method.lower()] = _operation(op, variables, schemas, rule.endpoint)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "alertd API",
            "version": version,
            "description": "Alerts, the inbound log, integrations and maintenance windows of one alertd daemon. "
            "Times are RFC 3339 (UTC) with the unix time beside them in <name>_epoch.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "one of server.api_tokens from the config",
                }
            },
        },
    }
