"""`make run` starts no gateway where a stack has no PW, unless told it is a test (issue 22)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.kernel.registry import load_registry
from ingest.settings import demo_registry_path
from scripts.run import gateway_allow_no_pw
from tests.ingest.gateway.helpers import registry


def test_a_registry_with_a_stack_without_pw_is_refused_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failed before the fix: `make run` started a gateway that took any PW for such a stack."""
    monkeypatch.delenv("PLANTWATCH_HJ212_ALLOW_NO_PW", raising=False)
    path = registry(tmp_path / "r.toml")  # sl-002's stack has an MN and no PW
    assert gateway_allow_no_pw(path, load_registry(path)) is None
    monkeypatch.setenv("PLANTWATCH_HJ212_ALLOW_NO_PW", "true")
    assert gateway_allow_no_pw(path, load_registry(path)) == "true"


def test_the_shipped_demo_county_is_a_test() -> None:
    path = demo_registry_path()
    assert gateway_allow_no_pw(path, load_registry(path)) in ("true", "false")
