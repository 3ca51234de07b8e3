"""Plant credentials come from `ingest.credentials` when that module exists."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from ingest.settings import CommonSettings
from simulators.__main__ import plant_credentials


def test_credentials_from_the_store_interface(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    opened: list[Path] = []

    class CredentialStore:
        def __init__(self, path: Path) -> None:
            opened.append(path)

        def password_for(self, plant_id: str) -> str:
            return f"pw-{plant_id}"

    module = types.ModuleType("ingest.credentials")
    module.CredentialStore = CredentialStore  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ingest.credentials", module)
    settings = CommonSettings()
    object.__setattr__(settings, "credentials_file", tmp_path / "creds")
    credentials = plant_credentials(settings)
    assert credentials is not None
    assert credentials("ss-001") == ("ss-001", "pw-ss-001")
    assert opened == [tmp_path / "creds"]


def test_no_credentials_module_means_no_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ingest.credentials", None)  # import fails
    assert plant_credentials(CommonSettings()) is None
