"""Meter presence, one definition for live status and the `meter_offline` alert."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.presence import allowance_minutes, is_reporting, latest_seen
from ingest.kernel.store import InfluxStore, encode_point
from tests.api.support import ADMIN
from tests.builders import registry_toml

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
OFFLINE = {"voc": 15.0, "gas": 60.0}


@pytest.mark.parametrize(
    ("seen", "allowance", "reporting"),
    [
        (NOW - timedelta(minutes=59), 60.0, True),
        (NOW - timedelta(minutes=60), 60.0, True),  # at the allowance: still reporting
        (NOW - timedelta(minutes=61), 60.0, False),
        (NOW + timedelta(minutes=2), 15.0, True),  # a device clock slightly ahead
        (None, 60.0, False),
    ],
)
def test_is_reporting(seen: datetime | None, allowance: float, reporting: bool) -> None:
    assert is_reporting(seen, NOW, allowance) is reporting


def test_allowance_by_kind_with_a_default() -> None:
    assert allowance_minutes("voc", OFFLINE) == 15.0
    assert allowance_minutes("electricity", OFFLINE) == 60.0


@pytest.mark.integration
def test_live_status_uses_the_alert_allowances(
    store: InfluxStore, make_client: Callable[..., TestClient]
) -> None:
    now = datetime.now(UTC)
    store.write_lines(
        [
            encode_point(
                "gas",
                {"plant": "ss-a", "meter": "gas-1"},
                {"volume_m3": 1.0},
                now - timedelta(minutes=30),
            ),
            encode_point(
                "voc",
                {"plant": "ss-a", "meter": "stack-1"},
                {"dmf_mgm3": 1.0},
                now - timedelta(minutes=20),
            ),
        ]
    )
    toml = registry_toml({"ss-a": ("stainless_steel", [("gas-1", "gas"), ("stack-1", "voc")])})
    client = make_client(toml, alert_engine_enabled=False, rollup_enabled=False)
    body = client.get("/api/v1/plants/ss-a", headers=ADMIN).json()
    meters = {m["id"]: m for m in body["meters"]}
    assert meters["gas-1"]["reporting"] is True  # 30 min < 60 min
    assert meters["stack-1"]["reporting"] is False  # 20 min > 15 min
    assert meters["stack-1"]["offline_after_minutes"] == 15.0
    assert body["reporting"] is False


@pytest.mark.integration
def test_a_stack_emptying_its_buffer_is_catching_up_not_offline(
    store: InfluxStore, make_client: Callable[..., TestClient]
) -> None:
    """Its latest reading is 27 min old but arrived a minute ago (`_arrived_ms`, kept on
    every reading): behind, delivering. Another stack's reading arrived 27 min ago too."""
    now = datetime.now(UTC)
    ms = lambda t: int(t.timestamp() * 1000)  # noqa: E731
    store.write_lines(
        [
            encode_point(
                "voc",
                {"plant": "sl-a", "meter": meter},
                {"dmf_mgm3": 1.0, "_arrived_ms": ms(now - arrived)},
                now - timedelta(minutes=27),
            )
            for meter, arrived in (
                ("stack-1", timedelta(minutes=1)),
                ("stack-2", timedelta(minutes=27)),
            )
        ]
    )
    seen = latest_seen(store, ["voc"], now, timedelta(hours=1))
    assert seen[("sl-a", "stack-1")].arrived is not None
    toml = registry_toml({"sl-a": ("synthetic_leather", [("stack-1", "voc"), ("stack-2", "voc")])})
    client = make_client(toml, alert_engine_enabled=False, rollup_enabled=False)
    meters = {m["id"]: m for m in client.get("/api/v1/plants/sl-a", headers=ADMIN).json()["meters"]}
    assert (meters["stack-1"]["reporting"], meters["stack-1"]["catching_up"]) == (False, True)
    assert (meters["stack-2"]["reporting"], meters["stack-2"]["catching_up"]) == (False, False)
