"""Rollup dirty marks: which hours of which series a write touched, stamped at write time.

Rollups must follow late data (SPEC section 5): a reading that arrives minutes or months
after its device time changes hours that were rolled up long ago. So every write of raw
readings also writes, in the same request, `rollup_dirty` marks:

    rollup_dirty,measurement=gas,meter=gas-1,plant=ss-001 first_hour_ms=…,end_hour_ms=…,points=96i <write time>

one per contiguous run of touched hours [first_hour_ms, end_hour_ms) per (measurement,
plant, meter). A mark is timestamped with the *arrival* (write) time, not the data's time,
so a rollup job reading marks newer than its cursor sees every late reading however old.
Marks are computed from the points written (`dirty_points`, never by re-reading line
protocol) at the one edge where readings reach the store: the record keeper for the collector
and its spool replay (ingest/keeper.py; on ClickHouse the marks are rows of a `rollup_dirty`
table with these fields, ingest/kernel/clickhouse.py), `write_readings` elsewhere.

`dirty_runs(store, since, until, measurements)` reads them back; any rollup (fuel today,
VOC hourly means next) plugs in by naming its measurements. The identity of a mark is its
tags and time: stamps are strictly increasing within a process so two writes of the same
meter in one millisecond cannot overwrite each other's mark.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ingest.kernel.lineproto import Point, SeriesKey, encode, parse_line
from ingest.kernel.store import Store

DIRTY_MEASUREMENT = "rollup_dirty"
HOUR_MS = 3_600_000
# Measurements whose writes are marked: fuel registers, and the VOC readings behind the
# `voc_hourly` rollup (real-time, minute and hourly data of HJ 212 loggers).
ROLLED_UP: frozenset[str] = frozenset({"gas", "coal", "voc", "voc_minute", "voc_hour"})


@dataclass(frozen=True, slots=True)
class DirtyRun:
    """Hours [first_hour, end_hour) of one series were written to at `written_at`."""

    measurement: str
    plant: str
    meter: str
    first_hour: datetime
    end_hour: datetime
    written_at: datetime


def hour_runs(hours_ms: Iterable[int]) -> list[tuple[int, int]]:
    """Contiguous runs [first, end) of hour starts (ms), e.g. {0, 1h, 3h} -> [(0, 2h), (3h, 4h)]."""
    runs: list[tuple[int, int]] = []
    for hour in sorted(set(hours_ms)):
        if runs and runs[-1][1] == hour:
            runs[-1] = (runs[-1][0], hour + HOUR_MS)
        else:
            runs.append((hour, hour + HOUR_MS))
    return runs


class _Stamps:
    """Strictly increasing write-time stamps (ms) within this process."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def take(self, count: int, now_ms: int) -> int:
        """Reserve `count` consecutive stamps, the first at or after `now_ms`; returns the first."""
        with self._lock:
            first = max(now_ms, self._last + 1)
            self._last = first + count - 1
            return first


_stamps = _Stamps()


def dirty_points(
    points: Iterable[Point], written_ms: int, tracked: frozenset[str] = ROLLED_UP
) -> list[Point]:
    """The `rollup_dirty` marks for `points` (only measurements in `tracked`)."""
    per_hour: dict[SeriesKey, dict[int, int]] = {}
    for point in points:
        if point.measurement not in tracked:
            continue
        hours = per_hour.setdefault(point.series, {})
        hour = point.ts_ms - point.ts_ms % HOUR_MS
        hours[hour] = hours.get(hour, 0) + 1
    runs = [(key, run) for key in sorted(per_hour) for run in hour_runs(per_hour[key])]
    if not runs:
        return []
    first = _stamps.take(len(runs), written_ms)
    out = []
    for index, (key, (start, end)) in enumerate(runs):
        count = sum(n for hour, n in per_hour[key].items() if start <= hour < end)
        out.append(
            Point(
                DIRTY_MEASUREMENT,
                {"measurement": key[0], "plant": key[1] or "-", "meter": key[2] or "-"},
                {"first_hour_ms": start, "end_hour_ms": end, "points": count},
                first + index,
            )
        )
    return out


def dirty_lines(
    lines: Sequence[str], written_ms: int, tracked: frozenset[str] = ROLLED_UP
) -> list[str]:
    """The marks for lines written by a caller that holds line protocol (an officer's revision)."""
    points = [p for p in map(parse_line, lines) if p is not None]
    return [encode(mark) for mark in dirty_points(points, written_ms, tracked)]


def write_readings(store: Store, lines: Sequence[str], tracked: frozenset[str] = ROLLED_UP) -> None:
    """Write lines as they are with their dirty marks in one request (tests, bench, replay)."""
    points = [p for p in map(parse_line, lines) if p is not None]
    marks = dirty_points(points, int(time.time() * 1000), tracked)
    store.write_lines([*lines, *map(encode, marks)])


def dirty_runs(
    store: Store, since: datetime, until: datetime, measurements: Iterable[str]
) -> list[DirtyRun]:
    """Marks written in (since, until] for `measurements`, oldest first."""
    names = sorted(set(measurements))
    if not names:
        return []
    ms = timedelta(milliseconds=1)  # marks are stamped in whole ms
    series = store.read_range(
        DIRTY_MEASUREMENT,
        ("first_hour_ms", "end_hour_ms"),
        since + ms,
        until + ms,
        where={"measurement": names},
        group_by=("measurement", "plant", "meter"),
    )
    out = []
    for s in series:
        for ts, first, end in s.values:
            if first is None or end is None:
                continue
            out.append(
                DirtyRun(
                    s.tags.get("measurement", ""),
                    s.tags.get("plant", ""),
                    s.tags.get("meter", ""),
                    datetime.fromtimestamp(first / 1000, UTC),
                    datetime.fromtimestamp(end / 1000, UTC),
                    datetime.fromtimestamp(ts / 1000, UTC),
                )
            )
    return sorted(out, key=lambda r: (r.written_at, r.measurement, r.plant, r.meter))
