"""The day names a config file uses, Monday first as ``datetime.weekday()`` counts (a leaf: the
config models and the pure decisions that read days, such as ``routing.within``, share it without
the decisions importing pydantic)."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
