"""A plain sqlite3 connection dressed as the two parts of a sqlite-utils ``Database`` that the
alert commands and ``write_transaction`` use (``execute``, ``conn``): the CLI's act commands
(``ack``, ``close``) and ``oncall``'s token writes skip sqlite-utils' import (issue 15)."""

from __future__ import annotations

import sqlite3
from typing import Any


class PlainDatabase:
    """``conn`` with sqlite-utils' ``Database.execute(sql, parameters)``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Any = None) -> sqlite3.Cursor:
        return self.conn.execute(sql, () if parameters is None else parameters)
