"""Cached rollup answers are dropped exactly when a rollup pass changed the hours they cover."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from api.fuel.queries import query_sums
from api.fuel.rollup import fuel_job
from api.fuel.rules import StepRules
from api.ranges import Segment
from api.readmodel.cache import FLIGHT_WAIT_SECONDS, RollupCache
from api.readmodel.state import read_watermarks
from api.settings import KpiDefinition
from ingest.kernel.dirty import write_readings
from ingest.kernel.store import InfluxStore, Series

T = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SCOPE = ("http://influx", "db")


def rows(n: int) -> list[Series]:
    return [Series("s", {}, ("time", "v"), ((0, n),))]


def filled(cache: RollupCache, generation: datetime) -> None:
    cache.sync(SCOPE, generation, lambda seen: None)
    for text, reach in (("early", T + HOUR), ("late", T + DAY)):
        cache.put(SCOPE, generation, text, rows(1), reach)


@pytest.mark.parametrize(
    ("changed_from", "kept"),
    [
        (T + 2 * HOUR, {"early"}),  # a pass changed later hours: the early answer stays
        (T + HOUR, {"early"}),  # reach is exclusive
        (T, set()),
        (None, set()),  # no record of what changed: drop everything
    ],
)
def test_a_newer_generation_drops_the_answers_reaching_past_the_change(
    changed_from: datetime | None, kept: set[str]
) -> None:
    cache = RollupCache()
    filled(cache, T)
    asked: list[datetime] = []

    def touched_since(seen: datetime) -> datetime | None:
        asked.append(seen)
        return changed_from

    cache.sync(SCOPE, T + DAY, touched_since)
    assert asked == [T]
    assert {t for t in ("early", "late") if cache.get(SCOPE, t) is not None} == kept


def test_an_answer_read_under_an_older_generation_is_not_kept() -> None:
    cache = RollupCache()
    filled(cache, T + DAY)
    cache.sync(SCOPE, T, lambda seen: None)  # a reader behind: changes nothing
    cache.put(SCOPE, T, "stale", rows(2), T + HOUR)
    assert cache.get(SCOPE, "stale") is None
    assert cache.get(SCOPE, "early") == rows(1)
    assert cache.get(("http://influx", "other"), "early") is None


@pytest.mark.integration
def test_a_late_reading_renews_only_the_answers_of_its_day(store: InfluxStore) -> None:
    rules = StepRules({"gas": 20_000.0, "coal": 50_000.0}, timedelta(hours=24))
    start = datetime(2026, 3, 1, 16, tzinfo=UTC)  # local midnight, 2 March (Asia/Shanghai)

    def reading(ts: datetime, value: float) -> str:
        return f"gas,meter=gas-1,plant=p1 volume_m3={value} {int(ts.timestamp() * 1000)}"

    store.write_lines([reading(start + n * HOUR, 10.0 * n) for n in range(48)])  # caught up
    job = fuel_job(store, KpiDefinition(), rules, "Asia/Shanghai", clock=lambda: start + 3 * DAY)
    job.run_pass()
    cache = RollupCache()  # the app's
    days = [
        [Segment("hourly", start, start + DAY)],
        [Segment("hourly", start + DAY, start + 2 * DAY)],
    ]

    def gas() -> list[float]:
        marks = read_watermarks(store, "fuel")
        sums = query_sums(
            store, days, rules, ["p1"], True, generation=marks.generation, cache=cache
        )
        return [s[("gas", "p1", "gas-1", 0)].consumption for s in sums]

    assert gas() == [230.0, 240.0]
    # Day 1's rollup row altered behind the job's back: its cached answer hides it...
    hour_ms = int((start + 5 * HOUR).timestamp() * 1000)
    store.write_lines(
        [f"fuel_hourly,kind=gas,meter=gas-1,plant=p1 consumption=1000.0,readings=1.0 {hour_ms}"]
    )
    # ...while a late reading on day 2 renews day 2's answer only.
    write_readings(store, [reading(start + 2 * DAY - 30 * timedelta(minutes=1), 475.0)])
    job.run_pass()
    assert gas() == [230.0, 245.0]


def test_values_past_the_row_budget_go_least_recently_used_first() -> None:
    cache = RollupCache(entries=10, rows=100)
    cache.sync(SCOPE, T, lambda seen: None)
    for name in ("a", "b", "c"):
        cache.keep(SCOPE, T, name, name, T + DAY, 40)
    assert cache.lookup(SCOPE, "a") is None  # 120 rows: the oldest went
    assert cache.lookup(SCOPE, "b") == "b"  # now the most recently used
    cache.keep(SCOPE, T, "d", "d", T + DAY, 40)
    assert [cache.lookup(SCOPE, k) for k in "bcd"] == ["b", None, "d"]
    cache.keep(SCOPE, T, "d", "d2", T + DAY, 60)  # kept again: counted once, at its new size
    assert [cache.lookup(SCOPE, k) for k in "bd"] == ["b", "d2"]


class Watched(threading.Event):
    """A read's event that tells when a reader starts waiting for it."""

    def __init__(self, waiting: threading.Event) -> None:
        super().__init__()
        self.waiting = waiting

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting.set()
        return super().wait(timeout)


def test_one_read_serves_the_readers_that_need_it_at_once() -> None:
    cache = RollupCache()
    cache.sync(SCOPE, T, lambda seen: None)
    claimed, waiting = threading.Event(), threading.Event()
    waited: list[bool] = []

    def second() -> None:
        claimed.wait(5)
        with cache.reading(SCOPE, ["block"]) as others:
            waited.append(others)

    thread = threading.Thread(target=second)
    thread.start()
    started = time.monotonic()
    with cache.reading(SCOPE, ["block", "block"]) as others:  # asked twice: claimed once
        assert not others
        cache._flights[(SCOPE, "block")] = Watched(waiting)  # see the second reader wait
        claimed.set()
        assert waiting.wait(5)
        cache.put(SCOPE, T, "block", rows(1), T + DAY)
    thread.join(10)
    assert waited == [True]  # it waited for this read...
    assert cache.get(SCOPE, "block") == rows(1)  # ...which is kept for it
    assert time.monotonic() - started < FLIGHT_WAIT_SECONDS / 2
