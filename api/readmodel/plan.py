"""Segment planning, pure: dirty marks -> the hours of each series to re-roll -> runs.

A pass re-rolls, per series (plant, meter), the hours its marks name; series with the same
hours are rolled together (live data: every series at once), one contiguous run of hours
at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from ingest.dirty import DirtyRun

HOUR = timedelta(hours=1)

SeriesKey = tuple[str, str]  # plant, meter
Runs = tuple[tuple[datetime, datetime], ...]


def merge_hours(hours: Iterable[datetime]) -> Runs:
    """Contiguous runs [start, end) of whole hours, e.g. {0h, 1h, 3h} -> ((0h, 2h), (3h, 4h))."""
    runs: list[tuple[datetime, datetime]] = []
    for h in sorted(set(hours)):
        if runs and runs[-1][1] == h:
            runs[-1] = (runs[-1][0], h + HOUR)
        else:
            runs.append((h, h + HOUR))
    return tuple(runs)


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


def group_series(hours: Mapping[SeriesKey, set[datetime]]) -> dict[Runs, frozenset[SeriesKey]]:
    """The runs to roll -> the series that share exactly those runs."""
    groups: dict[Runs, set[SeriesKey]] = {}
    for key, hs in hours.items():
        if hs:
            groups.setdefault(merge_hours(hs), set()).add(key)
    return {runs: frozenset(keys) for runs, keys in groups.items()}
