"""Meter presence, one definition: when a meter last reported, and whether it still reports.

Used by the plants' live status (`GET /api/v1/plants`) and by the `meter_offline` alert.
A meter reports while its latest reading (any value, any flag) is no older than its kind's
allowance (`AlertRules.offline_minutes`: SPEC section 7, 15 min VOC, 60 min fuel).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from ingest.kernel.hj212 import MEASUREMENT_BY_CN
from ingest.kernel.reads import Points, tags
from ingest.kernel.store import Store

# Readings may carry device times a little ahead of ours (ingest allows 5 min).
FUTURE_SLACK = timedelta(minutes=5)
DEFAULT_OFFLINE_MINUTES = 60.0


def allowance_minutes(kind: str, offline_minutes: Mapping[str, float]) -> float:
    return offline_minutes.get(kind, DEFAULT_OFFLINE_MINUTES)


def silent_minutes(seen: datetime | None, now: datetime) -> float | None:
    """Minutes since the last reading (None: none in the lookback)."""
    return None if seen is None else (now - seen).total_seconds() / 60


def is_reporting(seen: datetime | None, now: datetime, allowance_min: float) -> bool:
    """True while the last reading is no older than the allowance."""
    silent = silent_minutes(seen, now)
    return silent is not None and silent <= allowance_min


def last_seen(
    store: Store,
    kinds: Iterable[str],
    now: datetime,
    lookback: timedelta,
    plant: str | None = None,
) -> dict[tuple[str, str], datetime]:
    """(plant, meter) -> time of its latest reading (any value, any flag) in the lookback."""
    # A stack's logger may upload only minute data (real-time upload is optional in HJ 212).
    names = sorted(set(kinds) | ({MEASUREMENT_BY_CN["2051"]} if "voc" in kinds else set()))
    if not names:
        return {}
    # Stored times are whole milliseconds: up to `now + FUTURE_SLACK` inclusive.
    start, end = now - lookback, now + FUTURE_SLACK + timedelta(milliseconds=1)
    where = tags(plant=plant) if plant is not None else ()
    requests = [Points(kind, (), start, end, where, ("plant", "meter"), newest=1) for kind in names]
    out: dict[tuple[str, str], datetime] = {}
    for series_list in store.read(requests):
        for s in series_list:
            if s.values:
                ts = datetime.fromtimestamp(s.values[0][0] / 1000, tz=UTC)
                key = (s.tags["plant"], s.tags["meter"])
                out[key] = max(ts, out.get(key, ts))
    return out
