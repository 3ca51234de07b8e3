"""The one rollup job: follows the dirty marks of every domain and keeps its state.

Which hours to re-roll comes from the `rollup_dirty` marks written with every write of
readings (`ingest.kernel.dirty`), stamped with the *arrival* time. A pass reads, per domain, the
marks of its measurements that arrived since its cursor (less the one mark lag, for writes
still in flight and clock skew), re-rolls exactly the hours they name (plus the hours the
domain says a late write also changes), then moves the cursor to the pass's start. The
cursor counts arrivals, not device times, so a reading that arrives months late is
re-rolled within one interval like any other.

The first pass of a domain (no cursor) rolls everything from its first reading, moving the
watermark as it goes. A domain that rolls only complete hours (`tail_hours` > 0) also
re-rolls its last `tail_hours` hours and any hours since its watermark every pass: a
reading written while its hour was still open was marked before the hour could be rolled.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from api.ranges import DAY, HOUR, day_offset, floor_to
from api.readmodel.plan import SeriesKey, hour_groups, marked_hours
from api.readmodel.state import Watermarks, read_watermarks, record_change, write_watermarks
from ingest.kernel.dirty import DirtyRun, dirty_runs
from ingest.kernel.errors import StoreError
from ingest.kernel.store import Store

log = logging.getLogger(__name__)

DEFAULT_MARK_LAG = timedelta(minutes=2)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Domain(Protocol):
    """What a rolled-up domain supplies; the job does the rest."""

    name: str  # the `domain` tag of its state
    measurements: frozenset[str]  # the raw measurements it rolls up (their dirty marks)
    tail_hours: int  # > 0: rolls complete hours only, re-rolling the last ones every pass

    def earliest(self) -> datetime | None:
        """Time of its first raw reading (None: none yet)."""
        ...

    def following(self, runs: Sequence[DirtyRun]) -> Mapping[SeriesKey, set[datetime]]:
        """Hours besides the marked ones that the marked writes change (e.g. the next step)."""
        ...

    def roll(
        self,
        start: datetime,
        end: datetime,
        series: frozenset[SeriesKey] | None,
        stop: threading.Event,
        progress: Callable[[datetime], None] | None = None,
    ) -> int:
        """(Re)compute its rollups of the whole hours in [start, end) for `series` (None:
        all) by its pure aggregator; points written. May call `progress(t)` once every hour
        before `t` is rolled; stops early (returning) once `stop` is set."""
        ...


@dataclass(frozen=True, slots=True)
class PassReport:
    """What one pass did for one domain: marks read, hours re-rolled, points written."""

    marks: int
    hours: int
    points: int
    watermarks: Watermarks
    oldest_hour: datetime | None = None  # the first and last hour re-rolled (None: none)
    newest_hour: datetime | None = None


class ReadModelJob:
    """Rolls every domain up, following dirty marks: one loop, run per domain (`run_forever`)."""

    def __init__(
        self,
        store: Store,
        domains: Sequence[Domain],
        timezone: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        mark_lag: timedelta = DEFAULT_MARK_LAG,
        after_pass: Mapping[str, Callable[[PassReport], None]] | None = None,
        arrival_clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.domains = list(domains)
        self.tz = ZoneInfo(timezone)
        self.clock = clock  # the data time up to which hours are complete
        # The cursor counts arrivals (the write time of dirty marks). Both clocks are the
        # wall clock outside tests.
        self.arrival_clock = arrival_clock
        self.mark_lag = mark_lag
        self.after_pass = dict(after_pass or {})
        self.stop = threading.Event()

    def domain(self, name: str) -> Domain:
        return next(d for d in self.domains if d.name == name)

    def local_day_floor(self, ts: datetime) -> datetime:
        return floor_to(ts, DAY, day_offset(self.tz, ts))

    def run_pass(self) -> dict[str, PassReport]:
        """One pass over every domain; a domain's failure does not hold up the others."""
        out = {}
        for domain in self.domains:
            if self.stop.is_set():
                break
            out[domain.name] = self.pass_domain(domain)
        return out

    def pass_domain(self, domain: Domain) -> PassReport:
        """Roll up what arrived for `domain` since its last pass (everything, on the first)."""
        arrived = self.arrival_clock()
        arrived = arrived.replace(microsecond=arrived.microsecond // 1000 * 1000)  # stored in ms
        target = floor_to(self.clock(), HOUR)
        marks = read_watermarks(self.store, domain.name)
        if marks.cursor is None:
            report = self._catch_up(domain, marks, arrived, target)
        else:
            report = self._follow_marks(domain, marks, marks.cursor, arrived, target)
        if report is not None:
            callback = self.after_pass.get(domain.name)
            if callback is not None:
                callback(report)
            return report
        return PassReport(0, 0, 0, marks)  # stopped mid-roll: the state did not move

    def _catch_up(
        self, domain: Domain, marks: Watermarks, arrived: datetime, target: datetime
    ) -> PassReport | None:
        earliest = domain.earliest()
        if earliest is None:
            # Nothing to roll: claim nothing, so a first write is caught up from its start.
            return PassReport(0, 0, 0, marks)
        start = self.local_day_floor(earliest)
        log.info(
            "rollup catch-up",
            extra={"domain": domain.name, "from": start.isoformat(), "to": target.isoformat()},
        )

        def progress(until: datetime) -> None:
            # Readers use a long catch-up as it goes.
            if marks.hourly is None or until > marks.hourly:
                write_watermarks(
                    self.store,
                    domain.name,
                    Watermarks(
                        until,
                        self.local_day_floor(until),
                        None,
                        record_change(self.store, domain.name, start),
                    ),
                )

        points = domain.roll(start, target, None, self.stop, progress)
        if self.stop.is_set():
            return None
        new = Watermarks(
            target,
            self.local_day_floor(target),
            arrived,
            record_change(self.store, domain.name, start),
        )
        write_watermarks(self.store, domain.name, new)
        rolled = (target - start) // HOUR
        return PassReport(0, rolled, points, new, start, target - HOUR if rolled else None)

    def _follow_marks(
        self,
        domain: Domain,
        marks: Watermarks,
        cursor: datetime,
        arrived: datetime,
        target: datetime,
    ) -> PassReport | None:
        runs = dirty_runs(self.store, cursor - self.mark_lag, arrived, domain.measurements)
        # A domain that rolls complete hours only leaves the open hour to its tail.
        hours = marked_hours(runs, target if domain.tail_hours else None)
        for key, extra in domain.following(runs).items():
            hours.setdefault(key, set()).update(
                h for h in extra if not domain.tail_hours or h < target
            )
        points = 0
        for start, end, series in reversed(hour_groups(hours)):  # newest first: pages' days
            points += domain.roll(start, end, series, self.stop)
        all_hours = {h for hs in hours.values() for h in hs}
        if domain.tail_hours:
            tail_from = target - domain.tail_hours * HOUR
            if marks.hourly is not None:
                tail_from = min(marks.hourly, tail_from)
            if tail_from < target:
                points += domain.roll(tail_from, target, None, self.stop)
                h = tail_from
                while h < target:
                    all_hours.add(h)
                    h += HOUR
        if self.stop.is_set():
            return None  # stopped mid-roll: neither the watermark nor the cursor moves
        hourly = max(target, marks.hourly) if marks.hourly else target
        generation = (
            record_change(self.store, domain.name, self.local_day_floor(min(all_hours)))
            if points and all_hours
            else marks.generation  # no rollup changed: cached answers stay
        )
        new = Watermarks(hourly, self.local_day_floor(hourly), arrived, generation)
        write_watermarks(self.store, domain.name, new)
        return PassReport(
            len(runs),
            len(all_hours),
            points,
            new,
            min(all_hours) if all_hours else None,
            max(all_hours) if all_hours else None,
        )

    def roll(self, start: datetime, end: datetime) -> int:
        """Re-roll every domain's hours of [start, end), leaving the state as it is; points."""
        return sum(d.roll(start, end, None, self.stop) for d in self.domains)

    def reroll_since(self, since: datetime) -> dict[str, int]:
        """Re-roll every domain from `since` to the last whole hour (an operator's repair)."""
        target = floor_to(self.clock(), HOUR)
        out = {}
        for domain in self.domains:
            marks = read_watermarks(self.store, domain.name)
            earliest = domain.earliest()
            if earliest is None:
                out[domain.name] = 0  # nothing to roll, however far back `since` is
                continue
            start = max(self.local_day_floor(since), self.local_day_floor(earliest))
            out[domain.name] = domain.roll(start, target, None, self.stop)
            hourly = max(target, marks.hourly) if marks.hourly else target
            generation = record_change(self.store, domain.name, start)
            write_watermarks(
                self.store,
                domain.name,
                Watermarks(hourly, self.local_day_floor(hourly), marks.cursor, generation),
            )
        return out

    def run_forever(self, stop: threading.Event, interval_seconds: float) -> None:
        """Each domain's passes every `interval_seconds` until `stop`, each domain in a thread
        of its own: a long roll of one (a month of VOC minutes back-filled at `make run`)
        must not hold up another's (the officer's KPI stayed all `unknown` for minutes while
        one loop rolled VOC first). A failed pass is logged and retried."""
        self.stop = stop  # a long roll stops early; its state is not moved past what it did
        threads = [
            threading.Thread(
                target=self._run_domain,
                args=(domain, stop, interval_seconds),
                name=f"rollup-{domain.name}",
                daemon=True,
            )
            for domain in self.domains
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _run_domain(self, domain: Domain, stop: threading.Event, interval_seconds: float) -> None:
        while not stop.is_set():
            try:
                self.pass_domain(domain)
            except StoreError as exc:
                log.warning("rollup pass failed", extra={"domain": domain.name, "error": str(exc)})
            except Exception:
                # The rollup must never take the API down with it.
                log.exception("rollup pass crashed", extra={"domain": domain.name})
            stop.wait(interval_seconds)
