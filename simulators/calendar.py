"""Working time in the county: local days, shifts, weekends and holidays (vectorised, pure).

The simulated plants keep China's working calendar (its holidays, Spring Festival and
shifts) in China Standard Time: that is a property of the simulated county, like its
holidays, not a deployment setting. CST has no daylight saving, so local days are integer
arithmetic on epoch seconds. What must agree with the collector and the API (HJ 212
`DataTime`, the days a history run covers) uses `PLANTWATCH_TIMEZONE` instead.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache

import numpy as np

CHINA_STANDARD_OFFSET_SECONDS = 8 * 3600
SECONDS_PER_DAY = 86_400
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)

# Spring Festival (lunar new year's day); firms close days before and reopen after the
# Lantern-festival week, because many workers travel home.
SPRING_FESTIVAL = {
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
}
SPRING_SHUTDOWN_BEFORE_DAYS = 6
SPRING_SHUTDOWN_AFTER_DAYS = 10
# (month, day, length in days): New Year, Qingming, Labour Day, National Day (fixed-date
# approximations; the lunar Dragon-boat and Mid-autumn days are left out).
FIXED_HOLIDAYS = ((1, 1, 1), (4, 5, 1), (5, 1, 5), (10, 1, 7))

# Shift patterns: local hours [start, end) when production runs.
SHIFTS: dict[str, tuple[float, float]] = {
    "three": (0.0, 24.0),  # round the clock
    "two": (6.0, 22.0),
    "day": (8.0, 18.0),
}


def local_day(ts_s: np.ndarray | int) -> np.ndarray:
    """Local (UTC+8) day number since 1970-01-01 of epoch seconds."""
    return np.floor_divide(
        np.asarray(ts_s, dtype=np.int64) + CHINA_STANDARD_OFFSET_SECONDS, SECONDS_PER_DAY
    )


def local_hour(ts_s: np.ndarray) -> np.ndarray:
    """Local (UTC+8) hour of day as a float in [0, 24)."""
    seconds = np.mod(
        np.asarray(ts_s, dtype=np.int64) + CHINA_STANDARD_OFFSET_SECONDS, SECONDS_PER_DAY
    )
    return seconds / 3600.0


def weekday(day: np.ndarray) -> np.ndarray:
    """Monday = 0 ... Sunday = 6 for local day numbers."""
    return np.mod(np.asarray(day) + EPOCH_WEEKDAY, 7)


def day_number(d: date) -> int:
    """Local day number of a calendar date."""
    return (d - date(1970, 1, 1)).days


def day_start_s(day: int) -> int:
    """Epoch seconds of local midnight starting local day `day`."""
    return day * SECONDS_PER_DAY - CHINA_STANDARD_OFFSET_SECONDS


def date_of_day(day: int) -> date:
    """Calendar date of a local day number."""
    return datetime.fromtimestamp(day * SECONDS_PER_DAY, UTC).date()


@lru_cache(maxsize=16)
def holiday_days(years: range) -> tuple[np.ndarray, np.ndarray]:
    """(public holiday day numbers, Spring Festival shutdown day numbers) for `years`."""
    holidays: list[int] = []
    shutdown: list[int] = []
    for year in years:
        for month, day, length in FIXED_HOLIDAYS:
            first = day_number(date(year, month, day))
            holidays.extend(range(first, first + length))
        festival = SPRING_FESTIVAL.get(year)
        if festival is not None:
            first = day_number(festival)
            shutdown.extend(
                range(first - SPRING_SHUTDOWN_BEFORE_DAYS, first + SPRING_SHUTDOWN_AFTER_DAYS + 1)
            )
    return np.array(sorted(set(holidays)), dtype=np.int64), np.array(shutdown, dtype=np.int64)


def production_on(
    ts_s: np.ndarray, shift: str, works_saturday: bool, works_sunday: bool
) -> np.ndarray:
    """Boolean mask: is the firm's production line running at each time?"""
    day = local_day(ts_s)
    hour = local_hour(ts_s)
    start, end = SHIFTS[shift]
    on = (hour >= start) & (hour < end)
    wd = weekday(day)
    if not works_saturday:
        on &= wd != 5
    if not works_sunday:
        on &= wd != 6
    years = range(int(date_of_day(int(day.min())).year), int(date_of_day(int(day.max())).year) + 1)
    holidays, shutdown = holiday_days(years)
    on &= ~np.isin(day, holidays) & ~np.isin(day, shutdown)
    return on


def spring_shutdown(ts_s: np.ndarray) -> np.ndarray:
    """Boolean mask: is the time inside the Spring Festival shutdown (furnaces cold)?"""
    day = local_day(ts_s)
    years = range(int(date_of_day(int(day.min())).year), int(date_of_day(int(day.max())).year) + 1)
    return np.isin(day, holiday_days(years)[1])
