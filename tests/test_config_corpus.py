"""A corpus of broken alertd.toml files (tests/configs/bad): each names its expected message
in a ``# expect:`` line; ``alertd check-config`` must print it as ``FILE: message``."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import ROOT, run_cli_in_process

CORPUS = sorted((ROOT / "tests" / "configs" / "bad").glob("*.toml"))


def expectations(path: Path) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in path.read_text().splitlines() if line.startswith("# expect:")]


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_broken_config(path: Path) -> None:
    expected = expectations(path)
    assert expected, f"{path.name} has no '# expect:' line"
    result = run_cli_in_process("check-config", "-c", str(path))
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr, result.stderr  # one line per problem, never a traceback
    for message in expected:
        assert f"{path}: {message}" in result.stderr, result.stderr
