"""No import cycle in src/alertd and plugins/ (issue 10), counting imports inside functions and
``TYPE_CHECKING`` blocks: the layers depend downwards only."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

SOURCE_ROOTS = [ROOT / "src", *sorted((ROOT / "plugins").glob("*/src"))]


def modules() -> dict[str, Path]:
    found = {}
    for root in SOURCE_ROOTS:
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                # `from pkg import x` runs pkg, and x may be a submodule.
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                module = known(target)
                if module is not None and module != name:
                    graph[name].add(module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_checker_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_transaction_modules_never_import_upwards() -> None:
    # The coordinator (alertd.apply) calls the lifecycle, then the plan, then the outbox; none of
    # them calls back up, and the lifecycle knows no plan (imports inside functions included).
    graph = import_graph(modules())
    upper = {"alertd.apply", "alertd.receive", "alertd.commands", "alertd.replies"}
    for module, beside in (
        ("alertd.alerts", {"alertd.escalation", "alertd.outbox"}),
        ("alertd.escalation", {"alertd.alerts"}),
        ("alertd.outbox", {"alertd.alerts", "alertd.escalation"}),
    ):
        wrong = {m for m in graph[module] if m in upper | beside or m.startswith("alertd.engine")}
        assert not wrong, (module, sorted(wrong))
    assert {"alertd.alerts", "alertd.escalation", "alertd.outbox"} <= graph["alertd.apply"]


def test_no_import_cycles_in_src_and_plugins() -> None:
    mods = modules()
    assert "alertd.engine.events" in mods and "alertd_twilio.routes" in mods  # the walk saw both trees
    assert cycles(import_graph(mods)) == []
