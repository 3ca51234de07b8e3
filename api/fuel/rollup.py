"""Hourly and daily fuel rollups that late data cannot break, and the daily KPI points.

InfluxDB 1.x continuous queries do not exist behind the v1-compatible API of 2.x/3.x, so
the API process rolls up itself: it reads the raw registers, sums every hour by the pure
rule (`rules.hourly_sums`), writes one `fuel_hourly` point per (plant, meter, hour) and one
`fuel_daily` point per (plant, meter, local day). Points are identified by their tags and
time, so re-rolling overwrites: passes are idempotent.

Which hours to re-roll comes from the `rollup_dirty` marks written with every write of
readings (`ingest.dirty`), stamped with the *arrival* time. A pass reads the marks that
arrived since its cursor (less a safety lag for writes still in flight and clock skew),
re-rolls exactly the hours they name, plus the hour of the next reading after each run
(its step depends on the reading before it), and the local days holding them; then it
moves its cursor to the pass's start. The cursor counts arrivals, not device times, so a
reading that arrives months late is re-rolled within one interval like any other.

`rollup_state` keeps, per `level`: `cursor` (marks before it are done), `hourly` and
`daily` (readers may use rollups for whole hours / local days before these; a hour past
them is read raw) and `generation` (when rollups last changed); `rollup_passes` records,
per pass that changed rollups, the earliest local day it rewrote (`record_change`), so
readers keep the cached answers before it. The first pass (no cursor) rolls everything
from the first reading.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from api.fuel.queries import (
    DAILY_MEASUREMENT,
    HOURLY_MEASUREMENT,
    MS,
    PASSES_MEASUREMENT,
    SUM_FIELDS,
    Key,
    collect,
    daily_from_hourly,
    earliest_reading,
    from_ms,
    fuel_plants,
    latest_state,
    next_readings,
    register_points,
)
from api.fuel.rules import EPOCH, REGISTERS, Definition, StepRules, hourly_sums
from api.ranges import DAY, HOUR, day_offset, floor_to
from ingest.dirty import ROLLED_UP, dirty_runs
from ingest.errors import StoreError
from ingest.store import InfluxStore, check_tag_value, encode_point

log = logging.getLogger(__name__)

STATE_MEASUREMENT = "rollup_state"
WRITE_BATCH_LINES = 20_000
PLANTS_PER_QUERY = 200
FUEL_MEASUREMENTS = frozenset(REGISTERS) & ROLLED_UP


def utcnow() -> datetime:
    return datetime.now(UTC)


def fuel_fields(kind: str, sums: list[float], d: Definition) -> dict[str, float]:
    """The fields of one rollup point: consumption in the register's unit, kgce and CO2."""
    consumption = sums[SUM_FIELDS.index("consumption")]
    if kind == "gas":
        kgce, co2 = consumption * d.gas_kgce_per_m3, consumption * d.co2_kg_per_m3_gas
    else:
        kgce, co2 = consumption * d.coal_kgce_per_kg, consumption * d.co2_kg_per_kg_coal
    return {
        "consumption": consumption,
        "kgce": kgce,
        "co2_kg": co2,
        "readings": sums[SUM_FIELDS.index("readings")],
        "resets": sums[SUM_FIELDS.index("resets")],
        "implausible_steps": sums[SUM_FIELDS.index("implausible_steps")],
    }


def _tag(value: str) -> str:
    """A tag value escaped for line protocol (ids are [a-z0-9-]; this is for safety)."""
    return (
        check_tag_value(value)
        .replace("\\", "\\\\")
        .replace(",", "\\,")
        .replace("=", "\\=")
        .replace(" ", "\\ ")
    )


def rollup_lines(
    measurement: str, sums: dict[Key, list[float]], d: Definition, with_hours: bool
) -> list[str]:
    """Line protocol for rollup points; daily points also carry `hours_reported`.

    Formatted here rather than by `encode_point`: a year's catch-up writes a million points.
    """
    lines = []
    for (kind, plant, meter, bucket_ms), values in sorted(sums.items()):
        if kind not in REGISTERS:
            continue
        fields = fuel_fields(kind, values, d)
        if with_hours:
            fields["hours_reported"] = values[SUM_FIELDS.index("hours")]
        text = ",".join(f"{k}={float(v)!r}" for k, v in fields.items())
        lines.append(
            f"{measurement},kind={_tag(kind)},meter={_tag(meter)},plant={_tag(plant)} "
            f"{text} {int(bucket_ms)}"
        )
    return lines


