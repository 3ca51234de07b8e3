"""Rollup dirty marks: which hours of which series a write touched, stamped at write time.

Rollups must follow late data (SPEC section 5): a reading that arrives minutes or months
after its device time changes hours that were rolled up long ago. So every write of raw
readings also writes, in the same request, `rollup_dirty` marks:

    rollup_dirty,measurement=gas,meter=gas-1,plant=ss-001 first_hour_ms=…,end_hour_ms=…,points=96i <write time>

one per contiguous run of touched hours [first_hour_ms, end_hour_ms) per (measurement,
plant, meter). A mark is timestamped with the *arrival* (write) time, not the data's time,
so a rollup job reading marks newer than its cursor sees every late reading however old.
Marks are written at the one edge where readings reach InfluxDB (`write_readings`, used by
the collector and by spool replay), so a replayed spool marks its hours when it lands.

`dirty_runs(store, since, until, measurements)` reads them back; any rollup (fuel today,
VOC hourly means next) plugs in by naming its measurements. The identity of a mark is its
tags and time: stamps are strictly increasing within a process so two writes of the same
meter in one millisecond cannot overwrite each other's mark.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ingest.store import InfluxStore, Store, encode_point

DIRTY_MEASUREMENT = "rollup_dirty"
HOUR_MS = 3_600_000
# Measurements whose writes are marked: fuel registers, and the VOC readings behind the
# `voc_hourly` rollup (real-time, minute and hourly data of HJ 212 loggers).
ROLLED_UP: frozenset[str] = frozenset({"gas", "coal", "voc", "voc_minute", "voc_hour"})

_UNESCAPED_COMMA = re.compile(r"(?<!\\),")
_UNESCAPED_SPACE = re.compile(r"(?<!\\) ")

SeriesKey = tuple[str, str, str]  # measurement, plant, meter


@dataclass(frozen=True, slots=True)
class DirtyRun:
    """Hours [first_hour, end_hour) of one series were written to at `written_at`."""

    measurement: str
    plant: str
    meter: str
    first_hour: datetime
    end_hour: datetime
    written_at: datetime


def series_of(line: str) -> tuple[SeriesKey, int] | None:
    """(measurement, plant, meter) and device time (ms) of one line, or None if not parseable."""
    head_match = _UNESCAPED_SPACE.search(line)
    if head_match is None:
        return None
    head = line[: head_match.start()]
    ts_text = line.rsplit(" ", 1)[-1]
    if not ts_text.isdigit():
        return None
    parts = _UNESCAPED_COMMA.split(head)
    tags = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    return (parts[0], tags.get("plant", ""), tags.get("meter", "")), int(ts_text)


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


def dirty_lines(
    lines: Sequence[str], written_ms: int, tracked: frozenset[str] = ROLLED_UP
) -> list[str]:
    """The `rollup_dirty` marks for `lines` (only measurements in `tracked`)."""
    per_hour: dict[SeriesKey, dict[int, int]] = {}
    for line in lines:
        found = series_of(line)
        if found is None or found[0][0] not in tracked:
            continue
        key, ts_ms = found
        hours = per_hour.setdefault(key, {})
        hour = ts_ms - ts_ms % HOUR_MS
        hours[hour] = hours.get(hour, 0) + 1
    runs = [(key, run) for key in sorted(per_hour) for run in hour_runs(per_hour[key])]
    if not runs:
        return []
    first = _stamps.take(len(runs), written_ms)
    out = []
    for index, (key, (start, end)) in enumerate(runs):
        points = sum(n for hour, n in per_hour[key].items() if start <= hour < end)
        out.append(
            encode_point(
                DIRTY_MEASUREMENT,
                {"measurement": key[0], "plant": key[1] or "-", "meter": key[2] or "-"},
                {"first_hour_ms": start, "end_hour_ms": end, "points": points},
                first + index,
            )
        )
    return out


def write_readings(
    store: InfluxStore, lines: Sequence[str], tracked: frozenset[str] = ROLLED_UP
) -> None:
    """Write raw readings with their dirty marks in one request (the collector's and replay's edge)."""
    marks = dirty_lines(lines, int(time.time() * 1000), tracked)
    store.write_lines([*lines, *marks] if marks else lines)


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
