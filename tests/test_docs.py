"""The project's own documents: the README links docs/architecture.md (not a file outside the
repository), and the architecture document names modules and hooks that exist."""

from __future__ import annotations

import re

from alertd import hookspecs
from helpers import ROOT

ARCHITECTURE = ROOT / "docs" / "architecture.md"


def test_readme_links_the_architecture_document_of_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "(docs/architecture.md)" in readme
    assert "../shared" not in readme and "DESIGN.md" not in readme
    for target in re.findall(r"\]\(([^)#:]+)\)", readme):
        assert (ROOT / target).exists(), target


def test_architecture_names_modules_that_exist() -> None:
    text = ARCHITECTURE.read_text()
    src = ROOT / "src" / "alertd"
    named = set(re.findall(r"`((?:[a-z_]+/)?[a-z_]+\.py)`", text))
    assert len(named) > 20
    for module in named:
        assert any((src / sub / module).is_file() for sub in ("", "http", "store", "engine")), module
    for package in re.findall(r"`([a-z_]+/)`", text):
        assert (src / package).is_dir() or (ROOT / package).is_dir(), package
    # The loops are listed in one place, and the doc says which.
    assert "engine.LOOPS" in text


def test_architecture_documents_every_plugin_hook() -> None:
    text = ARCHITECTURE.read_text()
    hooks = [name for name in dir(hookspecs) if name.startswith("alertd_")]
    assert len(hooks) >= 6
    for hook in hooks:
        assert f"`{hook}(" in text, hook
