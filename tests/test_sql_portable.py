"""SQL outside the SQLite backend is written to run on SQLite and PostgreSQL alike.

Every string literal in src/ and plugins/ is scanned for constructs only SQLite knows;
the SQLite backend (store/sqlite.py, the SQLite migrations in store/schema.py) and the
SQLite file backup (backup.py) and the SQLite side of migrate-store (store/sqlite_to_pg.py)
are where such SQL belongs.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {
    "src/alertd/store/sqlite.py",
    "src/alertd/store/schema.py",
    "src/alertd/backup.py",
    "src/alertd/store/sqlite_to_pg.py",
}
# What each construct should be written as instead.
SQLITE_ONLY = {
    r"\bINSERT\s+OR\s+(IGNORE|REPLACE)\b": "INSERT ... ON CONFLICT DO NOTHING / DO UPDATE",
    r"\browid\b": "a column of the table (its key)",
    r"\blastrowid\b": "INSERT ... RETURNING id",
    r"\bPRAGMA\b": "a method of the SQLite backend (alertd.store.sqlite)",
    r"\bBEGIN\s+IMMEDIATE\b": "alertd.store.write_transaction",
    r"\bCOLLATE\s+NOCASE\b": "lower(x) = lower(?)",
    r"\bsqlite_master\b": "a method of the SQLite backend",
    r"\b(strftime|julianday|json_patch|instr)\s*\(": "a computation in Python, or portable SQL",
}
SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|PRAGMA|BEGIN|WHERE)\b")


def sources() -> list[Path]:
    return sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")])


def findings(path: Path, root: Path = ROOT) -> list[str]:
    """Each SQLite-only construct in a string literal (SQL-looking) of ``path``."""
    out = []
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.Attribute) and node.attr == "lastrowid":
            text = "lastrowid"
        else:
            continue
        if node_is_docstring(node, tree):
            continue
        for pattern, instead in SQLITE_ONLY.items():
            if (SQL_WORDS.search(text) or text == "lastrowid") and re.search(pattern, text, re.IGNORECASE):
                out.append(f"{path.relative_to(root)}:{node.lineno}: {pattern} -> use {instead}")
    return out


def node_is_docstring(node: ast.AST, tree: ast.Module) -> bool:
    for parent in ast.walk(tree):
        body = getattr(parent, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and body[0].value is node:
            return True
    return False


def test_no_sqlite_only_sql_outside_the_sqlite_backend() -> None:
    found = [f for path in sources() if str(path.relative_to(ROOT)) not in ALLOWED for f in findings(path)]
    assert not found, "SQLite-only SQL outside the SQLite backend:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "code",
    [
        'db.execute("INSERT OR IGNORE INTO t (a) VALUES (?)", [1])',
        'db.execute("DELETE FROM t WHERE rowid IN (SELECT rowid FROM t LIMIT 5)")',
        'cursor = db.execute("INSERT INTO t (a) VALUES (1)"); n = cursor.lastrowid',
        'db.execute("PRAGMA page_count")',
        'db.execute("SELECT 1 FROM t WHERE a = ? COLLATE NOCASE", [x])',
        "db.execute(\"SELECT name FROM sqlite_master WHERE type = 'table'\")",
        "db.execute(\"SELECT strftime('%s', 'now') FROM t\")",
    ],
)
def test_the_scan_finds_each_construct(tmp_path: Path, code: str) -> None:
    target = tmp_path / "probe.py"
    target.write_text(code + "\n")
    assert findings(target, tmp_path)
