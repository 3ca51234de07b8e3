"""Meter presence, one definition: when a meter last reported, and whether it still reports.

Used by the plants' live status (`GET /api/v1/plants`) and by the `meter_offline` alert.
A meter reports while its latest reading (any value, any flag) is no older than its kind's
allowance (`AlertRules.offline_minutes`: SPEC section 7, 15 min VOC, 60 min fuel). A meter
whose latest reading is older than that but *arrived* within it is catching up (a logger
emptying its buffer, a back-fill): it is delivering, so it is not offline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ingest.kernel.hj212 import MEASUREMENT_BY_CN
from ingest.kernel.reads import Points, tags
from ingest.kernel.record import ARRIVED_FIELD
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


@dataclass(frozen=True, slots=True)
class Seen:
    """A meter's latest reading: its time, and when it reached the store (None: unknown)."""

    at: datetime
    arrived: datetime | None = None


def catching_up(seen: Seen | None, now: datetime, allowance_min: float) -> bool:
    """Behind by its readings' time, but its latest reading arrived within the allowance."""
    return (
        seen is not None
        and not is_reporting(seen.at, now, allowance_min)
        and seen.arrived is not None
        and (now - seen.arrived).total_seconds() / 60 <= allowance_min
    )


def last_seen(
    store: Store,
    kinds: Iterable[str],
    now: datetime,
    lookback: timedelta,
    plant: str | None = None,
) -> dict[tuple[str, str], datetime]:
    """(plant, meter) -> time of its latest reading (any value, any flag) in the lookback."""
    return {key: seen.at for key, seen in latest_seen(store, kinds, now, lookback, plant).items()}


def latest_seen(
    store: Store,
    kinds: Iterable[str],
    now: datetime,
    lookback: timedelta,
    plant: str | None = None,
) -> dict[tuple[str, str], Seen]:
    """(plant, meter) -> its latest reading (any value, any flag) in the lookback: time and
    arrival (the `_arrived_ms` the record keeps on every reading)."""
    # A stack's logger may upload only minute data (real-time upload is optional in HJ 212).
    names = sorted(set(kinds) | ({MEASUREMENT_BY_CN["2051"]} if "voc" in kinds else set()))
    if not names:
        return {}
    # Stored times are whole milliseconds: up to `now + FUTURE_SLACK` inclusive.
    start, end = now - lookback, now + FUTURE_SLACK + timedelta(milliseconds=1)
    where = tags(plant=plant) if plant is not None else ()
    requests = [Points(kind, (), start, end, where, ("plant", "meter"), newest=1) for kind in names]
    out: dict[tuple[str, str], Seen] = {}
    for series_list in store.read(requests):
        for s in series_list:
            if not s.values:
                continue
            row = s.values[0]
            ts = datetime.fromtimestamp(row[0] / 1000, tz=UTC)
            column = s.columns.index(ARRIVED_FIELD) if ARRIVED_FIELD in s.columns else None
            arrived_ms = row[column] if column is not None else None
            arrived = (
                datetime.fromtimestamp(arrived_ms / 1000, tz=UTC)
                if isinstance(arrived_ms, int | float)
                else None
            )
            key = (s.tags["plant"], s.tags["meter"])
            if key not in out or ts > out[key].at:
                out[key] = Seen(ts, arrived)
    return out
