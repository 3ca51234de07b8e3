"""What the conversion-record tests share: the registry, the KPI's time, the keys they make."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.api.support import ADMIN
from tests.builders import MeterSpec, RegistryBuilder

AT = datetime(2026, 3, 31, 16, tzinfo=UTC)  # 2026-04-01T00:00+08:00
WINDOW_START = AT - timedelta(days=30)
TOML = (
    RegistryBuilder()
    .plant("ss-gas", meters=[("gas-1", "gas")])  # converted, coal meter taken away
    .plant("ss-both")
    .plant(
        "ss-man", meters=[MeterSpec("gas-1", "gas"), MeterSpec("coal-m", "coal", {"manual": True})]
    )
    .toml()
)


def officer(client: TestClient, role: str = "officer") -> dict[str, str]:
    resp = client.post("/api/v1/keys", json={"name": f"{role}-1", "role": role}, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    return {"Authorization": f"Bearer {resp.json()['key']}"}


def status_of(body: dict, plant: str) -> str:
    return next(r["status"] for r in body["rows"] if r["plant"] == plant)
