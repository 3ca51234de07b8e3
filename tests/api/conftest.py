"""Fixtures for API tests: a small registry, settings on a private InfluxDB, a test client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from ingest.store import InfluxStore
from scripts.devstack import free_port

ADMIN_KEY = "test-admin-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def registry_toml(plants: dict[str, tuple[str, list[tuple[str, str]]]], goal: float = 0.5) -> str:
    """plant id -> (sector, [(meter id, kind)]) as a registry file (names in Chinese)."""
    parts = [f'[county]\nname = "测试县"\ngas_share_goal = {goal}\n']
    for plant, (sector, meters) in plants.items():
        parts.append(
            f'[[plants]]\nid = "{plant}"\nname = "{plant} 不锈钢有限公司"\nsector = "{sector}"\n'
        )
        for meter, kind in meters:
            parts.append(f'  [[plants.meters]]\n  id = "{meter}"\n  kind = "{kind}"\n')
    return "\n".join(parts)


FUEL_METERS = [("gas-1", "gas"), ("coal-1", "coal")]


def register_lines(
    kind: str,
    plant: str,
    meter: str,
    start: datetime,
    step: timedelta,
    values: list[float],
) -> list[str]:
    """Line protocol for a cumulative register read every `step` from `start`."""
    field = "volume_m3" if kind == "gas" else "mass_kg"
    lines = []
    for i, value in enumerate(values):
        ts_ms = int((start + i * step).timestamp() * 1000)
        lines.append(f"{kind},plant={plant},meter={meter} {field}={float(value)!r} {ts_ms}")
    return lines


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
