"""A moving window answered from kept blocks (rollup rows, raw edge blocks) equals the pure rule
over the raw readings, before and after a late reading lands in hours the blocks hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from api.fuel.queries import RAW_BLOCK, query_sums
from api.fuel.rollup import fuel_job
from api.fuel.rules import StepRules, interval_sums
from api.ranges import plan_segments
from api.readmodel.cache import RollupCache
from api.readmodel.state import read_watermarks
from api.settings import KpiDefinition
from ingest.kernel.dirty import write_readings
from ingest.kernel.store import InfluxStore

pytestmark = pytest.mark.integration

RULES = StepRules({"gas": 20_000.0, "coal": 50_000.0}, timedelta(hours=24))
TZ = "Asia/Shanghai"
START = datetime(2026, 3, 1, 16, tzinfo=UTC)  # local midnight, 2 March
STEP = timedelta(minutes=15)
DAYS = 8
PLANTS = ("p1", "p2")


def ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def readings(seed: int) -> dict[str, tuple[list[int], list[float]]]:
    """Per plant: 15-minute gas registers, with a reset on day 3 for p2."""
    rng = np.random.default_rng(seed)
    out = {}
    for plant in PLANTS:
        times = [ms(START + i * STEP) for i in range(DAYS * 96)]
        values = np.cumsum(rng.uniform(5.0, 50.0, len(times)))
        if plant == "p2":
            values[3 * 96 :] -= values[3 * 96] - 1.0  # the meter replaced
        out[plant] = (times, [float(v) for v in values])
    return out


def lines(data: dict[str, tuple[list[int], list[float]]]) -> list[str]:
    return [
        f"gas,meter=gas-1,plant={plant} volume_m3={v!r} {t}"
        for plant, (times, values) in data.items()
        for t, v in zip(times, values, strict=True)
    ]


def test_a_moving_window_from_kept_blocks_equals_the_rule_after_a_late_reading(
    store: InfluxStore,
) -> None:
    data = readings(3)
    store.write_lines(lines(data))
    end_of_data = START + DAYS * timedelta(days=1)
    job = fuel_job(store, KpiDefinition(), RULES, TZ, clock=lambda: end_of_data)
    job.run_pass()
    cache = RollupCache()  # the app's

    def check(at: datetime) -> None:
        """KPI-like totals over [at - 3 days, at) from the blocks, against the rule."""
        marks = read_watermarks(store, "fuel")
        start = at - timedelta(days=3)
        plan = plan_segments(start, at, ZoneInfo(TZ), marks.hourly, marks.daily)
        assert {s.source for s in plan} == {"raw", "hourly", "daily"}
        (got,) = query_sums(
            store, [plan], RULES, list(PLANTS), True, None, timedelta(0),
            marks.generation, marks.hourly, cache=cache,
        )  # fmt: skip
        for plant, (times, values) in data.items():
            want = interval_sums(
                times,
                values,
                ms(start),
                ms(at),
                20_000.0,
                RULES.max_gap // timedelta(milliseconds=1),
            )
            sums = got[("gas", plant, "gas-1", 0)]
            assert sums.consumption == pytest.approx(want.consumption, abs=1e-6)
            assert (sums.readings, sums.hours, sums.resets) == (
                want.readings, want.hours, want.resets,
            )  # fmt: skip

    at = START + timedelta(days=6, minutes=30)
    for hour in range(int(RAW_BLOCK / timedelta(hours=1)) + 2):  # across a raw block's end
        check(at - hour * timedelta(hours=1))
    # A late reading inside hours every block above holds (a day of the daily rows, the
    # hourly rows and a raw block): once a rollup pass has re-rolled it, no answer is stale.
    for plant in PLANTS:
        times, values = data[plant]
        late = ms(START + timedelta(days=4, hours=5, minutes=7))
        index = int(np.searchsorted(times, late))
        times.insert(index, late)
        values.insert(index, values[index - 1] + 1000.0)  # a jump, then the old next step
        write_readings(store, [f"gas,meter=gas-1,plant={plant} volume_m3={values[index]!r} {late}"])
    job.run_pass()
    for hour in range(int(RAW_BLOCK / timedelta(hours=1)) + 2):
        check(at - hour * timedelta(hours=1))
    at = START + timedelta(days=4, hours=7, minutes=30)  # the window ends inside that raw block
    check(at)
