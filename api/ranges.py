"""Time ranges, bucket widths and the plan of which source answers which part of a range.

Pure functions: client input (`start`, `end`, `every`) is checked here before anything is
built into a store request, and `plan_segments` decides which stretches of a range come from the
daily rollup, the hourly rollup or raw readings.

A rollup level can answer a stretch only if the stretch is made of whole rollup periods
already rolled up, and (for bucketed answers) if every bucket boundary is a period
boundary; everything else is answered from raw readings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from api.errors import InvalidInput

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
FIRST_MONDAY = timedelta(days=4)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MIN_EVERY = timedelta(minutes=1)
MAX_RANGE = timedelta(days=3660)
EVERY_PATTERN = re.compile(r"\A([1-9][0-9]{0,5})(m|h|d|w)\Z")
EVERY_UNITS = {"m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RangeError(InvalidInput, ValueError):
    """A client's time range or bucket width is unusable; the message says why."""


def check_instant(name: str, ts: datetime) -> datetime:
    """An aware instant within 2000..2099, as UTC."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise RangeError(f"{name!r} needs a UTC offset, e.g. 2026-06-30T00:00:00+08:00")
    try:
        ts = ts.astimezone(UTC)
    except OverflowError:
        raise RangeError(f"{name!r} must lie in 2000..2099, got {ts.isoformat()}") from None
    if not EARLIEST <= ts < LATEST:
        raise RangeError(f"{name!r} must lie in 2000..2099, got {ts.isoformat()}")
    return ts


def check_range(start: datetime, end: datetime, max_range: timedelta = MAX_RANGE) -> None:
    """`start` < `end`, at most `max_range` apart."""
    if end <= start:
        raise RangeError(f"'end' ({end.isoformat()}) must be after 'start' ({start.isoformat()})")
    if end - start > max_range:
        raise RangeError(f"range of {(end - start).days} days exceeds {max_range.days} days")


def parse_every(text: str) -> timedelta:
    """A bucket width like `15m`, `1h`, `1d`, `1w` (minutes at the finest)."""
    match = EVERY_PATTERN.match(text)
    if match is None:
        raise RangeError(
            f"'every' must be a whole number followed by m, h, d or w (e.g. 15m, 1h, 1d), got {text!r}"
        )
    every = timedelta(seconds=int(match.group(1)) * EVERY_UNITS[match.group(2)])
    if every > MAX_RANGE:
        raise RangeError(f"'every' of {text} exceeds {MAX_RANGE.days} days")
    return every


def day_offset(tz: ZoneInfo, at: datetime) -> timedelta:
    """Where local midnights fall on the UTC day grid at `at` (Asia/Shanghai: 16 h)."""
    utcoffset = at.astimezone(tz).utcoffset() or timedelta(0)
    return timedelta(seconds=(-utcoffset.total_seconds()) % 86_400)


def bucket_offset(every: timedelta, tz: ZoneInfo, at: datetime) -> timedelta:
    """Buckets of whole days start at local midnight (weeks on Monday); shorter ones on the UTC grid."""
    utcoffset = at.astimezone(tz).utcoffset() or timedelta(0)
    if every % WEEK == timedelta(0):
        # The epoch was a Thursday; 1970-01-05 was the first Monday.
        return (FIRST_MONDAY - utcoffset) % every
    if every % DAY == timedelta(0):
        return -utcoffset % every
    return timedelta(0)


def floor_to(ts: datetime, every: timedelta, offset: timedelta = timedelta(0)) -> datetime:
    """The start of the bucket (`every` wide, shifted by `offset` from the epoch) holding `ts`."""
    return ts - ((ts - EPOCH - offset) % every)


def ceil_to(ts: datetime, every: timedelta, offset: timedelta = timedelta(0)) -> datetime:
    floored = floor_to(ts, every, offset)
    return floored if floored == ts else floored + every


def bucket_count(start: datetime, end: datetime, every: timedelta, offset: timedelta) -> int:
    """Buckets (aligned to the grid, clipped to the range) that [start, end) touches."""
    first = floor_to(start, every, offset)
    return math.ceil((end - first) / every)


def check_buckets(
    start: datetime, end: datetime, every: timedelta, offset: timedelta, max_buckets: int
) -> int:
    """The bucket count, or `RangeError` if a client asked for more than `max_buckets`."""
    n = bucket_count(start, end, every, offset)
    if n > max_buckets:
        raise RangeError(
            f"{n} intervals of {every} between 'start' and 'end'; at most {max_buckets}: "
            "use a larger 'every' or a shorter range"
        )
    return n


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch [start, end) answered from one source: `daily`, `hourly` or `raw`."""

    source: str
    start: datetime
    end: datetime


