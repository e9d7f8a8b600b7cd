"""Kept for plugins written against it: the event type now lives in ``alertd.timeline``."""

from alertd.timeline import AlertEvent, EventKind

__all__ = ["AlertEvent", "EventKind"]