@dataclass(frozen=True, slots=True)
class Watermarks:
    """Rollups answer whole hours before `hourly` and local days before `daily` (None: none yet)."""

    hourly: datetime | None
    daily: datetime | None
    cursor: datetime | None = None  # dirty marks that arrived before this are rolled up
    # When the rollups last changed (`record_change`): readers cache what they read from
    # the rollups and rolled-up raw hours under it (`api.fuel.cache`). Written as now if
    # unset (recorded nowhere: readers then drop every cached answer).
    generation: datetime | None = field(default=None, compare=False)


def read_watermarks(store: InfluxStore) -> Watermarks:
    found = {k: from_ms(v) for k, v in latest_state(store, STATE_MEASUREMENT).items()}
    return Watermarks(
        found.get("hourly"), found.get("daily"), found.get("cursor"), found.get("generation")
    )


def write_watermarks(store: InfluxStore, marks: Watermarks) -> None:
    lines = []
    for level, until in (
        ("hourly", marks.hourly),
        ("daily", marks.daily),
        ("cursor", marks.cursor),
        ("generation", marks.generation or datetime.now(UTC)),
    ):
        if until is not None:
            until_ms = float(round(until.timestamp() * 1000))
            lines.append(
                encode_point(STATE_MEASUREMENT, {"level": level}, {"until_ms": until_ms}, 0)
            )
    store.write_lines(lines)


