"""The daily KPI points Grafana reads are the core's KPI, written after each rollup pass."""

from __future__ import annotations

import tomllib
from datetime import timedelta

import pytest

from api.fuel.points import FIRM_MEASUREMENT, KPI_MEASUREMENT, STATUS_CODES, KpiPoints
from api.fuel.rollup import fuel_job
from api.fuel.rules import StepRules
from api.fuel.service import FuelCore
from api.settings import KpiDefinition
from ingest.kernel.registry import parse_registry
from ingest.kernel.store import InfluxStore
from tests.api.fuel.support import AT, kpi_registry, write_county

pytestmark = pytest.mark.integration

RULES = StepRules({"gas": 20_000.0, "coal": 50_000.0}, timedelta(hours=24))
NOW = AT + timedelta(hours=2)  # 10:00 local, 31 March
WINDOW = timedelta(days=1)


def test_rollup_pass_writes_the_exact_kpi_per_local_day(store: InfluxStore) -> None:
    write_county(store)
    registry = parse_registry(tomllib.loads(kpi_registry()))
    plants = registry.by_sector("stainless_steel")
    core = FuelCore(store, "Asia/Shanghai", RULES, KpiDefinition(), registry.gas_share_goal)
    points = KpiPoints(core, plants, WINDOW, clock=lambda: NOW)
    job = fuel_job(
        store, KpiDefinition(), RULES, "Asia/Shanghai", clock=lambda: NOW, after_pass=points
    )
    job.run_pass()

    (series,) = store.query(f'SELECT * FROM "{KPI_MEASUREMENT}"')
    rows = series.rows()
    today = rows[-1]
    # today's point: local midnight of 31 March, the KPI over the day to the pass
    assert today["time"] == int((AT - timedelta(hours=8)).timestamp() * 1000)
    assert today["at_ms"] == int(NOW.timestamp() * 1000)
    kpi = core.kpi(plants, NOW, WINDOW).share
    assert {s: today[s] for s in kpi.counts} == kpi.counts
    assert today["share"] == pytest.approx(kpi.share)
    assert today["firms_needed"] == kpi.firms_needed
    assert today["goal"] == 0.6
    # yesterday's point: the window ending at local midnight
    yesterday = rows[-2]
    full_day = core.kpi(plants, AT - timedelta(hours=8), WINDOW).share
    assert {s: yesterday[s] for s in full_day.counts} == full_day.counts

    firms = store.query(
        f'SELECT last("status"), last("status_code") FROM "{FIRM_MEASUREMENT}" GROUP BY "plant"'
    )
    by_plant = {s.tags["plant"]: (s.values[0][1], s.values[0][2]) for s in firms}
    assert by_plant == {r.plant: (r.status, STATUS_CODES[r.status]) for r in kpi.rows}
