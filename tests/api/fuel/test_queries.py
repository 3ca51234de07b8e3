"""The fuel queries' shortcuts give the answers of the full searches they replace.

An edge's predecessor and a meter's latest reading are first looked for close by
(`EDGE_NEAR`, `RECENT_TIERS`); a reading further back must still be found.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.fuel.queries import EDGE_NEAR, RECENT_TIERS, RecentReads, last_readings, query_sums
from api.fuel.rules import StepRules, interval_sums
from api.ranges import EPOCH, Segment
from api.readmodel.cache import RollupCache
from ingest.kernel.store import InfluxStore

pytestmark = pytest.mark.integration

RULES = StepRules({"gas": 20_000.0, "coal": 50_000.0}, timedelta(hours=24))
EDGE = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def ms(ts: datetime) -> int:
    return (ts - EPOCH) // timedelta(milliseconds=1)


def line(plant: str, meter: str, ts: datetime, value: float) -> str:
    return f"gas,meter={meter},plant={plant} volume_m3={value} {ms(ts)}"


@pytest.mark.parametrize("before", [10 * MINUTE, EDGE_NEAR + 3 * HOUR, 25 * HOUR])
def test_an_edge_counts_the_step_from_a_reading_before_it(
    store: InfluxStore, before: timedelta
) -> None:
    """The step into the edge counts if its predecessor lies within 24 h, however far back."""
    times = [EDGE - before, EDGE + 10 * MINUTE, EDGE + 20 * MINUTE]
    values = [100.0, 130.0, 150.0]
    store.write_lines([line("p1", "gas-1", t, v) for t, v in zip(times, values, strict=True)])
    end = EDGE + HOUR
    (sums,) = query_sums(store, [[Segment("raw", EDGE, end)]], RULES, ["p1"], True)
    want = interval_sums(
        [ms(t) for t in times], values, ms(EDGE), ms(end), 20_000.0, ms(EPOCH + 24 * HOUR)
    )
    assert sums[("gas", "p1", "gas-1", 0)].consumption == want.consumption
    assert want.consumption == (50.0 if before < 24 * HOUR else 20.0)


def test_latest_readings_are_found_in_every_tier(store: InfluxStore) -> None:
    end = datetime(2026, 3, 5, tzinfo=UTC)
    ages = {"m-now": 5 * MINUTE, "m-day": RECENT_TIERS[0] + HOUR, "m-old": RECENT_TIERS[-1] + HOUR}
    store.write_lines([line("p1", m, end - age, 1.0) for m, age in ages.items()])
    store.write_lines([line("p2", "m-far", end - 40 * HOUR, 1.0)])
    want = {("gas", "p1", m): end - age for m, age in ages.items()}
    want[("gas", "p2", "m-far")] = end - 40 * HOUR
    meters = list(want)
    assert last_readings(store, ["p1", "p2"], end, timedelta(days=3), meters) == want
    assert last_readings(store, ["p1", "p2"], end, timedelta(days=3)) == want
    assert last_readings(store, ["p1", "p2"], end, timedelta(hours=30), meters) == {
        k: v for k, v in want.items() if k[1] == "p1"
    }


def test_an_edge_in_a_rolled_up_hour_is_read_whole_and_kept_until_the_rollups_change(
    store: InfluxStore,
) -> None:
    hour = datetime(2026, 3, 2, 10, tzinfo=UTC)
    times = [hour - 10 * MINUTE, *(hour + m * MINUTE for m in (10, 20, 40, 50))]
    values = [100.0, 110.0, 125.0, 140.0, 150.0]
    store.write_lines([line("p1", "gas-1", t, v) for t, v in zip(times, values, strict=True)])

    cache = RollupCache()  # the app's

    def gas(start: datetime, generation: datetime, settled: datetime | None) -> float:
        plan = [Segment("raw", start, hour + HOUR)]
        (sums,) = query_sums(
            store, [plan], RULES, ["p1"], True, None, HOUR * 0, generation, settled, cache=cache
        )
        return sums[("gas", "p1", "gas-1", 0)].consumption

    first, settled = datetime(2026, 3, 3, tzinfo=UTC), hour + 2 * HOUR
    assert gas(hour + 15 * MINUTE, first, settled) == 40.0  # the steps at :20, :40, :50
    assert gas(hour + 30 * MINUTE, first, settled) == 25.0  # the same hour's read, cut at :30
    # A reading written without a rollup pass: rolled-up hours keep their answer...
    store.write_lines([line("p1", "gas-1", hour + 55 * MINUTE, 160.0)])
    assert gas(hour + 15 * MINUTE, first, settled) == 40.0
    # ...until the rollups change (a pass re-rolled the hour), or past the watermark.
    assert gas(hour + 15 * MINUTE, first + MINUTE, settled) == 50.0
    assert gas(hour + 15 * MINUTE, first, None) == 50.0


@pytest.mark.parametrize("tail_start", [EDGE, EDGE - 20 * MINUTE])
def test_the_window_edge_gives_the_latest_readings_the_full_search_finds(
    store: InfluxStore, tail_start: datetime
) -> None:
    """The KPI's freshness from its raw tail edge (one scan) equals the tiered search."""
    end = EDGE + 40 * MINUTE
    ages = {
        "m-in-edge": 5 * MINUTE,  # a reading inside the edge
        "m-near": 50 * MINUTE,  # only in the stretch searched for the edge's predecessor
        "m-day": 5 * HOUR,  # beyond both: found by the next tier
        "m-old": 30 * HOUR,
    }
    store.write_lines(
        [line("p1", m, end - age, float(i)) for i, (m, age) in enumerate(ages.items())]
    )
    store.write_lines([line("p1", "m-in-edge", end + MINUTE, 9.0)])  # after the window: not latest
    store.write_lines([line("p2", "m-other", end - 10 * MINUTE, 1.0)])  # a plant not asked for
    meters = [("gas", "p1", m) for m in [*ages, "m-silent"]]
    want = {("gas", "p1", m): end - age for m, age in ages.items()}
    recent = RecentReads(end)
    query_sums(store, [[Segment("raw", tail_start, end)]], RULES, ["p1"], True, recent=recent)
    assert recent.since == tail_start - EDGE_NEAR
    assert recent.latest == {k: v for k, v in want.items() if v >= recent.since}
    lookback = timedelta(days=3)
    assert last_readings(store, ["p1"], end, lookback, meters, recent) == want
    assert last_readings(store, ["p1"], end, lookback, meters) == want
    assert last_readings(store, ["p1"], end, lookback, (), recent) == want


