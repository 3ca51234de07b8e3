"""No import cycles among the modules of `ingest/` (issue 21); the kernel imports no process.

Read from the source with `ast`, nothing is imported. Every import counts, also those under
`TYPE_CHECKING` and inside functions: a cycle hidden from the interpreter is still two modules
that cannot be read (or moved) apart. A constant both sides need has one home (e.g.
`ingest/kernel/catalogue.py`) that both import.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Mapping, Set
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ingest",)
# The shared kernel every process (and `api`) builds on: every module of `ingest/kernel/`.
KERNEL = tuple(
    sorted(
        "ingest.kernel." + path.stem
        for path in (ROOT / "ingest" / "kernel").glob("*.py")
        if path.stem != "__init__"
    )
)
# The processes on it: MQTT, sockets, threads, the spool.
PROCESSES = (
    "ingest.collector",
    "ingest.gateway",
    "ingest.client",
    "ingest.keeper",
    "ingest.spool",
    "ingest.replay",
    "ingest.broker_queue",
    "ingest.__main__",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def import_graph(packages: tuple[str, ...] = PACKAGES) -> dict[str, frozenset[str]]:
    """Module -> the project modules it imports (`from a import b` counts `a.b` if a module)."""
    paths = {module_name(p): p for pkg in packages for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, frozenset[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                candidates = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            deps.update(c for c in candidates if c in paths and c != name)
        graph[name] = frozenset(deps)
    return graph


def cycles(graph: Mapping[str, Set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b"], ["c", "d"]]),
    ],
)
def test_cycles_finds_every_cycle(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(graph) == expected


def test_the_graph_is_read_from_the_source() -> None:
    graph = import_graph()
    assert "ingest.kernel.pipeline" in graph["ingest.collector"]
    assert "ingest.gateway.checks" in graph["ingest.gateway.server"]
    # an import under TYPE_CHECKING counts (ingest/kernel/store.py types its settings so)
    assert "ingest.settings" in graph["ingest.kernel.store"]


def test_no_import_cycles_in_ingest() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles (move the shared names to their one home): " + "; ".join(
        " <-> ".join(c) for c in found
    )


def reachable(graph: Mapping[str, Set[str]], start: str) -> set[str]:
    """Every module `start` imports, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


@pytest.mark.parametrize("module", KERNEL)
def test_the_kernel_imports_no_process(module: str) -> None:
    graph = import_graph()
    assert module in graph
    processes = {
        m
        for m in reachable(graph, module)
        if any(m == p or m.startswith(p + ".") for p in PROCESSES)
    }
    assert processes == set(), f"{module} reaches the processes {sorted(processes)}"
