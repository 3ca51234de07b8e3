"""The VOC hourly rollup: one `voc_hourly` point per (plant, meter, hour) with data.

Each point holds the hour's aggregates of every limited value and the flow (valid minutes
and their sum, minutes per flag class, transmitted minutes, Σ concentration × flow), computed
by `api.voc.rules` from raw readings, so re-rolling an hour overwrites it (idempotent).

Late data (SPEC section 5): every write of VOC readings carries `rollup_dirty` marks
(`ingest.dirty`, stamped with the arrival time). Each pass reads the marks that arrived since
its cursor (less `MARK_LAG` for writes in flight) and re-rolls exactly the complete hours
they touched (`roll_stack_hours`), whatever their age; new hours are rolled from the
watermark. `reroll_since` stays for an operator's full re-roll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from api.voc import queries
from api.voc.rules import HOUR_MS
from api.voc.service import fresh_aggregates, o2_references, stack_fields
from ingest.dirty import dirty_runs, hour_runs
from ingest.errors import StoreError
from ingest.registry import Registry
from ingest.schema import to_epoch_ms
from ingest.store import InfluxStore

log = logging.getLogger(__name__)

# Marks re-roll late hours; the watermark path re-rolls only the last hour, where a reading
# written during the previous pass may not have been visible yet.
DEFAULT_REROLL_HOURS = 1
# Marks are read again for this long after their arrival: writes in flight, clock skew.
MARK_LAG = timedelta(minutes=2)
VOC_MEASUREMENTS = (
    queries.REALTIME_MEASUREMENT,
    queries.MINUTE_MEASUREMENT,
    queries.HOUR_MEASUREMENT,
)
CHUNK_HOURS = 6
# A catch-up runs in the API process: between chunks it lets request threads have the GIL.
PAUSE_BETWEEN_CHUNKS_SECONDS = 0.2


def utcnow() -> datetime:
    return datetime.now(UTC)


def _floor_hour(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class VocRollup:
    """Writes `voc_hourly` from raw VOC readings."""

    def __init__(
        self,
        store: InfluxStore,
        registry: Registry,
        *,
        reroll_hours: int = DEFAULT_REROLL_HOURS,
        clock: Callable[[], datetime] = utcnow,
        pause_seconds: float = PAUSE_BETWEEN_CHUNKS_SECONDS,
        arrival_clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store, self.registry, self.clock = store, registry, clock
        self.arrival_clock = arrival_clock
        self._stop: threading.Event | None = None  # set by run_forever: a long roll stops early
        self.pause_seconds = pause_seconds
        self.reroll_hours = reroll_hours
        meters = [m for p in registry.plants for m in p.meters_of("voc")]
        self.fields = stack_fields(meters)
        self.o2_refs = o2_references(registry)
        self.stacks = {(p.id, m.id) for p in registry.plants for m in p.meters_of("voc")}

    def roll(
        self,
        start: datetime,
        end: datetime,
        plants: list[str] | None = None,
        stacks: set[tuple[str, str]] | None = None,
        *,
        newest_first: bool = False,
    ) -> int:
        """Re-roll every whole hour in [start, end) (of `plants`/`stacks`, else all); points written.

        `newest_first` rolls the latest chunk first: after a long backfill the days the pages
        show (today, the last 7 days) are right first, the older ones follow.
        """
        first = to_epoch_ms(_floor_hour(start))
        last = to_epoch_ms(_floor_hour(end))
        written = 0
        chunks = list(range(first, last, CHUNK_HOURS * HOUR_MS))
        for index, chunk in enumerate(reversed(chunks) if newest_first else chunks):
            if self._stop is not None and self._stop.is_set():
                break  # the process is stopping; the watermark was not moved past this
            if index:
                time.sleep(self.pause_seconds)
            n_hours = min(CHUNK_HOURS, (last - chunk) // HOUR_MS)
            aggs = fresh_aggregates(self.store, plants, self.fields, chunk, n_hours, self.o2_refs)
            lines = []
            for (plant, meter), by_field in sorted(aggs.items()):
                if (plant, meter) in (stacks or self.stacks):
                    lines += queries.rollup_lines(plant, meter, by_field)
            if lines:
                self.store.write_lines(lines)
            written += len(lines)
        return written

    def roll_stack_hours(self, keys: Iterable[tuple[str, str, datetime]]) -> int:
        """Re-roll the given (plant, meter, hour) hours, newest first; points written.

        The stacks are rolled together, one query per chunk of hours for every stack a run
        touches (not one per stack: a county's backfill marks every stack's month), and a
        stack's hours next to a marked one in the same run may be rolled again (idempotent).
        """
        by_stack: dict[tuple[str, str], set[int]] = defaultdict(set)
        for plant, meter, hour in keys:
            by_stack[(plant, meter)].add(to_epoch_ms(_floor_hour(hour)))
        every_hour = {hour for hours in by_stack.values() for hour in hours}
        written = 0
        for first, end in reversed(hour_runs(every_hour)):
            touched = {s for s, hours in by_stack.items() if any(first <= h < end for h in hours)}
            written += self.roll(
                datetime.fromtimestamp(first / 1000, tz=UTC),
                datetime.fromtimestamp(end / 1000, tz=UTC),
                sorted({plant for plant, _ in touched}),
                touched,
                newest_first=True,
            )
        return written

    def run_pass(self) -> datetime | None:
        """Re-roll the hours late data marked, then roll complete hours since the watermark."""
        arrived = self.arrival_clock()  # marks carry the writer's wall clock
        end = _floor_hour(self.clock())
        cursor = queries.read_cursor(self.store)
        if cursor is not None:
            self.roll_marked(cursor - MARK_LAG, arrived, end)
        watermark = queries.read_watermark(self.store)
        if watermark is None:
            earliest = queries.earliest_reading(self.store)
            if earliest is None:
                return None
            start = _floor_hour(earliest)
        else:
            start = min(watermark, end - timedelta(hours=self.reroll_hours))
        if start < end:
            self.roll(start, end, newest_first=True)
        if self._stop is not None and self._stop.is_set():
            return None  # stopped mid-roll: neither the watermark nor the cursor moves
        queries.write_watermark(self.store, end)
        queries.write_cursor(self.store, arrived)
        return end

    def roll_marked(self, since: datetime, until: datetime, end: datetime) -> int:
        """Re-roll the complete hours (before `end`) that marks arrived in (since, until] touched."""
        keys = []
        for run in dirty_runs(self.store, since, until, VOC_MEASUREMENTS):
            if (run.plant, run.meter) not in self.stacks:
                continue
            hour = run.first_hour
            while hour < min(run.end_hour, end):
                keys.append((run.plant, run.meter, hour))
                hour += timedelta(hours=1)
        return self.roll_stack_hours(keys) if keys else 0

    def reroll_since(self, since: datetime) -> int:
        """Re-roll everything from `since` (or the oldest VOC reading) to the last complete hour."""
        earliest = queries.earliest_reading(self.store)
        if earliest is None:
            return 0  # no VOC reading at all: nothing to roll, however far back `since` is
        return self.roll(max(since, _floor_hour(earliest)), _floor_hour(self.clock()))

    def run_forever(self, stop: threading.Event, interval_seconds: float) -> None:
        self._stop = stop
        while not stop.is_set():
            try:
                self.run_pass()
            except StoreError as exc:
                log.warning("voc rollup pass failed", extra={"error": str(exc)})
            except Exception:
                log.exception("voc rollup pass failed")
            stop.wait(interval_seconds)
