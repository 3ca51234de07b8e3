"""Hourly and daily fuel rollups, computed in InfluxDB and written back with line protocol.

InfluxDB 1.x continuous queries do not exist behind the v1-compatible API of 2.x/3.x, so
the API process rolls up itself: each pass reads raw registers with InfluxQL aggregates
(`api.consumption`), writes one `fuel_hourly` point per (plant, meter, hour) and one
`fuel_daily` point per (plant, meter, local day), and moves a watermark kept in
`rollup_state`. Points are identified by their tags and time, so re-rolling an hour
overwrites it: passes are idempotent. Each pass re-rolls the last `reroll_hours` to pick up
late readings; older backfills need `python -m api rollup --since ...`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from api.consumption import (
    DAILY_MEASUREMENT,
    HOURLY_MEASUREMENT,
    REGISTERS,
    SUM_FIELDS,
    Key,
    Statement,
    StepRules,
    collect,
    raw_statements,
    time_range,
)
from api.ranges import DAY, HOUR, day_offset, floor_to
from api.settings import KpiDefinition
from ingest.errors import StoreError
from ingest.store import InfluxStore, encode_point, quote_ident, quote_literal

log = logging.getLogger(__name__)

STATE_MEASUREMENT = "rollup_state"
LEVELS = ("hourly", "daily")


def utcnow() -> datetime:
    return datetime.now(UTC)


def fuel_fields(kind: str, sums: list[float], d: KpiDefinition) -> dict[str, float]:
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


def rollup_lines(
    measurement: str, sums: dict[Key, list[float]], d: KpiDefinition, with_hours: bool
) -> list[str]:
    """Line protocol for rollup points; daily points also carry `hours_reported`."""
    lines = []
    for (kind, plant, meter, bucket_ms), values in sorted(sums.items()):
        if kind not in REGISTERS:
            continue
        fields = fuel_fields(kind, values, d)
        if with_hours:
            fields["hours_reported"] = values[SUM_FIELDS.index("hours")]
        lines.append(
            encode_point(
                measurement, {"plant": plant, "meter": meter, "kind": kind}, fields, bucket_ms
            )
        )
    return lines


@dataclass(frozen=True, slots=True)
class Watermarks:
    """Everything before `hourly` / `daily` has been rolled up (None: nothing yet)."""

    hourly: datetime | None
    daily: datetime | None


def read_watermarks(store: InfluxStore) -> Watermarks:
    series = store.query(
        f'SELECT last("until_ms") FROM {quote_ident(STATE_MEASUREMENT)} GROUP BY "level"'
    )
    found = {
        s.tags.get("level"): datetime.fromtimestamp(float(s.values[0][1]) / 1000, UTC)
        for s in series
        if s.values and s.values[0][1] is not None
    }
    return Watermarks(found.get("hourly"), found.get("daily"))


def write_watermarks(store: InfluxStore, marks: Watermarks) -> None:
    lines = []
    for level, until in (("hourly", marks.hourly), ("daily", marks.daily)):
        if until is not None:
            until_ms = float(round(until.timestamp() * 1000))
            lines.append(
                encode_point(STATE_MEASUREMENT, {"level": level}, {"until_ms": until_ms}, 0)
            )
    store.write_lines(lines)


class RollupJob:
    """Rolls raw fuel registers up into `fuel_hourly` and `fuel_daily`."""

    def __init__(
        self,
        store: InfluxStore,
        definition: KpiDefinition,
        rules: StepRules,
        timezone: str,
        reroll: timedelta = timedelta(hours=6),
        chunk: timedelta = timedelta(days=7),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.definition = definition
        self.rules = rules
        self.tz = ZoneInfo(timezone)
        self.timezone = timezone
        self.reroll = reroll
        self.chunk = chunk
        self.clock = clock

    def local_day_floor(self, ts: datetime) -> datetime:
        return floor_to(ts, DAY, day_offset(self.tz, ts))

    def earliest_reading(self) -> datetime | None:
        statements = ";".join(
            f"SELECT first({quote_ident(field)}) FROM {quote_ident(kind)}"
            for kind, field in REGISTERS.items()
        )
        times = [
            s.values[0][0]
            for result in self.store.query_many(statements)
            for s in result
            if s.values
        ]
        return datetime.fromtimestamp(min(times) / 1000, UTC) if times else None

    def roll_hours(self, start: datetime, end: datetime) -> int:
        """(Re)compute `fuel_hourly` for the whole hours in [start, end); returns points written."""
        statements: list[Statement] = []
        for kind in REGISTERS:
            statements += raw_statements(
                kind, start, end, HOUR, timedelta(0), self.rules, None, True
            )
        results = self.store.query_many(";".join(s.text for s in statements))
        lines = rollup_lines(
            HOURLY_MEASUREMENT, collect(statements, results), self.definition, False
        )
        self.store.write_lines(lines)
        return len(lines)

    def roll_days(self, start: datetime, end: datetime) -> int:
        """(Re)compute `fuel_daily` (local days) from `fuel_hourly` for days in [start, end)."""
        if end <= start:
            return 0
        text = (
            'SELECT sum("consumption") AS "consumption", sum("readings") AS "readings", '
            'count("readings") AS "hours", sum("resets") AS "resets", '
            'sum("implausible_steps") AS "implausible_steps" '
            f"FROM {quote_ident(HOURLY_MEASUREMENT)} WHERE {time_range(start, end)} "
            'GROUP BY time(1d), "kind", "plant", "meter" fill(none) '
            f"tz({quote_literal(self.timezone)})"
        )
        statement = Statement(text, None, start, True)
        sums = collect([statement], [self.store.query(text)])
        lines = rollup_lines(DAILY_MEASUREMENT, sums, self.definition, True)
        self.store.write_lines(lines)
        return len(lines)

    def roll(self, start: datetime, end: datetime, advance_from: datetime | None = None) -> int:
        """Re-roll [start, end) (hours, and the local days wholly inside) in chunks, logging progress.

        Past `advance_from` (the old watermark) the watermark follows each chunk, so a long
        catch-up is used by readers as it goes and resumes where it stopped after a restart.
        """
        start, end = floor_to(start, HOUR), floor_to(end, HOUR)
        written, chunk_start = 0, start
        chunks = max(1, -(-(end - start) // self.chunk))
        done = 0
        while chunk_start < end:
            chunk_end = min(end, self.local_day_floor(chunk_start + self.chunk))
            if chunk_end <= chunk_start:
                chunk_end = min(end, chunk_start + self.chunk)
            written += self.roll_hours(chunk_start, chunk_end)
            first_day = self.local_day_floor(chunk_start)
            last_day = self.local_day_floor(chunk_end)
            written += self.roll_days(first_day, last_day)
            done += 1
            if advance_from is None or chunk_end > advance_from:
                write_watermarks(self.store, Watermarks(chunk_end, self.local_day_floor(chunk_end)))
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

    def run_pass(self) -> Watermarks:
        """Catch up from the watermark (or the first reading) to the last whole hour."""
        target = floor_to(self.clock(), HOUR)
        marks = read_watermarks(self.store)
        if marks.hourly is None:
            earliest = self.earliest_reading()
            if earliest is None:
                return marks
            start = self.local_day_floor(earliest)
            log.info("rollup catch-up", extra={"from": start.isoformat(), "to": target.isoformat()})
        else:
            start = min(marks.hourly, target) - self.reroll
        self.roll(start, target, advance_from=marks.hourly)
        hourly = max(target, marks.hourly) if marks.hourly else target
        new = Watermarks(hourly, self.local_day_floor(hourly))
        write_watermarks(self.store, new)
        return new

    def reroll_since(self, since: datetime) -> int:
        """Re-roll everything from `since` to the last whole hour (after a backfill)."""
        target = floor_to(self.clock(), HOUR)
        marks = read_watermarks(self.store)
        if marks.hourly is None:
            # Nothing rolled yet: the watermark will claim everything, so start at the beginning.
            earliest = self.earliest_reading()
            since = min(since, earliest) if earliest else since
        written = self.roll(self.local_day_floor(since), target, advance_from=marks.hourly)
        hourly = max(target, marks.hourly) if marks.hourly else target
        write_watermarks(self.store, Watermarks(hourly, self.local_day_floor(hourly)))
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
