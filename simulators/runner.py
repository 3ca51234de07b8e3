"""Drive a `County` through time: history (as fast as the broker takes it) or live (clocked).

Messages leave in the order the devices send them (`deliver_at_s`), held in an outbox so
an outage's backfill goes out after the readings that followed it.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from simulators.calendar import SECONDS_PER_DAY
from simulators.engine import County, Outgoing
from simulators.faults import FaultSpecError, parse_fault


class Sink(Protocol):
    def publish(self, plant: str, topic: str, payload: bytes) -> None: ...


@dataclass
class Outbox:
    """Messages waiting for their send time."""

    _heap: list[tuple[float, int, Outgoing]] = field(default_factory=list)
    _order: Iterator[int] = field(default_factory=itertools.count)

    def add(self, messages: list[Outgoing]) -> None:
        for m in messages:
            heapq.heappush(self._heap, (m.deliver_at_s, next(self._order), m))

    def due(self, now_s: float) -> Iterator[Outgoing]:
        while self._heap and self._heap[0][0] <= now_s:
            yield heapq.heappop(self._heap)[2]

    def __len__(self) -> int:
        return len(self._heap)


@dataclass
class Totals:
    messages: int = 0
    readings: int = 0


# The energy meters' whole period goes first: the gas-share KPI needs every day of its window
# (SPEC 6), and the stacks' minute data is most of a back-fill's readings.
HISTORY_PASSES: tuple[frozenset[str], ...] = (
    frozenset({"gas", "coal"}),
    frozenset({"voc", "electricity"}),
)


def run_history(
    county: County,
    sink: Sink,
    start_s: float,
    end_s: float,
    stop: threading.Event,
    progress: bool = True,
    pace: Callable[[int, threading.Event], None] | None = None,
    passes: tuple[frozenset[str], ...] = HISTORY_PASSES,
) -> Totals:
    """Publish every reading in (start_s, end_s] a day at a time, one pass per group of meter
    kinds; each pass's buffered backfills go out at its end.

    `pace(readings published, stop)` is asked before every message (simulators/pacing.py)."""
    totals = Totals()
    days = max(1, int((end_s - start_s + SECONDS_PER_DAY - 1) // SECONDS_PER_DAY))
    bar = tqdm(total=days * len(passes), unit="day", desc="history", disable=not progress)
    for kinds in passes:
        outbox = Outbox()
        t = start_s
        while t < end_s and not stop.is_set():
            t1 = min(end_s, t + SECONDS_PER_DAY)
            outbox.add(county.step(t, t1, kinds))
            _send(outbox.due(t1), sink, totals, stop, pace)
            bar.update(1)
            bar.set_postfix(readings=totals.readings, refresh=False)
            t = t1
        if not stop.is_set():
            _send(outbox.due(float("inf")), sink, totals, stop, pace)
    bar.close()
    return totals


def run_live(
    county: County,
    sink: Sink,
    start_s: float,
    speed: float,
    stop: threading.Event,
    wall_clock: Callable[[], float] = time.time,
    tick_s: float = 1.0,
    control: Path | None = None,
    on_tick: Callable[[], None] | None = None,
) -> Totals:
    """Publish readings as simulated time passes: `speed` times faster than the wall clock
    until the simulation reaches it, then in real time (readings are never in the future)."""
    totals = Totals()
    outbox = Outbox()
    real0 = wall_clock()
    sim = start_s
    watcher = ControlFile(control) if control else None
    while not stop.is_set():
        real = wall_clock()
        target = min(real, start_s + (real - real0) * speed)
        if watcher is not None:
            for fault_text in watcher.new_lines():
                try:
                    county.add_fault(parse_fault(fault_text, target))
                    print(f"simulator: fault scheduled: {fault_text}", flush=True)
                except FaultSpecError as exc:
                    print(f"simulator: ignored fault: {exc}", flush=True)
        if target > sim:
            outbox.add(county.step(sim, target))
            sim = target
        _send(outbox.due(sim), sink, totals, stop)
        if on_tick is not None:
            on_tick()
        stop.wait(tick_s)
    return totals


def _send(
    messages: Iterator[Outgoing],
    sink: Sink,
    totals: Totals,
    stop: threading.Event,
    pace: Callable[[int, threading.Event], None] | None = None,
) -> None:
    for m in messages:
        if pace is not None:
            pace(totals.readings, stop)  # may hold until stopped
            if stop.is_set():
                return
        sink.publish(m.plant, m.topic, m.payload)
        totals.messages += 1
        totals.readings += m.readings


class ControlFile:
    """New lines appended to a file, read as fault specs (`python -m simulators inject`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def new_lines(self) -> list[str]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        return [
            line.strip()
            for line in complete.decode("utf-8", "replace").splitlines()
            if line.strip()
        ]
