"""The simulated county's lines: the night-time RTO firm is out of sync, nobody else (SPEC 13).

The demo's meters over a simulated day, noon to noon, (with the live run's reporting interval and the
default random faults), 15-minute means as InfluxDB takes them, through the pure rule.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np

from api.power.rules import BUCKET_MS, MeterPower, bucket_grid, line_buckets, periods
from api.power.service import lines_of
from ingest.kernel.registry import load_registry
from ingest.kernel.schema import parse_payload
from ingest.kernel.topics import Topics
from ingest.settings import demo_registry_path
from simulators.engine import County, EngineConfig
from simulators.plans import RTO_NIGHT_OFF, county_plan

REGISTRY = load_registry(demo_registry_path())
# Monday 7 December 2026, 12:00 in Songyang, for a day: every shift change and one night.
START = datetime(2026, 12, 7, 4, tzinfo=UTC)
END = START + timedelta(days=1)
LOCAL = timedelta(hours=8)


def _power_readings() -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    plan = county_plan(REGISTRY, 2026, "on_track", 2026)
    plan = type(plan)((), (), plan.electricity)  # power meters only
    # registers start the day before (advancing them from January would dominate the time)
    county = County(plan, Topics(), EngineConfig(seed=2026, fuel_interval_s=60), date(2026, 12, 6))
    found: dict[tuple[str, str], list[tuple[int, float]]] = {}
    t = START.timestamp()
    while t < END.timestamp():
        for message in county.step(t, t + 3600):
            meter = message.topic.split("/")[4]
            for reading in parse_payload(message.payload):
                if "power_kw" in reading.values:
                    found.setdefault((message.plant, meter), []).append(
                        (reading.ts_ms, reading.values["power_kw"])
                    )
        t += 3600
    return {
        k: (np.array([ts for ts, _ in v], dtype=np.int64), np.array([p for _, p in v]))
        for k, v in found.items()
    }


def _means(samples: tuple[np.ndarray, np.ndarray] | None, grid: np.ndarray) -> np.ndarray:
    """`mean(power_kw) GROUP BY time(15m)`, as the store answers it."""
    out = np.full(grid.size, np.nan)
    if samples is None:
        return out
    ts, kw = samples
    index = (ts - grid[0]) // BUCKET_MS
    inside = (index >= 0) & (index < grid.size)
    sums = np.bincount(index[inside], weights=kw[inside], minlength=grid.size)
    counts = np.bincount(index[inside], minlength=grid.size)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def test_only_the_night_time_rto_firm_is_out_of_sync() -> None:
    readings = _power_readings()
    lines = lines_of(REGISTRY.plants)
    assert len(lines) > 40  # every leather firm and every pickling stainless-steel firm
    assert {line.plant[:2] for line in lines} == {"sl", "ss"}
    grid = bucket_grid(int(START.timestamp() * 1000), int(END.timestamp() * 1000))
    out_of_sync = {}
    for line in lines:
        meters = [
            MeterPower(
                m.id, m.facility or "", _means(readings.get((line.plant, m.id)), grid), m.rated_kw
            )
            for m in line.meters
        ]
        found = periods(grid, line_buckets(line.plant, line.line, grid, meters).out_of_sync)
        if found:
            out_of_sync[(line.plant, line.line)] = found
    assert list(out_of_sync) == [(plant, "line-1") for plant in RTO_NIGHT_OFF]
    (nights,) = out_of_sync.values()
    local = [
        (
            (datetime.fromtimestamp(p.start_ms / 1000, UTC) + LOCAL).strftime("%d %H:%M"),
            (datetime.fromtimestamp(p.end_ms / 1000, UTC) + LOCAL).strftime("%d %H:%M"),
        )
        for p in nights
    ]
    assert local == [("07 22:00", "08 05:00")]


def _judged(plant_id: str, limits: dict[str, object] | None = None) -> dict[str, tuple[int, int]]:
    """A simulated day of the plant's stack-1: (valid hours, exceeding hours) per pollutant."""
    from api.voc.rules import HOUR_MS, flag_classes, judge_stack, stack_aggregates
    from simulators.calendar import day_number, day_start_s
    from simulators.plans import stack_plan
    from simulators.seeding import rng_for
    from simulators.voc import voc_block

    plant = REGISTRY.plant(plant_id)
    assert plant is not None
    meter = plant.meter("stack-1")
    assert meter is not None
    plan = stack_plan(plant, "stack-1", 2026)
    start = day_start_s(day_number(date(2026, 12, 8)))  # a Tuesday
    times = start + 60 * np.arange(1, 1441, dtype=np.int64)
    block = voc_block(plan, times, 10.0, rng_for(2026, plant_id, "limits-day"))
    ts = times * 1000
    data = {
        name: (ts, np.asarray(values, dtype=float), flag_classes(list(block.flags[name])))
        for name, values in block.values.items()
    }
    first = int(start * 1000) - int(start * 1000) % HOUR_MS
    hours = first + HOUR_MS * np.arange(25, dtype=np.int64)
    resolved = meter.limits() if limits is None else limits
    aggs = stack_aggregates({}, data, list(resolved), first, 25)
    stack = judge_stack(plant_id, "stack-1", aggs, hours, resolved, first + 26 * HOUR_MS)  # type: ignore[arg-type]
    return {
        p.limit.pollutant: (p.counts()["valid"], p.counts()["exceeding"]) for p in stack.pollutants
    }


def test_the_new_limits_matter_for_the_demo_pvc_and_short_stacks() -> None:
    from ingest.kernel.limits import DEFAULT_PROCESS, resolve_limits

    flat = resolve_limits(DEFAULT_PROCESS)  # the one flat table applied before
    pvc = _judged("sl-002")
    valid, over = pvc["nmhc_mgm3"]
    assert valid >= 15 and over >= valid // 2, pvc  # VOCs (NMHC) over PVC's 150
    assert "dmf_mgm3" not in pvc and pvc["particulate_mgm3"][0] >= 15  # PVC: no DMF limit
    assert _judged("sl-002", flat)["nmhc_mgm3"][1] < over  # the flat 200 hid it
    short = _judged("sl-004")
    valid, over = short["dmf_mgm3"]
    assert valid >= 15 and over >= valid // 2, short  # DMF over the halved 25
    assert _judged("sl-004", flat)["dmf_mgm3"][1] < over  # 50 hid it
