"""The back-fill's pace: at most `window` readings ahead of what the collector has taken."""

from __future__ import annotations

import threading

import httpx
import pytest

from simulators.pacing import CollectorPace, handled_readings
from tests.support import wait_until


def exposition(written: float, duplicates: float = 0.0, received: float = 0.0) -> str:
    return (
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


class Collector:
    """The collector's /metrics as the pacer sees it, moved by the test."""

    def __init__(self, written: int) -> None:
        self.written = written
        self.asked = 0

    def fetch(self, _url: str) -> str:
        self.asked += 1
        return exposition(float(self.written))


def test_it_waits_while_too_far_ahead_and_goes_on_as_the_collector_takes() -> None:
    collector = Collector(written=1_000)  # what was there before this back-fill
    pace = CollectorPace("m", window=100, poll_seconds=0.01, fetch=collector.fetch)
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
        "m", window=10, stall_seconds=60, poll_seconds=0.0, fetch=fetch, clock=lambda: now[0]
    )
    pace.wait(1_000, threading.Event())
    assert 6 <= collector.asked <= 9  # gave up after about a minute without progress


def test_no_collector_to_pace_by_means_no_wait() -> None:
    def refused(_url: str) -> str:
        raise httpx.ConnectError("refused")

    CollectorPace("m", window=1, fetch=refused).wait(10**9, threading.Event())


def test_stop_ends_the_wait() -> None:
    stop = threading.Event()
    stop.set()
    CollectorPace("m", window=1, fetch=Collector(0).fetch).wait(10**9, stop)
