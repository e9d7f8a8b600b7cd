"""A log file's bytes -> its events, for ``alertd filter-pattern test`` (pure; the CLI reads the file).

Recognised, in this order: gzip (by its magic bytes) around any of these; a CloudTrail log file
(``{"Records": [...]}``: the events are the records); a JSON array (its items); one JSON value
(one event); otherwise lines, each non-blank line one event (JSON lines are parsed by JSON
patterns as they go). Sizes are bounded before decompressing further or parsing.
"""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

from alertd import jsonlimits

MAX_FILE_BYTES = 256 * 1024 * 1024  # after decompression; CloudTrail files are a few MB
MAX_EVENTS = 1_000_000


class LogFileError(ValueError):
    pass


def decompress(data: bytes, limit: int = MAX_FILE_BYTES) -> bytes:
    if not data.startswith(b"\x1f\x8b"):
        if len(data) > limit:
            raise LogFileError(f"expected at most {limit // (1024 * 1024)} MiB")
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
            out = unzipped.read(limit + 1)
    except (OSError, EOFError) as exc:
        raise LogFileError(f"not a readable gzip file ({exc})") from None
    if len(out) > limit:
        raise LogFileError(f"expected at most {limit // (1024 * 1024)} MiB once decompressed")
    return out


def read_events(data: bytes) -> tuple[str, list[Any]]:
    """(what the file is, its events in file order)."""
    text = decompress(data).decode("utf-8", "replace").lstrip("\ufeff")
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            value = jsonlimits.loads(stripped)
        except ValueError:
            value = None  # JSON lines, or text that starts with a bracket
        else:
            if isinstance(value, dict) and isinstance(value.get("Records"), list):
                return "CloudTrail log file", _bounded(value["Records"])
            if isinstance(value, list):
                return "JSON array", _bounded(value)
            return "JSON value", [value]
    lines = [line for line in text.splitlines() if line.strip()]
    return "lines", _bounded(lines)


def _bounded(events: list[Any]) -> list[Any]:
    if len(events) > MAX_EVENTS:
        raise LogFileError(f"expected at most {MAX_EVENTS} events; found {len(events)}")
    return events


def summary(event: Any) -> str:
    """One line about an event: a CloudTrail event's when, what, who, where from, error; else its text."""
    if isinstance(event, str):
        try:
            parsed = jsonlimits.loads(event) if event.lstrip()[:1] == "{" else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            return event.strip()
        event = parsed
    if isinstance(event, dict) and "eventName" in event:
        who = event.get("userIdentity") if isinstance(event.get("userIdentity"), dict) else {}
        parts = [
            event.get("eventTime"),
            event.get("eventName"),
            who.get("arn") or who.get("userName") or who.get("type"),
            event.get("sourceIPAddress"),
            event.get("errorMessage") or event.get("errorCode"),
        ]
        return " ".join(str(p) for p in parts if p)
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)
