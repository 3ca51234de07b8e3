"""The InfluxDB edge of the alert engine: what each rule needs, as of an instant `now`.

Every query names its time range with literals built from `now` (never InfluxQL `now()`),
so an evaluation is reproducible and tests can drive the engine with their own clock.
Hourly means come from `api.voc.service.compliance`, the code behind the compliance
endpoint, so alerts and reports apply the same validity rules. Meter presence is
`api.presence` and fuel figures are `api.fuel` (the engine calls them directly): no copies here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from api.alerts.model import LOGGER_AUTH_FAILURES, LOGGER_CLOCK_DRIFT
from api.alerts.rules import (
    AuthLockouts,
    ClockCheck,
    MeterRef,
    Peak,
    PendingRevisions,
    StackSeries,
)
from api.presence import FUTURE_SLACK
from api.voc.queries import MINUTE_MEASUREMENT, REALTIME_MEASUREMENT
from api.voc.rules import EMPTY_SPANS, FLOW_FIELD, Limit, Spans, StackCompliance
from api.voc.service import compliance
from ingest.kernel.hj212 import EVENT_MEASUREMENT
from ingest.metrics import STATS_MEASUREMENT
from ingest.kernel.points import FLAG_SUFFIX
from ingest.kernel.record import ARRIVED_FIELD, REVISIONS_MEASUREMENT
from ingest.kernel.registry import Registry
from ingest.kernel.schema import VALID_FLAG, to_epoch_ms
from ingest.kernel.influxql import influx_time, quote_ident, quote_literal
from ingest.kernel.store import InfluxStore

# Real-time readings and the logger's minute data are both readings of the stack.
VOC_SOURCES = f"{quote_ident(REALTIME_MEASUREMENT)}, {quote_ident(MINUTE_MEASUREMENT)}"


def stack_limits(registry: Registry) -> dict[tuple[str, str], dict[str, Limit]]:
    """(plant, meter) -> pollutant -> limit, for every VOC stack of the registry."""
    return {(p.id, m.id): m.limits() for p in registry.plants for m in p.meters_of("voc")}


def meter_refs(registry: Registry) -> list[MeterRef]:
    return [MeterRef(p.id, m.id, m.kind) for p in registry.plants for m in p.meters]


# Accepted marks' spans over [start, end), or None where the engine has no marks.
Marks = Callable[[datetime, datetime], Spans] | None


def recent_hours(
    store: InfluxStore, registry: Registry, now: datetime, hours: int, marks: Marks = None
) -> list[StackCompliance]:
    """Hourly compliance of every stack over the last `hours` whole hours before `now`."""
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return past_hours(store, registry, end - timedelta(hours=hours), end, now, marks)


def past_hours(
    store: InfluxStore,
    registry: Registry,
    start: datetime,
    end: datetime,
    now: datetime,
    marks: Marks = None,
) -> list[StackCompliance]:
    """Hourly compliance of every stack over the whole hours in [start, end); `marks` gives
    the accepted marks' spans there (api.marks.repo.MarkRepo.spans)."""
    plants = [p for p in registry.plants if p.meters_of("voc")]
    if not plants or end <= start:
        return []
    spans = marks(start, end) if marks is not None else EMPTY_SPANS
    return compliance(store, plants, start, end, now, spans)


def peaks(
    store: InfluxStore, pollutants: Sequence[str], now: datetime, lookback: timedelta
) -> list[Peak]:
    """The highest valid reading per stack and pollutant in [now - lookback, now]."""
    if not pollutants:
        return []
    statements = ";".join(
        f"SELECT max({quote_ident(p)}) FROM {VOC_SOURCES} "
        f"WHERE {quote_ident(p + FLAG_SUFFIX)} = {quote_literal(VALID_FLAG)} "
        f"AND time >= {influx_time(now - lookback)} AND time <= {influx_time(now + FUTURE_SLACK)} "
        f'GROUP BY "plant", "meter"'
        for p in pollutants
    )
    out = []
    for pollutant, series_list in zip(pollutants, store.query_many(statements), strict=True):
        for s in series_list:
            for ts_ms, value in s.values:
                if value is not None:
                    out.append(
                        Peak(
                            s.tags["plant"],
                            s.tags["meter"],
                            pollutant,
                            float(value),
                            datetime.fromtimestamp(ts_ms / 1000, tz=UTC),
                        )
                    )
    return out


