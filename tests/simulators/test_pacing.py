"""The back-fill's pace: at most `window` readings ahead of what the collector has taken."""

from __future__ import annotations

import threading

import httpx
import pytest

from simulators.pacing import CollectorPace, handled_readings, store_bytes
from tests.support import wait_until


def exposition(
    written: float, duplicates: float = 0.0, received: float = 0.0, store: float = -1.0
) -> str:
    return (
        f'plantwatch_ingest_broker_queued_bytes{{collector="c1"}} {store!r}\n'
        "# TYPE plantwatch_ingest_received_total counter\n"
        f'plantwatch_ingest_received_total{{collector="c1"}} {received!r}\n'
        f'plantwatch_ingest_points_written_total{{collector="c1"}} {written!r}\n'
        f'plantwatch_ingest_duplicates_total{{collector="c1"}} {duplicates!r}\n'
        f'plantwatch_ingest_spool_bytes{{collector="c1"}} 12.0\n'
    )


@pytest.mark.parametrize(
    ("text", "handled"),
    [
        (exposition(100.0, 5.0, received=9.0), 105),  # stored + resent identically
        (exposition(0.0), 0),
        ("", 0),
        (exposition(10.0) + 'plantwatch_ingest_revisions_total{collector="c2"} 3.0\n', 13),
    ],
)
def test_handled_readings(text: str, handled: int) -> None:
    assert handled_readings(text) == handled


@pytest.mark.parametrize(
    ("text", "held"),
    [
        (exposition(0.0, store=-1.0), None),  # the collector has not heard `$SYS` yet
        (exposition(0.0, store=5_000_000.0), 5_000_000),
        (exposition(0.0, store=10.0) + exposition(0.0, store=900.0).replace("c1", "c2"), 900),
        ("", None),
    ],
)
def test_store_bytes(text: str, held: int | None) -> None:
    assert store_bytes(text) == held


class Collector:
    """The collector's /metrics as the pacer sees it, moved by the test."""

    def __init__(self, written: int, store: int = -1) -> None:
        self.written = written
        self.store = store
        self.asked = 0

    def fetch(self, _url: str) -> str:
        self.asked += 1
        return exposition(float(self.written), store=float(self.store))


def test_it_waits_while_too_far_ahead_and_goes_on_as_the_collector_takes() -> None:
    collector = Collector(written=1_000)  # what was there before this back-fill
    pace = CollectorPace(["m"], window=100, poll_seconds=0.01, fetch=collector.fetch)
    stop = threading.Event()
    pace.wait(50, stop)  # within the window: no wait
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (pace.wait(300, stop), done.set()))
    waiter.start()
    assert wait_until(lambda: collector.asked >= 5, 5)
    assert not done.is_set()  # 300 published, 0 of them taken: held
    collector.written = 1_000 + 150
    assert not done.wait(0.2)  # 150 ahead: still held
    collector.written = 1_000 + 200
    assert done.wait(5)  # 100 ahead: goes on
    waiter.join(5)


def test_a_collector_that_does_not_move_releases_the_pace() -> None:
    now = [0.0]
    collector = Collector(written=0)

    def fetch(url: str) -> str:
        now[0] += 10.0  # each look is ten seconds later
        return collector.fetch(url)

    pace = CollectorPace(
        ["m"], window=10, stall_seconds=60, poll_seconds=0.0, fetch=fetch, clock=lambda: now[0]
    )
    pace.wait(1_000, threading.Event())
    assert 6 <= collector.asked <= 9  # gave up after about a minute without progress


def test_no_collector_to_pace_by_means_no_wait() -> None:
    def refused(_url: str) -> str:
        raise httpx.ConnectError("refused")

    CollectorPace(["m"], window=1, fetch=refused).wait(10**9, threading.Event())


def test_stop_ends_the_wait() -> None:
    stop = threading.Event()
    stop.set()
    CollectorPace(["m"], window=1, fetch=Collector(0).fetch).wait(10**9, stop)


def test_it_waits_while_the_brokers_store_is_full_though_the_collector_wrote_everything() -> None:
    # Written is not acknowledged: Mosquitto takes one acknowledgement a loop pass from the
    # collector, so a store of written readings can grow while the collector keeps pace.
    collector = Collector(written=0, store=50_000_000)
    pace = CollectorPace(["m"], window=100, max_store_bytes=4_000_000, poll_seconds=0.01,
                         fetch=collector.fetch)  # fmt: skip
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (pace.wait(0, threading.Event()), done.set()))
    waiter.start()
    assert wait_until(lambda: collector.asked >= 5, 5)
    assert not done.is_set()  # nothing ahead, but the store is full: held
    collector.store = 3_000_000
    assert done.wait(5)
    waiter.join(5)


def test_it_looks_at_most_every_poll_interval_while_within_limits() -> None:
    collector = Collector(written=0, store=1_000)
    pace = CollectorPace(["m"], window=10**9, poll_seconds=3600, fetch=collector.fetch)
    for published in range(0, 100_000, 100):  # a thousand messages
        pace.wait(published, threading.Event())
    assert collector.asked == 1


def test_partitions_are_summed_over_every_collectors_page() -> None:
    """make cluster: two collectors take half the plants each; paced by one of them, the
    back-fill stalled at twice the window (it published on only after a minute each time)."""
    pages = {"m1": Collector(written=0), "m2": Collector(written=0)}
    pace = CollectorPace(
        ["m1", "m2"], window=100, poll_seconds=3600, fetch=lambda url: pages[url].fetch(url)
    )
    pace.wait(0, threading.Event())  # the counts when the back-fill began
    pages["m1"].written = pages["m2"].written = 100
    pace.wait(300, threading.Event())  # 200 taken between them: 100 ahead, goes on
    assert (pages["m1"].asked, pages["m2"].asked) == (2, 2)