def plan_segments(
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    hourly_until: datetime | None,
    daily_until: datetime | None,
    every: timedelta | None = None,
    offset: timedelta = timedelta(0),
) -> list[Segment]:
    """Split [start, end) into stretches answered from daily, hourly and raw data.

    `hourly_until` / `daily_until` are the rollup watermarks (None: nothing rolled up).
    With `every`, a rollup level is used only if each bucket is made of whole periods.
    """
    hourly_ok = hourly_until is not None and (
        every is None or (every % HOUR == timedelta(0) and offset % HOUR == timedelta(0))
    )
    if not hourly_ok:
        return [Segment("raw", start, end)]
    assert hourly_until is not None
    h0 = ceil_to(start, HOUR)
    h1 = min(floor_to(end, HOUR), hourly_until)
    if h1 <= h0:
        return [Segment("raw", start, end)]
    middle = [Segment("hourly", h0, h1)]
    grid = day_offset(tz, h0)
    # Days must be whole local days on one fixed grid (no daylight-saving change inside).
    daily_ok = (
        daily_until is not None
        and day_offset(tz, h1) == grid
        and (
            every is None or (every % DAY == timedelta(0) and (offset - grid) % DAY == timedelta(0))
        )
    )
    if daily_ok:
        assert daily_until is not None
        d0 = ceil_to(h0, DAY, grid)
        d1 = min(floor_to(h1, DAY, grid), daily_until)
        if d0 < d1:
            middle = [
                Segment("hourly", h0, d0),
                Segment("daily", d0, d1),
                Segment("hourly", d1, h1),
            ]
    segments = [Segment("raw", start, h0), *middle, Segment("raw", h1, end)]
    return [s for s in segments if s.start < s.end]


def check_raw_span(plan: Sequence[Segment], max_raw: timedelta) -> None:
    """Refuse a plan that would scan more than `max_raw` of raw points (rollups answer the rest)."""
    raw = sum((s.end - s.start for s in plan if s.source == "raw"), timedelta(0))
    if raw > max_raw:
        raise RangeError(
            f"this request needs {raw / DAY:.1f} days of raw readings, more than the "
            f"{max_raw / DAY:g} allowed: use whole-hour intervals (e.g. every=1h or 1d), "
            "which rolled-up data answers, or a shorter range"
        )


@dataclass(frozen=True, slots=True)
class Window:
    """A checked request range cut into `buckets` intervals of `every` on the local grid."""

    start: datetime
    end: datetime
    every: timedelta
    offset: timedelta
    first_bucket: datetime
    buckets: int


DEFAULT_RANGE = timedelta(days=30)


def resolve_window(
    start: datetime | None,
    end: datetime | None,
    every: str,
    tz: ZoneInfo,
    now: datetime,
    max_buckets: int,
) -> Window:
    """Defaults (end now, start 30 days before), checks, and the bucket grid of a usage request."""
    end_utc = check_instant("end", end) if end is not None else now.astimezone(UTC)
    start_utc = check_instant("start", start) if start is not None else end_utc - DEFAULT_RANGE
    check_range(start_utc, end_utc)
    width = parse_every(every)
    offset = bucket_offset(width, tz, start_utc)
    n = check_buckets(start_utc, end_utc, width, offset, max_buckets)
    return Window(start_utc, end_utc, width, offset, floor_to(start_utc, width, offset), n)


def data_through(last_readings: Sequence[datetime | None]) -> datetime | None:
    """Up to when every one of these meters has reported: the oldest of their last readings
    (None if one never did, or there are none)."""
    if not last_readings or any(t is None for t in last_readings):
        return None
    return min(t for t in last_readings if t is not None)