def raw_series(
    store: InfluxStore, names: Sequence[str], now: datetime, lookback: timedelta
) -> list[StackSeries]:
    """Raw readings of `names` (and flow) per stack; values not flagged N become NaN."""
    fields = list(dict.fromkeys([*names, FLOW_FIELD]))
    columns = ", ".join(f"{quote_ident(f)}, {quote_ident(f + FLAG_SUFFIX)}" for f in fields)
    series = store.query(
        f"SELECT {columns} FROM {VOC_SOURCES} "
        f"WHERE time >= {influx_time(now - lookback)} AND time <= {influx_time(now + FUTURE_SLACK)} "
        f'GROUP BY "plant", "meter"'
    )
    out = []
    for s in series:
        index = {c: i for i, c in enumerate(s.columns)}
        ts = np.array([row[0] for row in s.values], dtype=np.int64)
        values: dict[str, np.ndarray] = {}
        for f in fields:
            if f not in index or f + FLAG_SUFFIX not in index:
                continue
            vi, fi = index[f], index[f + FLAG_SUFFIX]
            values[f] = np.array(
                [
                    row[vi] if row[vi] is not None and row[fi] == VALID_FLAG else np.nan
                    for row in s.values
                ],
                dtype=np.float64,
            )
        out.append(StackSeries(s.tags["plant"], s.tags["meter"], ts, values))
    return out


def points_flowing(store: InfluxStore, now: datetime, window: timedelta) -> bool:
    """Whether any collector wrote points in [now - window, now] (its `ingest_stats` counter rose)."""
    series = store.query(
        f'SELECT spread("points_written") FROM {quote_ident(STATS_MEASUREMENT)} '
        f"WHERE time >= {influx_time(now - window)} AND time <= {influx_time(now + FUTURE_SLACK)} "
        'GROUP BY "collector"'
    )
    return any(v is not None and v > 0 for s in series for _, v in s.values)


def auth_lockouts(store: InfluxStore, now: datetime, lookback: timedelta) -> list[AuthLockouts]:
    """The HJ 212 gateway's lockouts per stack in [now - lookback, now], summed."""
    start, end = now - lookback, now + FUTURE_SLACK
    series = store.query(
        'SELECT "failures", "address" '
        f"FROM {quote_ident(EVENT_MEASUREMENT)} "
        f'WHERE "kind" = {quote_literal(LOGGER_AUTH_FAILURES)} '
        f"AND time >= {influx_time(start)} AND time <= {influx_time(end)} "
        'GROUP BY "plant", "meter"'
    )
    out = []
    for s in series:
        rows = [row for row in s.values if row[1] is not None]
        if rows:
            out.append(
                AuthLockouts(
                    s.tags["plant"], s.tags["meter"], len(rows),
                    int(sum(float(row[1]) for row in rows)),
                    tuple(sorted({str(row[2]) for row in rows if row[2]})),
                    int(rows[0][0]), int(rows[-1][0]),
                )
            )  # fmt: skip
    return out


def clock_checks(store: InfluxStore, now: datetime, lookback: timedelta) -> list[ClockCheck]:
    """The latest drifted clock check per stack in [now - lookback, now] (HJ 212 gateway)."""
    start, end = now - lookback, now + FUTURE_SLACK
    series = store.query(
        'SELECT "drift_seconds", "threshold_seconds" '
        f"FROM {quote_ident(EVENT_MEASUREMENT)} "
        f'WHERE "kind" = {quote_literal(LOGGER_CLOCK_DRIFT)} '
        f"AND time >= {influx_time(start)} AND time <= {influx_time(end)} "
        'GROUP BY "plant", "meter" ORDER BY time DESC LIMIT 1'
    )
    out = []
    for s in series:
        for row in s.values:
            if row[1] is not None and row[2] is not None:
                out.append(
                    ClockCheck(
                        s.tags["plant"], s.tags["meter"], int(row[0]), float(row[1]), float(row[2])
                    )
                )
    return out


def pending_revisions(
    store: InfluxStore, now: datetime, lookback: timedelta
) -> list[PendingRevisions]:
    """Per meter: revisions that arrived in [now - lookback, now] and are not accepted.

    Revisions are stamped with their reading's time, so this reads the (small) `revisions`
    measurement by arrival, a field: revisions are rare by nature.
    """
    since_ms, until_ms = to_epoch_ms(now - lookback), to_epoch_ms(now + FUTURE_SLACK)
    arrived = quote_ident(ARRIVED_FIELD)
    series = store.query(
        f'SELECT {arrived}, "accepted_ms" FROM {quote_ident(REVISIONS_MEASUREMENT)} '
        f"WHERE {arrived} >= {since_ms} AND {arrived} <= {until_ms} "
        'GROUP BY "plant", "meter"'
    )
    out = []
    for s in series:
        rows = [(int(r[0]), int(r[1])) for r in s.values if r[1] is not None and r[2] is None]
        if rows:
            out.append(
                PendingRevisions(
                    s.tags["plant"],
                    s.tags["meter"],
                    len(rows),
                    min(a for _, a in rows),
                    min(t for t, _ in rows),
                    max(t for t, _ in rows),
                )
            )
    return out
