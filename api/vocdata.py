"""VOC minute means from InfluxDB, fed to the pure compliance rules of `api.voc`.

Minute means are computed inside InfluxDB (`mean` of flag-`N` readings per minute, empty
minutes left out); the 45-valid-minute rule and everything after it run in numpy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import numpy as np

from api.voc import (
    FLOW_FIELD,
    MinuteSeries,
    StackCompliance,
    hour_range,
    limits_for,
    stack_compliance,
)
from ingest.points import FLAG_SUFFIX
from ingest.registry import Plant
from ingest.schema import VALID_FLAG, to_epoch_ms
from ingest.store import InfluxStore, influx_time, quote_ident, quote_literal

VOC_MEASUREMENT = "voc"


def minute_means_query(field: str, start: datetime, end: datetime, plant: str | None) -> str:
    """InfluxQL: per-minute mean of `field`'s valid readings in [start, end), per plant and meter."""
    where = [
        f"{quote_ident(field + FLAG_SUFFIX)} = {quote_literal(VALID_FLAG)}",
        f"time >= {influx_time(start)}",
        f"time < {influx_time(end)}",
    ]
    if plant is not None:
        where.append(f'"plant" = {quote_literal(plant)}')
    return (
        f"SELECT mean({quote_ident(field)}) FROM {quote_ident(VOC_MEASUREMENT)} "
        f"WHERE {' AND '.join(where)} "
        f'GROUP BY time(1m), "plant", "meter" fill(none)'
    )


def minute_means(
    store: InfluxStore,
    fields: Iterable[str],
    start: datetime,
    end: datetime,
    plant: str | None = None,
) -> dict[tuple[str, str], dict[str, MinuteSeries]]:
    """(plant, meter) -> field -> (minute start ms, minute mean), in one round trip."""
    names = list(dict.fromkeys(fields))
    statements = ";".join(minute_means_query(f, start, end, plant) for f in names)
    out: dict[tuple[str, str], dict[str, MinuteSeries]] = defaultdict(dict)
    for field, series_list in zip(names, store.query_many(statements), strict=True):
        for series in series_list:
            key = (series.tags["plant"], series.tags["meter"])
            rows = [row for row in series.values if row[1] is not None]
            out[key][field] = (
                np.array([row[0] for row in rows], dtype=np.int64),
                np.array([row[1] for row in rows], dtype=np.float64),
            )
    return dict(out)


def compliance(
    store: InfluxStore,
    plants: Sequence[Plant],
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[StackCompliance]:
    """Hourly compliance of every VOC stack of `plants` over the whole hours covering [start, end)."""
    first_hour_ms, n_hours = hour_range(to_epoch_ms(start), to_epoch_ms(end))
    stacks = [(p, m) for p in plants for m in p.meters_of("voc")]
    if not stacks or n_hours == 0:
        return []
    fields = {FLOW_FIELD}
    for _, meter in stacks:
        fields.update(limits_for(meter.limits_mgm3))
    hour_start = datetime.fromtimestamp(first_hour_ms / 1000, tz=UTC)
    hour_end = datetime.fromtimestamp((first_hour_ms + n_hours * 3_600_000) / 1000, tz=UTC)
    only = plants[0].id if len(plants) == 1 else None
    minutes = minute_means(store, sorted(fields), hour_start, hour_end, only)
    now_ms = to_epoch_ms(now)
    return [
        stack_compliance(
            plant.id,
            meter.id,
            minutes.get((plant.id, meter.id), {}),
            meter.limits_mgm3,
            first_hour_ms,
            n_hours,
            now_ms,
        )
        for plant, meter in stacks
    ]
