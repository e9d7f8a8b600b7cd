"""The one error a filter pattern gives: what was expected, and where (1-based character)."""

from __future__ import annotations


class FilterPatternError(ValueError):
    def __init__(self, position: int, message: str) -> None:
        super().__init__(f"at character {position + 1}: {message}")
        self.position = position
        self.message = message
