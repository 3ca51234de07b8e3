"""The reads of power monitoring: 15-minute means of `power_kw`, raw `energy_kwh`.

The 15-minute means are the store's `mean` per 15-minute bucket over the raw readings, asked
at read time: no stored rollup, so a late reading counts at once (docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from api.fuel.queries import SERIES_TAGS, plant_tags
from api.power.rules import BUCKET_MS, IntArray
from ingest.kernel.reads import Buckets, Column, Points, Summary
from ingest.kernel.store import Store

MEASUREMENT = "electricity"
POWER_FIELD = "power_kw"
ENERGY_FIELD = "energy_kwh"

MeterKey = tuple[str, str]  # (plant, meter)
Samples = tuple[IntArray, np.ndarray]  # times (ms), values


def bucket_means(
    store: Store, plants: Sequence[str] | None, start: datetime, end: datetime
) -> dict[MeterKey, Samples]:
    """(plant, meter) -> bucket starts and mean `power_kw` of every quarter hour with readings."""
    request = Summary(
        (MEASUREMENT,), (Column("mean", POWER_FIELD),), start, end, plant_tags(plants),
        SERIES_TAGS, Buckets(timedelta(milliseconds=BUCKET_MS)),
    )  # fmt: skip
    (series,) = store.read([request])
    return _by_meter(series)


def energy_readings(
    store: Store,
    plants: Sequence[str] | None,
    start: datetime,
    end: datetime,
    lookback: timedelta,
) -> dict[MeterKey, Samples]:
    """(plant, meter) -> raw register readings in [start - lookback, end) (predecessors too)."""
    request = Points(
        MEASUREMENT, (ENERGY_FIELD,), start - lookback, end, plant_tags(plants), SERIES_TAGS,
        match=((ENERGY_FIELD, ">=", 0),),
    )  # fmt: skip
    (series,) = store.read([request])
    return _by_meter(series)


def _by_meter(series: Sequence[Any]) -> dict[MeterKey, Samples]:
    """(plant, meter) -> times and values of each series' non-null rows (empty ones left out)."""
    out = {}
    for s in series:
        rows = [(int(t), float(v)) for t, v in s.values if v is not None]
        if rows:
            ts, vals = zip(*rows, strict=True)
            out[(s.tags["plant"], s.tags["meter"])] = (
                np.array(ts, dtype=np.int64),
                np.array(vals, dtype=np.float64),
            )
    return out
