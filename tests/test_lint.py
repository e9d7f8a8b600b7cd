"""The code stays ruff-clean (part of the suite so CI enforces it)."""

import shutil
import subprocess

import pytest

from helpers import ROOT


def test_ruff_clean() -> None:
    ruff = shutil.which("ruff") or str(ROOT / ".venv" / "bin" / "ruff")
    if not shutil.which(ruff):
        pytest.skip("ruff is not installed")
    paths = [p for p in ("src", "plugins", "tests", "bench") if (ROOT / p).exists()]
    result = subprocess.run([ruff, "check", *paths], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_formatted() -> None:
    """One layout everywhere: a diff shows what changed, not who formatted it."""
    ruff = shutil.which("ruff") or str(ROOT / ".venv" / "bin" / "ruff")
    if not shutil.which(ruff):
        pytest.skip("ruff is not installed")
    paths = [p for p in ("src", "plugins", "tests", "bench") if (ROOT / p).exists()]
    result = subprocess.run([ruff, "format", "--check", *paths], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, "run `.venv/bin/ruff format src plugins tests bench`:\n" + result.stdout
