"""Segment planning, pure: dirty marks -> the hours of each series to re-roll -> runs.

A pass re-rolls, per series (plant, meter), the hours its marks name; consecutive hours
marked for the same series are rolled together (live data: every series at once; a
back-fill: every series its days touch), one run of hours at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from ingest.kernel.dirty import DirtyRun

HOUR = timedelta(hours=1)

SeriesKey = tuple[str, str]  # plant, meter


def marked_hours(
    runs: Iterable[DirtyRun], before: datetime | None = None
) -> dict[SeriesKey, set[datetime]]:
    """Series -> the hours its marks name (only hours starting before `before`, if given)."""
    out: dict[SeriesKey, set[datetime]] = {}
    for r in runs:
        h = r.first_hour
        end = r.end_hour if before is None else min(r.end_hour, before)
        while h < end:
            out.setdefault((r.plant, r.meter), set()).add(h)
            h += HOUR
    return out


def hour_groups(
    hours: Mapping[SeriesKey, set[datetime]],
) -> list[tuple[datetime, datetime, frozenset[SeriesKey]]]:
    """Runs [start, end) of hours marked for the same series, oldest first.

    Grouped by hour, not by series: a county's back-fill marks each series' days at slightly
    different moments, so per-series hour sets all differ (one roll each: 25 stacks x a
    month took the VOC domain over ten minutes at `make run`), while the series marked at
    each hour are mostly the same set (one roll for the month)."""
    by_hour: dict[datetime, set[SeriesKey]] = {}
    for key, hs in hours.items():
        for h in hs:
            by_hour.setdefault(h, set()).add(key)
    out: list[tuple[datetime, datetime, frozenset[SeriesKey]]] = []
    for h in sorted(by_hour):
        series = frozenset(by_hour[h])
        if out and out[-1][1] == h and out[-1][2] == series:
            out[-1] = (out[-1][0], h + HOUR, series)
        else:
            out.append((h, h + HOUR, series))
    return out
