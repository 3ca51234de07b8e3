"""The VOC hourly rollup: one `voc_hourly` point per (plant, meter, hour) with data.

Each point holds the hour's aggregates of every limited value and the flow (valid minutes
and their sum, minutes per flag class, transmitted minutes, Σ concentration × flow), computed
by `api.voc.rules` from raw readings, so re-rolling an hour overwrites it (idempotent).

This is the VOC domain of the read model (`api.readmodel`): the job follows the dirty marks
of the VOC measurements (late data, SPEC section 5) and keeps the state; this module rolls
complete hours only, so the job also re-rolls the last hour and any since the watermark
every pass (`tail_hours`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from api.readmodel.job import DEFAULT_MARK_LAG, ReadModelJob, utcnow
from api.readmodel.plan import SeriesKey
from api.voc import queries
from api.voc.rules import HOUR_MS
from api.voc.service import fresh_aggregates, o2_references, stack_fields
from ingest.kernel.dirty import DirtyRun
from ingest.kernel.registry import Registry
from ingest.kernel.schema import to_epoch_ms
from ingest.kernel.store import Store

log = logging.getLogger(__name__)

# Marks re-roll late hours; the watermark path re-rolls only the last hour, where a reading
# written during the previous pass may not have been visible yet.
DEFAULT_REROLL_HOURS = 1
VOC_MEASUREMENTS = frozenset(
    {queries.REALTIME_MEASUREMENT, queries.MINUTE_MEASUREMENT, queries.HOUR_MEASUREMENT}
)
CHUNK_HOURS = 6
# A catch-up runs in the API process: between chunks it lets request threads have the GIL.
PAUSE_BETWEEN_CHUNKS_SECONDS = 0.2


def _floor_hour(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class VocRollup:
    """The VOC domain: raw VOC readings -> `voc_hourly` (by `api.voc.rules`' aggregates)."""

    name = "voc"
    measurements = VOC_MEASUREMENTS

    def __init__(
        self,
        store: Store,
        registry: Registry,
        *,
        reroll_hours: int = DEFAULT_REROLL_HOURS,
        pause_seconds: float = PAUSE_BETWEEN_CHUNKS_SECONDS,
    ) -> None:
        self.store, self.registry = store, registry
        self._stop: threading.Event | None = None  # a long roll stops early once it is set
        self.pause_seconds = pause_seconds
        self.tail_hours = reroll_hours
        meters = [m for p in registry.plants for m in p.meters_of("voc")]
        self.fields = stack_fields(meters)
        self.o2_refs = o2_references(registry)
        self.stacks = {(p.id, m.id) for p in registry.plants for m in p.meters_of("voc")}

    def earliest(self) -> datetime | None:
        return queries.earliest_reading(self.store)

    def following(self, runs: Sequence[DirtyRun]) -> Mapping[SeriesKey, set[datetime]]:
        return {}  # an hour's aggregates depend on that hour's readings alone

    def roll(
        self,
        start: datetime,
        end: datetime,
        series: frozenset[SeriesKey] | None,
        stop: threading.Event,
        progress: Callable[[datetime], None] | None = None,
    ) -> int:
        """Re-roll the whole hours in [start, end) of `series` (None: every stack), newest
        first: after a long backfill the days the pages show are right first."""
        self._stop = stop
        if series is None:
            return self.roll_range(start, end, newest_first=True)
        stacks = set(series) & self.stacks
        if not stacks:
            return 0
        return self.roll_range(
            start, end, sorted({p for p, _ in stacks}), stacks, newest_first=True
        )

    def roll_range(
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


def voc_job(
    store: Store,
    registry: Registry,
    timezone: str = "Asia/Shanghai",
    *,
    clock: Callable[[], datetime] = utcnow,
    pause_seconds: float = PAUSE_BETWEEN_CHUNKS_SECONDS,
    mark_lag: timedelta = DEFAULT_MARK_LAG,
    arrival_clock: Callable[[], datetime] = utcnow,
) -> ReadModelJob:
    """The read-model job with the VOC domain alone (tests, benchmarks)."""
    return ReadModelJob(
        store,
        [VocRollup(store, registry, pause_seconds=pause_seconds)],
        timezone,
        clock=clock,
        mark_lag=mark_lag,
        arrival_clock=arrival_clock,
    )
