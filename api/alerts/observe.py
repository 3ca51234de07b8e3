"""The store edge of the alert engine: what each rule needs, as of an instant `now`.

Every read names its time range with literals built from `now` (never the store's clock),
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
from ingest.kernel.points import FLAG_SUFFIX
from ingest.kernel.reads import Column, Points, Summary
from ingest.kernel.record import ARRIVED_FIELD, REVISIONS_MEASUREMENT
from ingest.kernel.registry import Registry
from ingest.kernel.schema import VALID_FLAG, to_epoch_ms
from ingest.kernel.store import Store
from ingest.metrics import STATS_MEASUREMENT

# Real-time readings and the logger's minute data are both readings of the stack.
VOC_SOURCES = tuple(sorted((REALTIME_MEASUREMENT, MINUTE_MEASUREMENT)))
STACK_TAGS = ("plant", "meter")
MS = timedelta(milliseconds=1)


def until(now: datetime) -> datetime:
    """The end of a read up to `now` inclusive (and its slack): stored times are whole ms."""
    return now + FUTURE_SLACK + MS


def stack_limits(registry: Registry) -> dict[tuple[str, str], dict[str, Limit]]:
    """(plant, meter) -> pollutant -> limit, for every VOC stack of the registry."""
    return {(p.id, m.id): m.limits() for p in registry.plants for m in p.meters_of("voc")}


def meter_refs(registry: Registry) -> list[MeterRef]:
    return [MeterRef(p.id, m.id, m.kind) for p in registry.plants for m in p.meters]


# Accepted marks' spans over [start, end), or None where the engine has no marks.
Marks = Callable[[datetime, datetime], Spans] | None


def recent_hours(
    store: Store, registry: Registry, now: datetime, hours: int, marks: Marks = None
) -> list[StackCompliance]:
    """Hourly compliance of every stack over the last `hours` whole hours before `now`."""
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return past_hours(store, registry, end - timedelta(hours=hours), end, now, marks)


def past_hours(
    store: Store,
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
    store: Store, pollutants: Sequence[str], now: datetime, lookback: timedelta
) -> list[Peak]:
    """The highest valid reading per stack and pollutant in [now - lookback, now]."""
    if not pollutants:
        return []
    requests = [
        Summary(
            VOC_SOURCES, (Column("max", p),), now - lookback, until(now), (), STACK_TAGS,
            match=((p + FLAG_SUFFIX, "=", VALID_FLAG),),
        )
        for p in pollutants
    ]  # fmt: skip
    out = []
    for pollutant, series_list in zip(pollutants, store.read(requests), strict=True):
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
    store: Store, names: Sequence[str], now: datetime, lookback: timedelta
) -> list[StackSeries]:
    """Raw readings of `names` (and flow) per stack; values not flagged N become NaN."""
    fields = list(dict.fromkeys([*names, FLOW_FIELD]))
    columns = tuple(name for f in fields for name in (f, f + FLAG_SUFFIX))
    start, end = now - lookback, until(now)
    requests = [Points(m, columns, start, end, (), STACK_TAGS) for m in VOC_SOURCES]
    series = [s for answer in store.read(requests) for s in answer]
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


def points_flowing(store: Store, now: datetime, window: timedelta) -> bool:
    """Whether any collector wrote points in [now - window, now] (its `ingest_stats` counter rose)."""
    spread = (Column("spread", "points_written"),)
    request = Summary((STATS_MEASUREMENT,), spread, now - window, until(now), (), ("collector",))
    (series,) = store.read([request])
    return any(v is not None and v > 0 for s in series for _, v in s.values)


def auth_lockouts(store: Store, now: datetime, lookback: timedelta) -> list[AuthLockouts]:
    """The HJ 212 gateway's lockouts per stack in [now - lookback, now], summed."""
    request = Points(
        EVENT_MEASUREMENT, ("failures", "address"), now - lookback, until(now), (), STACK_TAGS,
        match=(("kind", "=", LOGGER_AUTH_FAILURES),),
    )  # fmt: skip
    (series,) = store.read([request])
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


def clock_checks(store: Store, now: datetime, lookback: timedelta) -> list[ClockCheck]:
    """The latest drifted clock check per stack in [now - lookback, now] (HJ 212 gateway)."""
    request = Points(
        EVENT_MEASUREMENT, ("drift_seconds", "threshold_seconds"), now - lookback, until(now),
        (), STACK_TAGS, match=(("kind", "=", LOGGER_CLOCK_DRIFT),), newest=1,
    )  # fmt: skip
    (series,) = store.read([request])
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


def pending_revisions(store: Store, now: datetime, lookback: timedelta) -> list[PendingRevisions]:
    """Per meter: revisions that arrived in [now - lookback, now] and are not accepted.

    Revisions are stamped with their reading's time, so this reads the (small) `revisions`
    measurement by arrival, a field: revisions are rare by nature.
    """
    since_ms, until_ms = to_epoch_ms(now - lookback), to_epoch_ms(now + FUTURE_SLACK)
    request = Points(
        REVISIONS_MEASUREMENT, (ARRIVED_FIELD, "accepted_ms"), None, None, (), STACK_TAGS,
        match=((ARRIVED_FIELD, ">=", since_ms), (ARRIVED_FIELD, "<=", until_ms)),
    )  # fmt: skip
    (series,) = store.read([request])
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
