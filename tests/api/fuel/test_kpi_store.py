"""The gas-share KPI against a real InfluxDB, with hand-computed expectations per firm.

Each case runs twice: from raw registers (nothing rolled up) and after the real rollup job
(the KPI then reads daily/hourly rollups plus raw edges): both must give the same rows.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import rollup_job
from api.fuel import queries
from api.fuel.rules import COAL_REMOVED, ConversionFact, GasShare
from api.fuel.service import FuelCore
from api.readmodel.state import Watermarks, write_watermarks
from api.settings import ApiSettings
from ingest.kernel.registry import Registry, parse_registry
from ingest.kernel.store import InfluxStore
from tests.api.fuel.support import (
    AT,
    EXPECTED,
    FLAT,
    HOUR,
    MISSING_METER,
    START,
    kpi_registry,
    ramp,
    write_county,
)
from tests.api.support import ADMIN
from tests.builders import FUEL_METERS, register_lines, registry_toml

pytestmark = pytest.mark.integration


def kpi_of(store: InfluxStore, registry: Registry, rolled: bool, at: datetime = AT) -> GasShare:
    settings = ApiSettings(influx_db=store.database)
    if rolled:
        rollup_job(settings, store).roll(START - 2 * HOUR, AT + 2 * HOUR)
        write_watermarks(store, "fuel", Watermarks(AT + 2 * HOUR, AT + 2 * HOUR))
    core = FuelCore.from_settings(settings, store, registry)
    kpi = core.kpi(registry.by_sector("stainless_steel"), at, timedelta(days=1))
    if rolled:
        assert {s.source for s in kpi.sources} >= {"hourly"}, kpi.sources
    return kpi.share


@pytest.mark.parametrize("rolled", [False, True], ids=["raw", "rollups"])
def test_every_status_from_real_influxdb(store: InfluxStore, rolled: bool) -> None:
    write_county(store)
    registry = parse_registry(tomllib.loads(kpi_registry()))
    result = kpi_of(store, registry, rolled)
    rows = {r.plant: r for r in result.rows}
    assert set(rows) == set(EXPECTED)
    for plant, (status, gas_m3, coal_kg) in EXPECTED.items():
        row = rows[plant]
        assert row.status == status, (plant, row)
        assert row.gas_m3 == pytest.approx(gas_m3), plant
        assert row.coal_kg == pytest.approx(coal_kg), plant
    assert rows["ss-edge"].gas_fraction == pytest.approx(0.9)
    assert rows["ss-mixed"].gas_fraction == pytest.approx(279.289 / (279.289 + 164.289))
    assert rows["ss-silent"].reason == "gas meter silent for 100% of the window"
    assert rows[MISSING_METER].reason == "gas or coal meter missing from the registry"
    assert rows["ss-coal"].co2_kg == pytest.approx(2300 * 1.9003)
    # gas: ss-gas, ss-edge, ss-reset, ss-jump; idle excluded -> 8 active firms
    assert result.counts == {"gas": 4, "mixed": 1, "coal": 1, "idle": 1, "unknown": 2}
    assert result.share == pytest.approx(4 / 8)
    assert result.share_upper == pytest.approx(6 / 8)
    assert result.firms_needed == 1  # ceil(0.6 * 8) - 4
    assert result.meets_goal is False


@pytest.mark.parametrize("rolled", [False, True], ids=["raw", "rollups"])
def test_partly_silent_meter_is_unknown_below_80_percent(store: InfluxStore, rolled: bool) -> None:
    # 19 of 24 hours reported = 79 % -> unknown; 20 of 24 = 83 % -> known
    lines = register_lines("gas", "ss-a", "gas-1", START, HOUR, ramp(10)[:19])
    lines += register_lines("coal", "ss-a", "coal-1", START, HOUR, FLAT)
    lines += register_lines("gas", "ss-b", "gas-1", START, HOUR, ramp(10)[:20])
    lines += register_lines("coal", "ss-b", "coal-1", START, HOUR, FLAT)
    store.write_lines(lines)
    toml = registry_toml({p: ("stainless_steel", FUEL_METERS) for p in ("ss-a", "ss-b")})
    registry = parse_registry(tomllib.loads(toml))
    result = kpi_of(store, registry, rolled)
    assert [r.status for r in result.rows] == ["unknown", "gas"]
    assert result.rows[0].reason == "gas meter silent for 21% of the window"


def test_gas_share_over_http_json_and_csv(
    store: InfluxStore, make_client: Callable[..., TestClient]
) -> None:
    write_county(store)
    client = make_client(kpi_registry())
    params = {"at": "2026-03-31T08:00:00+08:00", "window_days": 1}
    resp = client.get("/api/v1/kpi/gas-share", params=params, headers=ADMIN)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["window_start"] == "2026-03-30T00:00:00+00:00"
    assert body["counts"] == {"gas": 4, "mixed": 1, "coal": 1, "idle": 1, "unknown": 2}
    assert body["firms_needed"] == 1
    assert body["definition"]["goal"] == 0.6
    # Freshness: the last reading inside the window (the one at `at` is outside it).
    assert body["data_through"] == "2026-03-30T23:00:00+00:00"
    assert body["firm_data_through"]["ss-gas"] == "2026-03-30T23:00:00+00:00"
    assert body["firm_data_through"]["ss-silent"] is None  # its gas meter never reported
    assert {r["plant"]: r["status"] for r in body["rows"]} == {
        p: s for p, (s, _, _) in EXPECTED.items()
    }

    resp = client.get("/api/v1/kpi/gas-share", params={**params, "format": "csv"}, headers=ADMIN)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert resp.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
    by_plant = {r["plant"]: r for r in rows}
    assert by_plant["ss-coal"]["name"] == "ss-coal 不锈钢有限公司"
    assert by_plant["ss-coal"]["coal_kg"] == "2300.0"
    assert by_plant["ss-idle"]["gas_fraction"] == ""
    assert len(rows) == len(EXPECTED)


def test_recorded_coal_removal_judges_a_firm_without_coal_meter_on_gas(store: InfluxStore) -> None:
    write_county(store)
    registry = parse_registry(tomllib.loads(kpi_registry()))
    settings = ApiSettings(influx_db=store.database)
    firms = registry.by_sector("stainless_steel")
    removed = ConversionFact(MISSING_METER, COAL_REMOVED, START - timedelta(days=3))
    inside = ConversionFact(MISSING_METER, COAL_REMOVED, START + HOUR)  # not before the window
    for facts, status in (((), "unknown"), ((inside,), "unknown"), ((removed,), "gas")):
        core = FuelCore.from_settings(settings, store, registry, facts)
        rows = {r.plant: r for r in core.kpi(firms, AT, timedelta(days=1)).share.rows}
        assert rows[MISSING_METER].status == status, facts


def test_a_county_too_big_for_a_plant_filter_reads_all_and_keeps_its_firms(
    store: InfluxStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past PLANT_FILTER_MAX firms the queries read every plant; `ss-ghost` must stay out."""
    write_county(store)
    registry = parse_registry(tomllib.loads(kpi_registry()))
    expected = kpi_of(store, registry, rolled=True)
    monkeypatch.setattr(queries, "PLANT_FILTER_MAX", 0)
    assert kpi_of(store, registry, rolled=True) == expected
    settings = ApiSettings(influx_db=store.database)
    core = FuelCore.from_settings(settings, store, registry)
    kpi = core.kpi(registry.by_sector("stainless_steel"), AT, timedelta(days=1))
    assert "ss-ghost" not in kpi.firm_data_through


def test_data_through_finds_meters_silent_for_more_than_a_day(store: InfluxStore) -> None:
    write_county(store)
    registry = parse_registry(tomllib.loads(kpi_registry()))
    core = FuelCore.from_settings(ApiSettings(influx_db=store.database), store, registry)
    kpi = core.kpi(registry.by_sector("stainless_steel"), AT + 2 * 24 * HOUR, timedelta(days=3))
    assert kpi.data_through == AT  # ss-gas's reading at AT, two days before the window's end
    assert kpi.firm_data_through["ss-gas"] == AT - HOUR  # its coal meter stopped an hour earlier
    assert kpi.firm_data_through["ss-coal"] == AT - HOUR
    assert kpi.firm_data_through["ss-silent"] is None
