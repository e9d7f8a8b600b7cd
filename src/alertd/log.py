"""Structured logs: one line per event, ``key=value`` pairs, to stderr.

``log.info("inbound.accepted", integration="aws", outcome="Mapped Open")`` prints
``level=info logger=alertd.inbound event=inbound.accepted integration=aws
outcome="Mapped Open"``. Under systemd (JOURNAL_STREAM set) the timestamp is left
to journald. Never pass secrets (tokens, passwords, signed URLs) as fields.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from typing import Any

from alertd.textout import is_unsafe, json_visible

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


# Printable ASCII except space, '=', '"' and backslash: a value made only of these (names, ids,
# outcome words) is written bare; one regex decides, not a call per character (hot path:
# a line per inbound request).
_bare_ascii = re.compile(r"[\x21\x23-\x3c\x3e-\x5b\x5d-\x7e]+").fullmatch
# Characters that always need quoting: the separators and the ASCII controls (space, DEL, C0).
_needs_quotes = re.compile(r'[ ="\\\x00-\x1f\x7f]').search


def _quote(value: Any) -> str:
    """A logfmt value: bare when that is unambiguous, else a JSON string in which control
    and format characters (CR, ESC, NUL, U+2028, bidi overrides) are escaped, so a field
    can never break a line or forge another one in a terminal or log viewer."""
    # str() of an int is what json.dumps writes, without its encoder's set-up.
    text = value if isinstance(value, str) else str(value) if type(value) is int else json.dumps(value, default=str)
    if _bare_ascii(text):
        return text
    if text and not _needs_quotes(text) and not any(is_unsafe(c) for c in text):
        return text  # non-ASCII letters are bare too, unless a control or format character is among them
    return json_visible(json.dumps(text, ensure_ascii=False))


def error_with_cause(exc: BaseException) -> str:
    """``Type: message`` of ``exc``, and of its innermost cause when that says more.

    httpx and friends wrap the useful part (``CERTIFICATE_VERIFY_FAILED``, ``Connection
    refused``) several exceptions down and often carry an empty message themselves.
    """
    chain = [exc]
    while len(chain) < 20:  # bounded: a cycle in __context__ is possible
        last = chain[-1]
        nxt = last.__cause__ or last.__context__
        if nxt is None and isinstance(last, BaseExceptionGroup) and last.exceptions:
            nxt = last.exceptions[0]
        if nxt is None or nxt in chain:
            break
        chain.append(nxt)
    outer = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    for inner in reversed(chain[1:]):
        text = str(inner)
        if text and text not in str(exc):
            return f"{outer} (cause: {type(inner).__name__}: {text})"
    return outer


class LogfmtFormatter(logging.Formatter):
    def __init__(self, with_time: bool) -> None:
        super().__init__()
        self.with_time = with_time
        self._cached_second: tuple[int, str] = (-1, "")

    def _second(self, second: int) -> str:
        # strftime once per second, not once per line.
        if self._cached_second[0] != second:
            self._cached_second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return self._cached_second[1]

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        if self.with_time:
            parts.append(f"ts={self._second(int(record.created))}.{int(record.msecs):03d}Z")
        parts.append(f"level={record.levelname.lower()}")
        parts.append(f"logger={record.name}")
        parts.append(f"event={_quote(record.getMessage())}")
        for key, value in getattr(record, "fields", {}).items():
            parts.append(f"{key}={_quote(value)}")
        if record.exc_info:
            parts.append(f"exc={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


class Logger:
    """A thin wrapper: ``log.info(event, **fields)``."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)

    def _log(self, level: int, event: str, exc_info: bool, fields: dict[str, Any]) -> None:
        logger = self._logger
        if logger.isEnabledFor(level):
            # The record is made here, not by Logger.log: that walks the stack for a file name and
            # line number which no line shows (a fifth of the cost of a line).
            error = sys.exc_info() if exc_info else None
            record = logger.makeRecord(logger.name, level, "", 0, event, (), error, extra={"fields": fields})
            logger.handle(record)

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, False, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, False, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, False, fields)

    def error(self, event: str, exc_info: bool = False, **fields: Any) -> None:
        self._log(logging.ERROR, event, exc_info, fields)


def get_logger(name: str) -> Logger:
    return Logger(name)


def setup_logging(level: str = "info") -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter(with_time="JOURNAL_STREAM" not in os.environ))
    root.addHandler(handler)
    set_level(level)
    # Third-party chatter goes through the same handler, one line each, but quieter.
    for noisy in ("hypercorn.access", "hypercorn.error", "httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(_LEVELS[level])
    logging.getLogger("alertd").setLevel(_LEVELS[level])
