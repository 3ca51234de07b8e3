"""No InfluxQL in `api/` (issue 21): the API asks the store for requests (`ingest.kernel.reads`)
and the InfluxDB engine alone writes statements (`ingest.kernel.influxql`).

Read from the source with `ast`, nothing is imported. A string the API could send as a
statement, a call of the engine's raw `query` / `query_many`, or an import of the engine's
statement module is a finding; docstrings are prose and not read.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Modules of `api/` still allowed to hold statement text, with why (none left).
ALLOWED: dict[str, str] = {}
# The modules that may import the engine's statement text: the engine and the InfluxDB-only
# upkeep beside it (schema marks, the keeper's series reads), none of them the read model's.
INFLUXQL_IMPORTERS = frozenset(
    {"ingest/kernel/store.py", "ingest/kernel/store_schema.py", "ingest/keeper.py"}
)
STATEMENT = re.compile(
    r"\bSELECT\b[^;]*\bFROM\b|GROUP BY time\(|\bfill\(|\bSHOW (TAG|FIELD|MEASUREMENTS|SERIES)\b"
    r"|\bWITH KEY\b|\btz\('",
    re.IGNORECASE,
)
RAW_QUERIES = frozenset({"query", "query_many"})
ENGINE_TEXT = "ingest.kernel.influxql"


def docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes of a module, its classes and functions."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def imported(node: ast.AST) -> set[str]:
    """The modules an import statement names (`from a import b`: `a` and `a.b`)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if isinstance(node, ast.ImportFrom) and node.module:
        return {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return set()


def receiver(node: ast.expr) -> str:
    """`self.store` of `self.store.query`, as text."""
    return ast.unparse(node)


def findings(source: str) -> list[str]:
    """Where a module's source holds statement text or reaches past the store's operations."""
    tree = ast.parse(source)
    prose = docstrings(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(
                str(part.value) if isinstance(part, ast.Constant) else "{}" for part in node.values
            )
            if STATEMENT.search(text):
                out.append(f"line {node.lineno}: statement text {text[:60]!r}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in prose and STATEMENT.search(node.value):
                out.append(f"line {node.lineno}: statement text {node.value[:60]!r}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in RAW_QUERIES and "store" in receiver(node.func.value).lower():
                out.append(f"line {node.lineno}: raw {receiver(node.func)}()")
        elif isinstance(node, ast.Import | ast.ImportFrom) and ENGINE_TEXT in imported(node):
            out.append(f"line {node.lineno}: imports {ENGINE_TEXT}")
    return out


@pytest.mark.parametrize(
    "source",
    [
        'q = \'SELECT last("gas_m3") FROM "gas"\'',
        "q = f'SELECT {cols} FROM {m} WHERE time >= {t}'",
        "q = f'... GROUP BY time({every}), \"plant\" fill(none)'",
        'q = \'SHOW TAG VALUES FROM "gas" WITH KEY = "plant"\'',
        "rows = store.query(text)",
        "rows = self.store.query_many(texts)",
        "from ingest.kernel.influxql import quote_ident",
        "from ingest.kernel import influxql",
    ],
)
def test_statement_text_is_found(source: str) -> None:
    assert findings(source)


@pytest.mark.parametrize(
    "source",
    [
        '"""Reads `SELECT x FROM y` in a docstring, which is prose."""',
        "request = Points('gas', ('gas_m3',), start, end)",
        "rows = store.read([request])",
        "db.execute('BEGIN SELECT RAISE(ABORT, 1); END')",
        "found = session.query(Model)",
    ],
)
def test_requests_and_prose_are_not_statement_text(source: str) -> None:
    assert findings(source) == []


def test_the_api_holds_no_statement_text() -> None:
    found = {}
    for path in sorted((ROOT / "api").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        hits = findings(path.read_text(encoding="utf-8"))
        if hits and name not in ALLOWED:
            found[name] = hits
    assert found == {}, "InfluxQL belongs to ingest/kernel/influxql.py (ask `Store.read`)"


def test_the_allow_list_names_only_modules_that_still_need_it() -> None:
    stale = [n for n in ALLOWED if not findings((ROOT / n).read_text(encoding="utf-8"))]
    assert stale == []


def test_only_the_engine_imports_the_statement_text() -> None:
    importers = {
        path.relative_to(ROOT).as_posix()
        for top in ("api", "ingest", "simulators", "dashboards")
        for path in (ROOT / top).rglob("*.py")
        if any(
            ENGINE_TEXT in imported(node)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    }
    assert importers == INFLUXQL_IMPORTERS
