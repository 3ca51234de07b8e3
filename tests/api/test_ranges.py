"""Time ranges, bucket grids and the source plan, with literal tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.ranges import (
    RangeError,
    Segment,
    bucket_offset,
    check_instant,
    parse_every,
    plan_segments,
    resolve_window,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
H, D = timedelta(hours=1), timedelta(days=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900), ("1h", 3600), ("6h", 21_600), ("1d", 86_400), ("2w", 1_209_600)],
)
def test_parse_every(text: str, seconds: int) -> None:
    assert parse_every(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text",
    ["", "0m", "1s", "1y", "1.5h", "01h", "h", "1h; DROP DATABASE x", "999999w", " 1h", "1h\n"],
)
def test_parse_every_refuses(text: str) -> None:
    with pytest.raises(RangeError):
        parse_every(text)


@pytest.mark.parametrize(
    ("ts", "message"),
    [
        (datetime(2026, 1, 1), "needs a UTC offset"),
        (utc(1999, 12, 31, 23), "2000..2099"),
        (utc(2100, 1, 1), "2000..2099"),
    ],
)
def test_check_instant_refuses(ts: datetime, message: str) -> None:
    with pytest.raises(RangeError, match=message):
        check_instant("start", ts)


@pytest.mark.parametrize(
    ("every", "offset"),
    [
        (H, timedelta(0)),
        (D, 16 * H),  # Songyang midnight is 16:00 UTC
        (2 * D, D + 16 * H),
        (timedelta(weeks=1), 3 * D + 16 * H),  # Monday 00:00 +08:00 = Sunday 16:00 UTC
    ],
)
def test_bucket_offset(every: timedelta, offset: timedelta) -> None:
    assert bucket_offset(every, SHANGHAI, utc(2026, 3, 1)) == offset


START, END = utc(2026, 3, 1, 0, 30), utc(2026, 3, 5, 10, 10)
HOURLY, DAILY = utc(2026, 3, 5, 9), utc(2026, 3, 4, 16)


@pytest.mark.parametrize(
    ("hourly", "daily", "every", "offset", "expected"),
    [
        (None, None, None, timedelta(0), [("raw", START, END)]),
        (
            HOURLY,
            DAILY,
            None,
            timedelta(0),
            [
                ("raw", START, utc(2026, 3, 1, 1)),
                ("hourly", utc(2026, 3, 1, 1), utc(2026, 3, 1, 16)),
                ("daily", utc(2026, 3, 1, 16), utc(2026, 3, 4, 16)),
                ("hourly", utc(2026, 3, 4, 16), HOURLY),
                ("raw", HOURLY, END),
            ],
        ),
        # 6-hour buckets are whole hours but not whole days
        (
            HOURLY,
            DAILY,
            6 * H,
            timedelta(0),
            [
                ("raw", START, utc(2026, 3, 1, 1)),
                ("hourly", utc(2026, 3, 1, 1), HOURLY),
                ("raw", HOURLY, END),
            ],
        ),
        (HOURLY, DAILY, timedelta(minutes=15), timedelta(0), [("raw", START, END)]),
        # days on the UTC grid are not local days
        (
            HOURLY,
            DAILY,
            D,
            timedelta(0),
            [
                ("raw", START, utc(2026, 3, 1, 1)),
                ("hourly", utc(2026, 3, 1, 1), HOURLY),
                ("raw", HOURLY, END),
            ],
        ),
        (
            HOURLY,
            DAILY,
            D,
            16 * H,
            [
                ("raw", START, utc(2026, 3, 1, 1)),
                ("hourly", utc(2026, 3, 1, 1), utc(2026, 3, 1, 16)),
                ("daily", utc(2026, 3, 1, 16), utc(2026, 3, 4, 16)),
                ("hourly", utc(2026, 3, 4, 16), HOURLY),
                ("raw", HOURLY, END),
            ],
        ),
        # nothing rolled up inside the range yet
        (utc(2026, 2, 1), utc(2026, 2, 1), None, timedelta(0), [("raw", START, END)]),
        # daily rollup behind: hourly covers the rest
        (
            HOURLY,
            utc(2026, 3, 1),
            None,
            timedelta(0),
            [
                ("raw", START, utc(2026, 3, 1, 1)),
                ("hourly", utc(2026, 3, 1, 1), HOURLY),
                ("raw", HOURLY, END),
            ],
        ),
    ],
)
def test_plan_segments(
    hourly: datetime | None,
    daily: datetime | None,
    every: timedelta | None,
    offset: timedelta,
    expected: list[tuple[str, datetime, datetime]],
) -> None:
    plan = plan_segments(START, END, SHANGHAI, hourly, daily, every, offset)
    assert plan == [Segment(*s) for s in expected]


def test_resolve_window_defaults_and_grid() -> None:
    now = utc(2026, 3, 10, 5, 17)
    window = resolve_window(None, None, "1d", SHANGHAI, now, 5000)
    assert window.end == now
    assert window.start == now - 30 * D
    assert window.first_bucket == utc(2026, 2, 7, 16)  # local midnight of 8 Feb
    assert window.buckets == 31


@pytest.mark.parametrize(
    ("start", "end", "every", "message"),
    [
        (utc(2026, 3, 2), utc(2026, 3, 1), "1h", "must be after"),
        (utc(2026, 3, 1), utc(2026, 3, 1), "1h", "must be after"),
        (utc(2026, 1, 1), utc(2026, 3, 1), "1m", "at most 5000"),
        (utc(2010, 1, 1), utc(2026, 3, 1), "1w", "exceeds 3660 days"),
        (utc(2026, 1, 1), utc(2026, 3, 1), "1x", "'every'"),
    ],
)
def test_resolve_window_refuses(start: datetime, end: datetime, every: str, message: str) -> None:
    with pytest.raises(RangeError, match=message):
        resolve_window(start, end, every, SHANGHAI, end, 5000)
