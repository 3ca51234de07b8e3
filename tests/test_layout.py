"""The test tree's own rules (docs/decisions.md, "helpers shared by test files"): a test
module imports no other test module — what two files share lives in a support module or a
conftest fixture — and each package's tests sit in the folder that mirrors it."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports (`from a import b` counts `a` and `a.b`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_test_module_imports_another() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in imported_modules(path) if m.rsplit(".", 1)[-1].startswith("test_")
        )
        for path in TESTS.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_kernels_tests_mirror_the_kernel() -> None:
    """No test named after a kernel module sits at the top of tests/ingest: it belongs in
    tests/ingest/kernel/, beside the other tests of ingest/kernel/."""
    kernel = {p.stem for p in (ROOT / "ingest" / "kernel").glob("*.py")}
    top = {p.stem.removeprefix("test_") for p in (TESTS / "ingest").glob("test_*.py")}
    assert top & kernel == set(), "kernel tests belong in tests/ingest/kernel/"
