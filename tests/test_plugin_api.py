"""The plugin API (issue 10, item 5): plugins import only ``alertd.plugin``, and it is documented."""

from __future__ import annotations

import ast
import importlib

import alertd.plugin
from helpers import ROOT

# The built-in plugins and the third-party-style test plugins are held to the same rule.
PLUGIN_TREES = (ROOT / "plugins", ROOT / "tests" / "plugins_dir")
ALLOWED = "alertd.plugin"


def forbidden_imports(source: str) -> list[str]:
    """Every import of an ``alertd`` module other than ``alertd.plugin``, wherever it is (functions,
    ``TYPE_CHECKING`` blocks included), as ``line: module``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from alertd import x` may name a submodule: only `from alertd.plugin import ...` is allowed.
            modules = [node.module]
        else:
            continue
        for module in modules:
            if (module == "alertd" or module.startswith("alertd.")) and module != ALLOWED:
                found.append(f"{node.lineno}: {module}")
    return found


def test_plugins_import_only_the_plugin_api() -> None:
    offenders = {}
    checked = 0
    for tree in PLUGIN_TREES:
        for path in sorted(tree.rglob("*.py")):
            rel = path.relative_to(ROOT)
            if ".venv" in path.parts:
                continue
            checked += 1
            bad = forbidden_imports(path.read_text())
            if bad:
                offenders[str(rel)] = bad
    assert checked >= 15  # the walk found the plugins
    assert offenders == {}


def test_the_check_sees_every_kind_of_import() -> None:
    source = """
from alertd.plugin import hookimpl
import alertd.plugin
from alertd import hookimpl
import alertd.store
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from alertd.runtime import Runtime
def late():
    from alertd.receive import announce
    import alertd_local.helpers
"""
    assert forbidden_imports(source) == ["4: alertd", "5: alertd.store", "8: alertd.runtime", "10: alertd.receive"]


def test_every_name_is_exported_and_documented() -> None:
    doc = alertd.plugin.__doc__ or ""
    for name in alertd.plugin.__all__:
        assert hasattr(alertd.plugin, name), name
        assert f"``{name}" in doc, f"{name} is exported but not described in alertd.plugin's docstring"


def test_names_are_re_exports_not_copies() -> None:
    # A plugin holding alertd.plugin.X holds the very object the core uses.
    pairs = {
        "Notification": "alertd.channels",
        "DeliveryResult": "alertd.channels",
        "InboundMessage": "alertd.inbound",
        "Rejection": "alertd.inbound",
        "post": "alertd.http_delivery",
        "parse_reply": "alertd.replies",
        "apply_command": "alertd.commands",
        "hookimpl": "alertd",
        "visible": "alertd.textout",
    }
    for name, module in pairs.items():
        assert getattr(alertd.plugin, name) is getattr(importlib.import_module(module), name), name


def imported_modules(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def test_core_does_not_import_the_plugin_api() -> None:
    # alertd.plugin sits above the core: a core module importing it would make a cycle.
    users = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "src" / "alertd").rglob("*.py")
        if path.name != "plugin.py" and ALLOWED in imported_modules(path.read_text())
    ]
    assert users == []
