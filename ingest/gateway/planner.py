"""When to ask a logger for something. Pure: times in, decisions out.

- A gap: a packet newer than the last one seen from the same logger at the same level
  (minute data: CN 2011/2051; hour data: CN 2061) by more than the allowed silence means
  the logger was away: ask for the minutes (CN 2051) or hours (CN 2061) in between.
- Clock drift: a logger's CN 1011 SystemTime against the gateway's clock when it came.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.kernel import hj212

LEVEL_OF_CN = {hj212.CN_REALTIME: hj212.CN_MINUTE, hj212.CN_MINUTE: hj212.CN_MINUTE}
LEVEL_OF_CN[hj212.CN_HOUR] = hj212.CN_HOUR
STEP = {hj212.CN_MINUTE: timedelta(minutes=1), hj212.CN_HOUR: timedelta(hours=1)}


@dataclass(frozen=True, slots=True)
class Backfill:
    cn: str  # 2051 or 2061: what to ask for
    begin: datetime
    end: datetime


def backfill_for(
    cn: str,
    last_seen: datetime | None,
    data_time: datetime,
    min_gap: timedelta,
    max_span: timedelta,
) -> Backfill | None:
    """The history to request when `data_time` follows `last_seen` after a silence."""
    level = LEVEL_OF_CN.get(cn)
    if level is None or last_seen is None or data_time <= last_seen:
        return None
    gap = max(min_gap, STEP[level] * 2) if level == hj212.CN_HOUR else min_gap
    if data_time - last_seen <= gap:
        return None
    begin = last_seen + STEP[level]
    end = data_time - STEP[level]
    begin = max(begin, end - max_span)
    return Backfill(level, begin, end) if begin <= end else None


def drift_seconds(logger_time: datetime, received: datetime) -> float:
    """How far ahead (+) or behind (-) the logger's clock runs."""
    return round((logger_time - received).total_seconds(), 3)
