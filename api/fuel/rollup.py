"""Hourly and daily fuel rollups, and the fuel domain of the read model (`api.readmodel`).

InfluxDB 1.x continuous queries do not exist behind the v1-compatible API of 2.x/3.x, so
the API process rolls up itself: it reads the raw registers, sums every hour by the pure
rule (`rules.hourly_sums`), writes one `fuel_hourly` point per (plant, meter, hour) and one
`fuel_daily` point per (plant, meter, local day). Points are identified by their tags and
time, so re-rolling overwrites: passes are idempotent.

Which hours to re-roll, the state and the loop are the read model's (`api.readmodel.job`);
this domain adds the hour of the next reading after each marked run (its step depends on
the reading before it) and rolls the local days holding the hours it rolls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from api.fuel.queries import (
    DAILY_MEASUREMENT,
    HOURLY_MEASUREMENT,
    MS,
    Key,
    collect,
    daily_from_hourly,
    earliest_reading,
    fuel_plants,
    next_readings,
    register_points,
)
from api.fuel.rules import EPOCH, REGISTERS, Definition, StepRules, Sums, hourly_sums
from api.ranges import DAY, HOUR, day_offset, floor_to
from api.readmodel.job import DEFAULT_MARK_LAG, PassReport, ReadModelJob, utcnow
from api.readmodel.plan import SeriesKey
from ingest.kernel.dirty import ROLLED_UP, DirtyRun
from ingest.kernel.store import Store, check_tag_value

log = logging.getLogger(__name__)

WRITE_BATCH_LINES = 20_000
PLANTS_PER_QUERY = 200
FUEL_MEASUREMENTS = frozenset(REGISTERS) & ROLLED_UP


def fuel_fields(kind: str, sums: Sums, d: Definition) -> dict[str, float]:
    """The fields of one rollup point: consumption in the register's unit, kgce and CO2."""
    consumption = sums.consumption
    if kind == "gas":
        kgce, co2 = consumption * d.gas_kgce_per_m3, consumption * d.co2_kg_per_m3_gas
    else:
        kgce, co2 = consumption * d.coal_kgce_per_kg, consumption * d.co2_kg_per_kg_coal
    return {
        "consumption": consumption,
        "kgce": kgce,
        "co2_kg": co2,
        "readings": float(sums.readings),
        "resets": float(sums.resets),
        "implausible_steps": float(sums.implausible_steps),
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
    measurement: str, sums: dict[Key, Sums], d: Definition, with_hours: bool
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
            fields["hours_reported"] = float(values.hours)
        text = ",".join(f"{k}={float(v)!r}" for k, v in fields.items())
        lines.append(
            f"{measurement},kind={_tag(kind)},meter={_tag(meter)},plant={_tag(plant)} "
            f"{text} {int(bucket_ms)}"
        )
    return lines


class FuelRollup:
    """The fuel domain: raw registers -> `fuel_hourly` (by `rules.hourly_sums`) -> `fuel_daily`."""

    name = "fuel"
    measurements = FUEL_MEASUREMENTS
    tail_hours = 0  # every write is marked: the open hour is re-rolled by its marks

    def __init__(
        self,
        store: Store,
        definition: Definition,
        rules: StepRules,
        timezone: str,
        chunk: timedelta = timedelta(days=7),
    ) -> None:
        self.store = store
        self.definition = definition
        self.rules = rules
        self.tz = ZoneInfo(timezone)
        self.timezone = timezone
        self.chunk = chunk

    def earliest(self) -> datetime | None:
        return earliest_reading(self.store)

    def following(self, runs: Sequence[DirtyRun]) -> Mapping[SeriesKey, set[datetime]]:
        """The reading after a run has a new predecessor: its hour's step changes too."""
        after = sorted({(r.measurement, r.plant, r.meter, r.end_hour) for r in runs})
        out: dict[SeriesKey, set[datetime]] = {}
        for _, plant, meter, ts in next_readings(self.store, after, self.rules.max_gap):
            out.setdefault((plant, meter), set()).add(floor_to(ts, HOUR))
        return out

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
        sums: dict[Key, Sums] = {}
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
                sums[(kind, plant, meter, hour_ms)] = s
        lines = rollup_lines(HOURLY_MEASUREMENT, sums, self.definition, False)
        for offset in range(0, len(lines), WRITE_BATCH_LINES):
            self.store.write_lines(lines[offset : offset + WRITE_BATCH_LINES])
        return len(lines)

    def roll_days(self, start: datetime, end: datetime, plants: Sequence[str] | None = None) -> int:
        """(Re)compute `fuel_daily` (local days) from `fuel_hourly` for days in [start, end)."""
        if end <= start:
            return 0
        statement = daily_from_hourly(start, end, self.timezone, plants)
        sums = collect([statement], self.store.read([statement.request]))
        lines = rollup_lines(DAILY_MEASUREMENT, sums, self.definition, True)
        self.store.write_lines(lines)
        return len(lines)

    def roll(
        self,
        start: datetime,
        end: datetime,
        series: frozenset[SeriesKey] | None,
        stop: threading.Event,
        progress: Callable[[datetime], None] | None = None,
    ) -> int:
        """Re-roll the hours of [start, end) and the local days holding them, in chunks
        (of the plants of `series`, every meter of them; None: every plant)."""
        plants = sorted({p for p, _ in series}) if series is not None else None
        start, end = (
            floor_to(start, HOUR),
            floor_to(end, HOUR) + (HOUR if end != floor_to(end, HOUR) else timedelta(0)),
        )
        written, chunk_start = 0, start
        chunks = max(1, -(-(end - start) // self.chunk))
        done = 0
        while chunk_start < end and not stop.is_set():
            chunk_end = min(end, self.local_day_floor(chunk_start + self.chunk))
            if chunk_end <= chunk_start:
                chunk_end = min(end, chunk_start + self.chunk)
            written += self.roll_hours(chunk_start, chunk_end, plants)
            written += self.roll_days(
                self.local_day_floor(chunk_start), self.local_day_after(chunk_end - HOUR), plants
            )
            done += 1
            if progress is not None:
                progress(chunk_end)
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


def fuel_job(
    store: Store,
    definition: Definition,
    rules: StepRules,
    timezone: str,
    *,
    chunk: timedelta = timedelta(days=7),
    clock: Callable[[], datetime] = utcnow,
    mark_lag: timedelta = DEFAULT_MARK_LAG,
    after_pass: Callable[[PassReport], None] | None = None,
    arrival_clock: Callable[[], datetime] = utcnow,
) -> ReadModelJob:
    """The read-model job with the fuel domain alone (tests, benchmarks)."""
    return ReadModelJob(
        store,
        [FuelRollup(store, definition, rules, timezone, chunk)],
        timezone,
        clock=clock,
        mark_lag=mark_lag,
        after_pass={"fuel": after_pass} if after_pass is not None else None,
        arrival_clock=arrival_clock,
    )
