"""End to end: a firm with a gas meter and only manual coal deliveries, a week apart.

The deliveries go through the records route, the API's publisher and a real collector into
InfluxDB as readings flagged S; the KPI, usage, monthly history and the monthly report count
all three (the step into a manual reading counts whatever the silence before it), before
and after the rollup job, and the firm's status follows the rule (coverage of the manual
meter judged by its records).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.fuel.rollup import fuel_job
from api.fuel.service import step_rules
from api.reports.data import gather
from api.settings import ApiSettings
from ingest.kernel.store import InfluxStore
from scripts.devstack import Server
from tests.api.records.support import AT, TOML, WINDOW_START, officer, status_of
from tests.api.support import ADMIN
from tests.builders import register_lines
from tests.support import Process, wait_until

pytestmark = pytest.mark.integration

FIRST = WINDOW_START + timedelta(days=1, hours=2)  # 2026-03-03 10:00 local
DELIVERIES_KG = (4000.0, 6000.0, 5000.0)
GAS_M3_PER_HOUR = 50.0


def answers(client: TestClient) -> tuple[dict, dict, dict]:
    kpi = client.get("/api/v1/kpi/gas-share", params={"at": AT.isoformat()}, headers=ADMIN)
    usage = client.get(
        "/api/v1/plants/ss-man/usage",
        params={"start": WINDOW_START.isoformat(), "end": AT.isoformat(), "every": "1d"},
        headers=ADMIN,
    )
    history = client.get("/api/v1/kpi/gas-share/history", params={"year": 2026}, headers=ADMIN)
    for resp in (kpi, usage, history):
        assert resp.status_code == 200, resp.text
    return kpi.json(), usage.json(), history.json()


def row_of(body: dict, plant: str = "ss-man") -> dict:
    return next(r for r in body["rows"] if r["plant"] == plant)


def test_manual_deliveries_a_week_apart_all_count(
    store: InfluxStore,
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., ApiSettings],
    mosquitto: Server,
    spawn: Callable[..., Process],
    tmp_path: Path,
) -> None:
    registry_file = tmp_path / "registry.toml"
    registry_file.write_text(TOML, encoding="utf-8")
    collector = spawn(
        ["ingest"],
        {
            "PLANTWATCH_REGISTRY": str(registry_file),
            "PLANTWATCH_MQTT_PORT": str(mosquitto.port),
            "PLANTWATCH_INFLUX_URL": store.url,
            "PLANTWATCH_INFLUX_DB": store.database,
            "PLANTWATCH_COLLECTOR_ID": f"manual-{store.database}",
            "PLANTWATCH_SHARE_GROUP": store.database,
            "PLANTWATCH_SPOOL_DIR": str(tmp_path / "spool"),
        },
        "collector",
    )
    assert wait_until(lambda: "mqtt connected" in collector.log(), 30), collector.log()
    hours = [GAS_M3_PER_HOUR * i for i in range(24 * 62)]
    store.write_lines(
        register_lines("gas", "ss-man", "gas-1", AT - timedelta(days=62), timedelta(hours=1), hours)
    )
    client = make_client(TOML, mqtt_port=mosquitto.port, alert_engine_enabled=False)
    kpi, _, _ = answers(client)
    assert status_of(kpi, "ss-man") == "unknown"  # no coal readings, no records

    key = officer(client)
    for week, kg in enumerate(DELIVERIES_KG):
        resp = client.post(
            "/api/v1/plants/ss-man/records",
            json={
                "kind": "coal_delivery",
                "meter": "coal-m",
                "mass_kg": kg,
                "effective_at": (FIRST + timedelta(days=7 * week)).isoformat(),
                "reason": "送货单",
            },
            headers=key,
        )
        assert resp.status_code == 201, resp.text

    def stored() -> int:
        series = store.query('SELECT count("mass_kg") FROM "coal"')
        return int(series[0].values[0][1]) if series else 0

    # the opening reading and the three deliveries (each publication re-sends them all)
    assert wait_until(lambda: stored() == 4, 60), collector.log()

    total_kg = sum(DELIVERIES_KG)
    window_gas_m3 = GAS_M3_PER_HOUR * 24 * 30
    settings = make_settings(TOML)
    gas_kgce = window_gas_m3 * settings.kpi.gas_kgce_per_m3
    fraction = gas_kgce / (gas_kgce + total_kg * settings.kpi.coal_kgce_per_kg)
    assert 0.1 < fraction < 0.9  # the rule says mixed

    def check(client: TestClient) -> None:
        kpi, usage, history = answers(client)
        row = row_of(kpi)
        assert row["coal_kg"] == pytest.approx(total_kg)
        assert row["gas_m3"] == pytest.approx(window_gas_m3)
        assert row["status"] == "mixed" and row["gas_fraction"] == pytest.approx(fraction)
        assert row["coal_coverage"] == pytest.approx((AT - FIRST) // timedelta(hours=1) / 720)
        assert "kept by hand" in kpi["records_used"]["ss-man"]
        assert usage["totals"]["coal_kg"] == pytest.approx(total_kg)
        daily = [r["coal_kg"] for r in usage["intervals"] if r["coal_kg"]]
        assert daily == pytest.approx(list(DELIVERIES_KG))
        # A short stretch around the second delivery: raw edges, its predecessor a week back.
        second = FIRST + timedelta(days=7)
        edge = client.get(
            "/api/v1/plants/ss-man/usage",
            params={
                "start": (second - timedelta(minutes=30)).isoformat(),
                "end": (second + timedelta(minutes=30)).isoformat(),
                "every": "1h",
            },
            headers=ADMIN,
        ).json()
        assert edge["totals"]["coal_kg"] == pytest.approx(DELIVERIES_KG[1])
        february, march = history["months"][1], history["months"][2]
        # February: the meter was not kept by hand yet, so nothing is known about its coal.
        assert february["counts"]["mixed"] == 0 and march["counts"]["mixed"] == 1
        assert "kept by hand" in march["records_used"]["ss-man"]
        app = client.app
        figures = gather(settings, app.state.registry, store, app.state.db, "2026-03", now=AT)  # type: ignore[attr-defined]
        month_row = next(r for r in figures.this_month.kpi.rows if r.plant == "ss-man")
        assert month_row.coal_kg == pytest.approx(total_kg) and month_row.status == "mixed"
        feb_row = next(r for r in figures.months[1].kpi.rows if r.plant == "ss-man")
        assert feb_row.status == "unknown" and feb_row.coal_kg == 0.0
        assert "kept by hand" in figures.records_used["ss-man"]

    check(client)  # from raw registers (no rollups yet): InfluxQL sums and the S correction
    job = fuel_job(
        store,
        settings.kpi,
        step_rules(settings),
        settings.timezone,
        clock=lambda: AT + timedelta(hours=3),
        mark_lag=timedelta(0),
    )
    job.run_pass()
    check(client)  # from the hourly and daily rollups
