"""A plant key's own view: who it is, its own alerts (read only), its refused readings with
reasons, and nothing of any other plant."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from api.alerts.tables import alerts
from api.auth import Principal
from ingest.kernel.points import dead_letter_line
from ingest.kernel.store import InfluxStore
from tests.builders import registry_toml

pytestmark = pytest.mark.integration

TOML = registry_toml(
    {
        "sl-002": ("synthetic_leather", [("stack-1", "voc")]),
        "sl-003": ("synthetic_leather", [("stack-1", "voc")]),
    }
)
OWN = {"Authorization": "Bearer sl-002-key"}


def test_a_plant_key_sees_its_own_and_nothing_else(
    store: InfluxStore, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(TOML, alert_engine_enabled=False)
    app: Any = client.app
    app.state.keyring.add("sl-002-key", Principal("sl-002#6", "plant", "sl-002"))
    now = datetime.now(UTC)
    at = int(now.timestamp() * 1000)
    with app.state.db.begin() as conn:
        for plant in ("sl-002", "sl-003"):
            conn.execute(
                insert(alerts).values(
                    kind="meter_offline", plant=plant, meter="stack-1", pollutant="",
                    open_key=f"x/{plant}", status="open", message="x", opened_at=at,
                    last_seen_at=at, updated_at=at,
                )
            )  # fmt: skip
    store.write_lines(
        [
            dead_letter_line("t/sl-002", "sl-002", "invalid_values", "dmf_mgm3 < 0", b"{}", now - timedelta(hours=1), 1),
            dead_letter_line("t/sl-003", "sl-003", "invalid_values", "secret of sl-003", b"{}", now - timedelta(hours=1), 2),
        ]
    )  # fmt: skip

    assert client.get("/api/v1/me", headers=OWN).json() == {
        "name": "sl-002#6",
        "role": "plant",
        "plant": "sl-002",
        "county": None,
    }
    listed = client.get("/api/v1/alerts", headers=OWN).json()["alerts"]
    assert [a["plant"] for a in listed] == ["sl-002"]
    assert client.get("/api/v1/alerts", params={"plant": "sl-003"}, headers=OWN).status_code == 403
    assert (
        client.post(f"/api/v1/alerts/{listed[0]['id']}/ack", json={}, headers=OWN).status_code
        == 403
    )
    refused = client.get("/api/v1/plants/sl-002/refused", headers=OWN).json()["refused"]
    assert [(r["code"], r["reason"]) for r in refused] == [("invalid_values", "dmf_mgm3 < 0")]
    assert client.get("/api/v1/plants/sl-003/refused", headers=OWN).status_code == 403
