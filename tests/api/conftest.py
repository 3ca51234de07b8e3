"""Fixtures for API tests: a small registry, settings on a private InfluxDB, a test client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from ingest.store import InfluxStore
from scripts.devstack import free_port
from tests.builders import FUEL_METERS, register_lines, registry_toml

__all__ = ["ADMIN", "ADMIN_KEY", "FUEL_METERS", "register_lines", "registry_toml"]

ADMIN_KEY = "test-admin-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def make_settings(tmp_path: Path, store: InfluxStore) -> Callable[..., ApiSettings]:
    """Settings for an app on the test's fresh database and a registry written from `toml`."""

    def _make(toml: str, **overrides: object) -> ApiSettings:
        registry = tmp_path / "registry.toml"
        registry.write_text(toml, encoding="utf-8")
        values: dict[str, object] = {
            "registry": registry,
            "influx_url": store.url,
            "influx_db": store.database,
            "admin_key": SecretStr(ADMIN_KEY),
            "database_url": f"sqlite:///{tmp_path}/plantwatch.db",
            "rollup_enabled": False,
            "reports_job_enabled": False,
            # Nothing listens here: the publisher retries quietly in the background.
            "mqtt_port": free_port(),
        }
        values.update(overrides)
        return ApiSettings(**values)  # type: ignore[arg-type]

    return _make


@pytest.fixture
def make_client(make_settings: Callable[..., ApiSettings]) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def _make(toml: str, **overrides: object) -> TestClient:
        client = TestClient(create_app(make_settings(toml, **overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield _make
    for client in clients:
        client.__exit__(None, None, None)
