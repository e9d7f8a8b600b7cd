"""Reading ``alertd.toml`` into a dict: the TOML parse, with one-line errors naming the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported by the error paths only: a CLI call reading a good file does not build them
    from alertd.config.problems import ConfigError


def parse_toml(text: str) -> dict[str, Any]:
    """``text`` parsed. rtoml (Rust) parses a large file (1,000 schedules: 600 KB) ten times faster
    than tomllib, and every command starts by reading the file; a text it refuses goes to tomllib,
    the reference, whose verdict and error message (with line and column) the operator gets.
    rtoml reads TOML 1.1, so an inline table may span lines or end in a comma (tomllib: 1.0)."""
    try:
        import rtoml

        return rtoml.loads(text)
    except Exception:  # any refusal (or no rtoml): the reference parser decides
        import tomllib  # only then: a few milliseconds a read command need not pay

        return tomllib.loads(text)


# The file as last parsed with ``keep``, handed once to the next read of the same unchanged file:
# start-up reads the file for plugins_dir and then validates it, and a 600 KB file takes 40 ms
# to parse. Only a reader that does not change the data may keep it.
_kept: tuple[tuple[str, int, int, int], dict[str, Any], bytes] | None = None


def read_toml(path: Path, *, keep: bool = False) -> dict[str, Any]:
    global _kept
    try:
        with path.open("rb") as fh:
            st = os.fstat(fh.fileno())
            key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
            kept, _kept = _kept, None
            if kept is not None and kept[0] == key:
                return kept[1]
            source = fh.read()
    except OSError as exc:
        raise _read_error(path, exc) from None
    data = parse_source(path, source)
    if keep:
        _kept = (key, data, source)
    return data


def parse_kept(path: Path, source: bytes) -> dict[str, Any]:
    """``parse_source``, taking the parse ``read_toml(keep=True)`` kept if it was of these very bytes
    (``alertd run`` reads the file for plugins_dir, then loads what it read)."""
    global _kept
    kept, _kept = _kept, None
    if kept is not None and kept[0][0] == str(path) and kept[2] == source:
        return kept[1]
    return parse_source(path, source)


def read_source(path: Path) -> bytes:
    """The file's bytes; ConfigError (one line) if it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _read_error(path, exc) from None


def _read_error(path: Path, exc: OSError) -> ConfigError:
    from alertd.config.problems import ConfigError, Problem

    if isinstance(exc, FileNotFoundError):
        return ConfigError(path, [Problem("", "file not found")])
    return ConfigError(path, [Problem("", f"cannot read file: {exc.strerror}")])


def parse_source(path: Path, source: bytes) -> dict[str, Any]:
    """``source`` (the bytes of ``path``) parsed; ConfigError naming the file if it is not TOML."""
    try:
        return parse_toml(source.decode())
    except UnicodeDecodeError as exc:  # a TOML file is UTF-8 text
        from alertd.config.problems import ConfigError, Problem

        byte = exc.object[exc.start]
        message = f"TOML syntax error: not UTF-8 text (byte 0x{byte:02x} at offset {exc.start})"
        raise ConfigError(path, [Problem("", message)]) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError is one (tomllib is imported by then)
        import tomllib

        from alertd.config.problems import ConfigError, Problem

        if not isinstance(exc, tomllib.TOMLDecodeError):
            raise
        raise ConfigError(path, [Problem("", f"TOML syntax error: {exc}")]) from None