def test_no_edge_at_the_end_leaves_the_latest_readings_to_the_search(store: InfluxStore) -> None:
    end = EDGE + HOUR
    store.write_lines([line("p1", "gas-1", end - 10 * MINUTE, 1.0)])
    recent = RecentReads(end + MINUTE)  # the plan ends before `until`: nothing is known
    query_sums(store, [[Segment("raw", EDGE, end)]], RULES, ["p1"], True, recent=recent)
    assert recent.since is None and recent.latest == {}
    assert last_readings(store, ["p1"], end, timedelta(days=1), [], recent) == {
        ("gas", "p1", "gas-1"): end - 10 * MINUTE
    }


def test_the_tail_edge_reads_its_readings_afresh_and_keeps_the_search_before_it(
    store: InfluxStore,
) -> None:
    """After the watermark an edge's readings are read on every request; the reading before
    it lies in rolled-up hours and is kept until a rollup pass changes them."""
    hour = datetime(2026, 3, 2, 10, tzinfo=UTC)
    store.write_lines([line("p1", "gas-1", hour - 10 * MINUTE, 100.0)])
    store.write_lines([line("p1", "gas-1", hour + 10 * MINUTE, 110.0)])

    cache = RollupCache()  # the app's

    def gas(generation: datetime) -> float:
        plan = [Segment("raw", hour, hour + 30 * MINUTE)]
        (sums,) = query_sums(
            store, [plan], RULES, ["p1"], True, None, HOUR * 0, generation, hour, cache=cache
        )
        return sums[("gas", "p1", "gas-1", 0)].consumption

    first = datetime(2026, 3, 3, 1, tzinfo=UTC)
    assert gas(first) == 10.0
    store.write_lines([line("p1", "gas-1", hour + 20 * MINUTE, 120.0)])  # live: seen at once
    assert gas(first) == 20.0
    store.write_lines([line("p1", "gas-1", hour - 5 * MINUTE, 105.0)])  # late, in a rolled hour
    assert gas(first) == 20.0  # until a rollup pass re-rolls that hour
    assert gas(first + MINUTE) == 15.0
