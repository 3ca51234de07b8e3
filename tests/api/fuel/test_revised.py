"""SPEC 14 on both engines: a plant's resend with other values is a revision that changes no
figure, raises `reading_revised` and waits for an officer; the revision the officer accepts
is the record for every read from then on (the KPI from the re-rolled rollups, the plant
page) and clears the alert.

The readings reach each store through the collector's write edge (`RecordKeeper`); the API
answers on that store (InfluxDB, or ClickHouse in-process on chdb); the rollup job is the
real one.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api.alerts import observe, rules
from api.alerts.model import READING_REVISED
from api.fuel.rollup import fuel_job
from api.fuel.rules import StepRules
from api.fuel.service import FuelCore
from api.settings import KpiDefinition
from ingest.keeper import RecordKeeper
from ingest.kernel.engines import StoreEngine
from ingest.kernel.lineproto import Point
from ingest.kernel.registry import parse_registry
from ingest.kernel.store import Store
from tests.api.support import ADMIN
from tests.builders import FUEL_METERS, registry_toml

pytestmark = pytest.mark.integration

TZ = "Asia/Shanghai"
RULES = StepRules({"gas": 20_000.0, "coal": 50_000.0}, timedelta(hours=24))
PLANT = "ss-001"
TOML = registry_toml({PLANT: ("stainless_steel", FUEL_METERS)})
STEP = timedelta(minutes=15)
LOOKBACK = timedelta(hours=24)
FORGED = 250.0  # what the plant's resend adds to its last gas reading


def ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def reading(kind: str, meter: str, ts: datetime, value: float, arrived: datetime) -> Point:
    """A reading as the collector writes it (`ingest.kernel.points.reading_points`)."""
    name = "volume_m3" if kind == "gas" else "mass_kg"
    fields: dict[str, float | str | bool] = {
        name: value,
        name + "_flag": "N",
        "_arrived_ms": ms(arrived),
        "_source": "mqtt",
    }
    return Point(kind, {"plant": PLANT, "meter": meter}, fields, ms(ts))


def latest_gas(client: TestClient) -> Any:
    """The plant page's latest gas volume."""
    resp = client.get(f"/api/v1/plants/{PLANT}", headers=ADMIN)
    assert resp.status_code == 200, resp.text
    (meter,) = [m for m in resp.json()["meters"] if m["id"] == "gas-1"]
    return meter["latest"]["values"]["volume_m3"]


def test_a_resend_changes_nothing_until_an_officer_accepts_it(
    engine: Store, make_client: Callable[..., TestClient]
) -> None:
    store = cast(StoreEngine, engine)  # either engine the collector writes through
    now = datetime.now(UTC)
    midnight = now.astimezone(ZoneInfo(TZ)).replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = (midnight - timedelta(days=1)).astimezone(UTC), midnight.astimezone(UTC)
    times = [start + k * STEP for k in range(96)]  # one local day, the last at end - 15 min
    RecordKeeper(store).write(
        [reading("gas", "gas-1", t, 1000.0 + 10 * k, t) for k, t in enumerate(times)]
        + [reading("coal", "coal-1", t, 500.0 + 20 * k, t) for k, t in enumerate(times)]
    )
    registry = parse_registry(tomllib.loads(TOML))
    job = fuel_job(
        store, KpiDefinition(), RULES, TZ, clock=lambda: datetime.now(UTC), mark_lag=timedelta(0)
    )
    job.run_pass()
    core = FuelCore(store, TZ, RULES, KpiDefinition(), 0.5)

    def gas_m3() -> float:
        (fuels,), plan = core.firm_fuels(registry.plants, start, end)
        assert {s.source for s in plan} == {"daily"}  # from the rollups
        return float(fuels.gas_m3 or 0.0)

    def alerts() -> list[tuple[str, str, str, float | None]]:
        found = rules.revised_readings(
            observe.pending_revisions(store, datetime.now(UTC), LOOKBACK)
        )
        return [(c.key.kind, c.key.plant, c.key.meter, c.value) for c in found]

    client = make_client(TOML)
    client.app.state.store = store  # type: ignore[attr-defined]  # the API on this engine
    recorded = 1000.0 + 10 * 95
    assert gas_m3() == pytest.approx(950.0)
    assert latest_gas(client) == recorded
    assert alerts() == []

    # A restarted collector (nothing in its index) receives the last reading with another
    # value, by HTTP push, twice: one revision; the record and every figure stay.
    hostile = reading("gas", "gas-1", times[-1], recorded + FORGED, datetime.now(UTC))
    hostile = Point(
        hostile.measurement, hostile.tags, {**hostile.fields, "_source": "http"}, hostile.ts_ms
    )
    RecordKeeper(store).write([hostile])
    RecordKeeper(store).write([hostile])
    job.run_pass()
    assert gas_m3() == pytest.approx(950.0)
    assert latest_gas(client) == recorded
    assert alerts() == [(READING_REVISED, PLANT, "gas-1", 1.0)]
    listed = client.get(f"/api/v1/plants/{PLANT}/revisions", headers=ADMIN).json()["revisions"]
    assert [
        (r["meter"], r["number"], r["value"], r["record_value"], r["source"], r["status"])
        for r in listed
    ] == [("gas-1", 1, recorded + FORGED, recorded, "http", "pending")]

    # An officer accepts it: the next rollup pass re-rolls its hour (the acceptance's dirty
    # mark), and the KPI, the plant page and the alert follow.
    officer = client.post(
        "/api/v1/keys", json={"name": "officer-1", "role": "officer"}, headers=ADMIN
    ).json()["key"]
    resp = client.post(
        f"/api/v1/revisions/{listed[0]['id']}/accept",
        json={"comment": "meter exchanged"},
        headers={"Authorization": f"Bearer {officer}"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "accepted"
    report = job.run_pass()["fuel"]
    assert report.marks >= 1
    assert gas_m3() == pytest.approx(950.0 + FORGED)
    assert latest_gas(client) == recorded + FORGED
    assert alerts() == []
    # A resend of the first value now is a revision against the accepted one, not the record.
    RecordKeeper(store).write([reading("gas", "gas-1", times[-1], recorded, datetime.now(UTC))])
    job.run_pass()
    assert gas_m3() == pytest.approx(950.0 + FORGED)
    listed = client.get(f"/api/v1/plants/{PLANT}/revisions", headers=ADMIN).json()["revisions"]
    assert sorted((r["number"], r["value"], r["record_value"], r["status"]) for r in listed) == [
        (1, recorded + FORGED, recorded, "accepted"),
        (2, recorded, recorded + FORGED, "pending"),
    ]