def record_change(store: InfluxStore, changed_from: datetime) -> datetime:
    """Record that rollups from `changed_from` on were just rewritten; returns the new
    generation (readers keep cached answers before `changed_from`, `api.fuel.cache`)."""
    now = datetime.now(UTC)
    generation = now.replace(microsecond=now.microsecond // 1000 * 1000)
    from_ms = float((changed_from - EPOCH) // MS)
    store.write_lines([encode_point(PASSES_MEASUREMENT, {}, {"from_ms": from_ms}, generation)])
    return generation


def merge_hours(hours: set[datetime]) -> tuple[tuple[datetime, datetime], ...]:
    """Contiguous runs [start, end) of whole hours."""
    runs: list[tuple[datetime, datetime]] = []
    for h in sorted(hours):
        if runs and runs[-1][1] == h:
            runs[-1] = (runs[-1][0], h + HOUR)
        else:
            runs.append((h, h + HOUR))
    return tuple(runs)


@dataclass(frozen=True, slots=True)
class PassReport:
    """What one pass did: marks read, hours re-rolled, points written."""

    marks: int
    hours: int
    points: int
    watermarks: Watermarks
    oldest_hour: datetime | None = None  # the first and last hour re-rolled (None: none)
    newest_hour: datetime | None = None


class RollupJob:
    """Rolls raw fuel registers up into `fuel_hourly` and `fuel_daily`, following dirty marks."""

    def __init__(
        self,
        store: InfluxStore,
        definition: Definition,
        rules: StepRules,
        timezone: str,
        chunk: timedelta = timedelta(days=7),
        clock: Callable[[], datetime] = utcnow,
        mark_lag: timedelta = timedelta(minutes=2),
        after_pass: Callable[[PassReport], None] | None = None,
        arrival_clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.definition = definition
        self.rules = rules
        self.tz = ZoneInfo(timezone)
        self.timezone = timezone
        self.chunk = chunk
        self.clock = clock
        self.mark_lag = mark_lag
        self.after_pass = after_pass
        # The cursor counts arrivals (the write time of dirty marks); `clock` gives the data
        # time up to which hours are complete. Both are the wall clock outside tests.
        self.arrival_clock = arrival_clock

    def local_day_floor(self, ts: datetime) -> datetime:
        return floor_to(ts, DAY, day_offset(self.tz, ts))

    def local_day_after(self, ts: datetime) -> datetime:
        """The local midnight after the local day holding `ts`."""
        day = self.local_day_floor(ts)
        return self.local_day_floor(day + DAY + timedelta(hours=3))

    def roll_hours(
        self, start: datetime, end: datetime, plants: Sequence[str] | None = None
    ) -> int:
        """(Re)compute `fuel_hourly` for the whole hours in [start, end); returns points written.

        The readings are fetched and summed per hour by the pure rule (`rules.hourly_sums`),
        `PLANTS_PER_QUERY` plants at a time so a county of thousands stays within memory
        and the store's timeout.
        """
        if plants is None or len(plants) > PLANTS_PER_QUERY:
            every = list(plants) if plants is not None else fuel_plants(self.store)
            if len(every) > PLANTS_PER_QUERY:
                return sum(
                    self.roll_hours(start, end, every[i : i + PLANTS_PER_QUERY])
                    for i in range(0, len(every), PLANTS_PER_QUERY)
                )
        points = register_points(self.store, start, end, self.rules.max_gap, plants)
        start_ms, end_ms = (start - EPOCH) // MS, (end - EPOCH) // MS
        sums: dict[Key, list[float]] = {}
        for (kind, plant, meter), (ts, values, manual) in points.items():
            per_hour = hourly_sums(
                ts,
                values,
                start_ms,
                end_ms,
                self.rules.max_per_hour[kind],
                self.rules.max_gap // MS,
                manual,
            )
            for hour_ms, s in per_hour.items():
                sums[(kind, plant, meter, hour_ms)] = [
                    s.consumption,
                    s.readings,
                    s.hours,
                    s.resets,
                    s.implausible_steps,
                ]
        lines = rollup_lines(HOURLY_MEASUREMENT, sums, self.definition, False)
        for offset in range(0, len(lines), WRITE_BATCH_LINES):
            self.store.write_lines(lines[offset : offset + WRITE_BATCH_LINES])
        return len(lines)

    def roll_days(self, start: datetime, end: datetime, plants: Sequence[str] | None = None) -> int:
        """(Re)compute `fuel_daily` (local days) from `fuel_hourly` for days in [start, end)."""
        if end <= start:
            return 0
        statement = daily_from_hourly(start, end, self.timezone, plants)
        sums = collect([statement], [self.store.query(statement.text)])
        lines = rollup_lines(DAILY_MEASUREMENT, sums, self.definition, True)
        self.store.write_lines(lines)
        return len(lines)

    def roll(
        self,
        start: datetime,
        end: datetime,
        plants: Sequence[str] | None = None,
        advance_from: datetime | None = None,
        moving_watermark: bool = False,
    ) -> int:
        """Re-roll the hours of [start, end) and the local days holding them, in chunks.

        With `moving_watermark` (a catch-up) the watermark follows each chunk past
        `advance_from`, so readers use a long catch-up as it goes.
        """
        start, end = (
            floor_to(start, HOUR),
            floor_to(end, HOUR) + (HOUR if end != floor_to(end, HOUR) else timedelta(0)),
        )
        written, chunk_start = 0, start
        chunks = max(1, -(-(end - start) // self.chunk))
        done = 0
        while chunk_start < end:
            chunk_end = min(end, self.local_day_floor(chunk_start + self.chunk))
            if chunk_end <= chunk_start:
                chunk_end = min(end, chunk_start + self.chunk)
            written += self.roll_hours(chunk_start, chunk_end, plants)
            written += self.roll_days(
                self.local_day_floor(chunk_start), self.local_day_after(chunk_end - HOUR), plants
            )
            done += 1
            if moving_watermark and (advance_from is None or chunk_end > advance_from):
                marks = read_watermarks(self.store)
                write_watermarks(
                    self.store,
                    Watermarks(
                        chunk_end,
                        self.local_day_floor(chunk_end),
                        marks.cursor,
                        record_change(self.store, self.local_day_floor(start)),
                    ),
                )
            if chunks > 1:
                log.info(
                    "rollup progress",
                    extra={
                        "chunk": done,
                        "chunks": chunks,
                        "until": chunk_end.isoformat(),
                        "points": written,
                    },
                )
            chunk_start = chunk_end
        return written

    def dirty_hours(self, since: datetime, until: datetime) -> tuple[int, dict[str, set[datetime]]]:
        """Marks that arrived in (since, until] -> plant -> hours to re-roll."""
        runs = dirty_runs(self.store, since, until, FUEL_MEASUREMENTS)
        hours: dict[str, set[datetime]] = {}
        for r in runs:
            h = r.first_hour
            while h < r.end_hour:
                hours.setdefault(r.plant, set()).add(h)
                h += HOUR
        # The reading after a run has a new predecessor: its hour's step changes too.
        following = sorted({(r.measurement, r.plant, r.meter, r.end_hour) for r in runs})
        for _, plant, ts in next_readings(self.store, following, self.rules.max_gap):
            hours.setdefault(plant, set()).add(floor_to(ts, HOUR))
        return len(runs), hours

    def run_pass(self) -> PassReport:
        """Roll up what arrived since the last pass (everything, on the first)."""
        arrived = self.arrival_clock()
        arrived = arrived.replace(microsecond=arrived.microsecond // 1000 * 1000)  # stored in ms
        target = floor_to(self.clock(), HOUR)
        marks = read_watermarks(self.store)
        if marks.cursor is None:
            earliest = earliest_reading(self.store)
            if earliest is None:
                # Nothing to roll: claim nothing, so a first write is caught up from its start.
                report = PassReport(0, 0, 0, marks, None)
                if self.after_pass is not None:
                    self.after_pass(report)
                return report
            start = self.local_day_floor(earliest)
            log.info("rollup catch-up", extra={"from": start.isoformat(), "to": target.isoformat()})
            points = self.roll(start, target, None, marks.hourly, moving_watermark=True)
            new = Watermarks(
                target, self.local_day_floor(target), arrived, record_change(self.store, start)
            )
            write_watermarks(self.store, new)
            rolled = (target - start) // HOUR
            report = PassReport(0, rolled, points, new, start, target - HOUR if rolled else None)
        else:
            count, per_plant = self.dirty_hours(marks.cursor - self.mark_lag, arrived)
            # Plants with the same hours are re-rolled together (live data: all of them at once).
            groups: dict[tuple[tuple[datetime, datetime], ...], list[str]] = {}
            for plant, hours in per_plant.items():
                groups.setdefault(merge_hours(hours), []).append(plant)
            points = 0
            for runs, plants in groups.items():
                for start, end in runs:
                    points += self.roll(start, end, sorted(plants))
            hourly = max(target, marks.hourly) if marks.hourly else target
            all_hours = [h for hs in per_plant.values() for h in hs]
            generation = (
                record_change(self.store, self.local_day_floor(min(all_hours)))
                if points and all_hours
                else marks.generation  # no rollup changed: cached answers stay
            )
            new = Watermarks(hourly, self.local_day_floor(hourly), arrived, generation)
            write_watermarks(self.store, new)
            report = PassReport(
                count,
                len(all_hours),
                points,
                new,
                min(all_hours) if all_hours else None,
                max(all_hours) if all_hours else None,
            )
        if self.after_pass is not None:
            self.after_pass(report)
        return report

    def reroll_since(self, since: datetime) -> int:
        """Re-roll everything from `since` to the last whole hour (an operator's repair)."""
        target = floor_to(self.clock(), HOUR)
        marks = read_watermarks(self.store)
        written = self.roll(self.local_day_floor(since), target)
        hourly = max(target, marks.hourly) if marks.hourly else target
        generation = record_change(self.store, self.local_day_floor(since))
        write_watermarks(
            self.store,
            Watermarks(hourly, self.local_day_floor(hourly), marks.cursor, generation),
        )
        return written

    def run_forever(self, stop: threading.Event, interval_seconds: float) -> None:
        """Passes every `interval_seconds` until `stop`; a failed pass is logged and retried."""
        while not stop.is_set():
            try:
                self.run_pass()
            except StoreError as exc:
                log.warning("rollup pass failed", extra={"error": str(exc)})
            except Exception:
                # The rollup must never take the API down with it.
                log.exception("rollup pass crashed")
            stop.wait(interval_seconds)
