"""The KPI from rollups equals the raw computation exactly, also after a late backfill.

Registers with resets, implausible jumps, gaps, a silence over 24 h and jittered times are
written as the collector writes them (with dirty marks); the real rollup job catches up;
then one firm uploads three days late and the job runs once more. For every firm and
window (aligned local days, unaligned edges, single hours) the KPI's gas m³, coal kg and
coverage equal the pure rule (`api.fuel.rules.interval_sums`) over the raw arrays, and
daily and hourly usage add up to the same.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from api.fuel.rollup import fuel_job
from api.fuel.rules import StepRules, hours_in, interval_sums
from api.fuel.service import FuelCore
from api.settings import KpiDefinition
from bench.fuel_faults import DAY_MS, Register, faulty_register
from ingest.kernel.dirty import write_readings
from ingest.kernel.registry import Registry, parse_registry
from ingest.kernel.store import Store
from tests.builders import FUEL_METERS, registry_toml

pytestmark = pytest.mark.integration

TZ = "Asia/Shanghai"
START = datetime(2026, 2, 27, 16, tzinfo=UTC)  # local midnight, 28 February
DAYS = 12
END = START + timedelta(days=DAYS)
NOW = END + timedelta(hours=2)
RULES = StepRules({"gas": 20_000.0, "coal": 50_000.0}, timedelta(hours=24))
PLANTS = ("ss-001", "ss-002", "ss-003")
LATE_PLANT = "ss-002"
LATE_FROM_DAY = 5
MS = timedelta(milliseconds=1)


def to_ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def county() -> list[Register]:
    rng = np.random.default_rng(11)
    out = []
    for plant in PLANTS:
        late = LATE_FROM_DAY if plant == LATE_PLANT else None
        for kind, rate in (("gas", 600.0), ("coal", 400.0)):
            out.append(
                faulty_register(rng, kind, plant, to_ms(START), DAYS, rate, late_from_day=late)
            )
    return out


def expected(
    registers: list[Register], start: datetime, end: datetime
) -> dict[tuple[str, str], tuple[float, float]]:
    """(plant, kind) -> (consumption, coverage) by the pure rule over the raw arrays."""
    out = {}
    for r in registers:
        limit = RULES.max_per_hour[r.kind]
        s = interval_sums(r.ts_ms, r.values, to_ms(start), to_ms(end), limit, DAY_MS)
        out[(r.plant, r.kind)] = (s.consumption, min(1.0, s.hours / hours_in(start, end)))
    return out


def observed(
    core: FuelCore, registry: Registry, start: datetime, end: datetime
) -> tuple[dict[tuple[str, str], tuple[float, float]], set[str]]:
    fuels, plan = core.firm_fuels(registry.plants, start, end)
    out = {}
    for f in fuels:
        out[(f.plant, "gas")] = (f.gas_m3 or 0.0, f.gas_coverage)
        out[(f.plant, "coal")] = (f.coal_kg or 0.0, f.coal_coverage)
    return out, {s.source for s in plan}


WINDOWS = [
    (START, END),  # whole local days: daily rollups
    (
        START + timedelta(days=2, hours=3, minutes=17),
        START + timedelta(days=9, hours=5, minutes=41),
    ),
    (START + timedelta(days=LATE_FROM_DAY - 1), START + timedelta(days=LATE_FROM_DAY + 4)),
    (START + timedelta(days=6, hours=7), START + timedelta(days=6, hours=8)),  # one hour
    (START + timedelta(days=6, hours=7, minutes=5), START + timedelta(days=6, hours=7, minutes=50)),
    (START - timedelta(days=1), NOW),  # beyond the data at both ends
]


def assert_exact(core: FuelCore, registry: Registry, registers: list[Register]) -> None:
    for start, end in WINDOWS:
        got, _ = observed(core, registry, start, end)
        want = expected(registers, start, end)
        for key, (used, covered) in want.items():
            assert got[key][0] == pytest.approx(used, rel=1e-12, abs=1e-6), (key, start, end)
            assert got[key][1] == pytest.approx(covered, abs=1e-12), (key, start, end)


def test_kpi_from_rollups_equals_the_raw_rule_through_a_late_backfill(engine: Store) -> None:
    store = engine
    registers = county()
    registry = parse_registry(
        tomllib.loads(registry_toml({p: ("stainless_steel", FUEL_METERS) for p in PLANTS}))
    )
    for r in registers:
        write_readings(store, r.lines(~r.late))
    # No safety lag: this test writes nothing concurrently with a pass, and the second pass
    # must then re-roll only what the late upload touched.
    job = fuel_job(store, KpiDefinition(), RULES, TZ, clock=lambda: NOW, mark_lag=timedelta(0))
    job.run_pass()
    core = FuelCore(store, TZ, RULES, KpiDefinition(), 0.5)
    on_time = [
        Register(r.kind, r.plant, r.meter, r.ts_ms[~r.late], r.values[~r.late], r.late[~r.late])
        for r in registers
    ]
    assert_exact(core, registry, on_time)
    _, sources = observed(core, registry, START, END)
    assert sources == {"daily"}, sources
    before, _ = observed(core, registry, START, END)

    # Three days of one plant arrive late; the next pass re-rolls exactly what they touch.
    for r in registers:
        if r.late.any():
            write_readings(store, r.lines(r.late))
    report = job.run_pass()["fuel"]
    assert report.marks >= 2  # a run of hours per meter of the late plant (more if gappy)
    late_ms = np.concatenate([r.ts_ms[r.late] for r in registers])
    late_hours = {int(t) // 3_600_000 for t in late_ms}
    assert report.oldest_hour == START + timedelta(
        hours=min(late_hours) - to_ms(START) // 3_600_000
    )
    # exactly the hours it touched, and the hour of the reading after each run of them
    assert len(late_hours) <= report.hours <= len(late_hours) + report.marks
    assert_exact(core, registry, registers)
    after, _ = observed(core, registry, START, END)
    assert after[(LATE_PLANT, "gas")] != before[(LATE_PLANT, "gas")]
    assert after[("ss-001", "gas")] == before[("ss-001", "gas")]

    # Daily and hourly usage of each firm add up to its KPI figure for the same range.
    plants = {p.id: p for p in registry.plants}
    for plant in PLANTS:
        for every in (timedelta(days=1), timedelta(hours=1)):
            offset = timedelta(hours=16) if every == timedelta(days=1) else timedelta(0)
            usage = core.usage([plants[plant]], START, END, every, offset, START)
            gas = sum(i.gas_m3 for i in usage.intervals)
            coal = sum(i.coal_kg for i in usage.intervals)
            assert gas == pytest.approx(after[(plant, "gas")][0], rel=1e-12), (plant, every)
            assert coal == pytest.approx(after[(plant, "coal")][0], rel=1e-12), (plant, every)
