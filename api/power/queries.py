"""The InfluxDB edge of power monitoring: 15-minute means of `power_kw`, raw `energy_kwh`.

The 15-minute means are InfluxQL `mean() ... GROUP BY time(15m)` over the raw readings, asked
at read time: no stored rollup, so a late reading counts at once (docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from api.fuel.queries import plant_filter, time_range
from api.power.rules import BUCKET_MS, IntArray
from ingest.kernel.store import InfluxStore

MEASUREMENT = "electricity"
POWER_FIELD = "power_kw"
ENERGY_FIELD = "energy_kwh"

MeterKey = tuple[str, str]  # (plant, meter)
Samples = tuple[IntArray, np.ndarray]  # times (ms), values


def bucket_means(
    store: InfluxStore, plants: Sequence[str] | None, start: datetime, end: datetime
) -> dict[MeterKey, Samples]:
    """(plant, meter) -> bucket starts and mean `power_kw` of every quarter hour with readings."""
    series = store.query(
        f'SELECT mean("{POWER_FIELD}") FROM "{MEASUREMENT}" '
        f"WHERE {time_range(start, end)}{plant_filter(plants)} "
        f'GROUP BY time({BUCKET_MS}ms), "plant", "meter" fill(none)'
    )
    return _by_meter(series)


def energy_readings(
    store: InfluxStore,
    plants: Sequence[str] | None,
    start: datetime,
    end: datetime,
    lookback: timedelta,
) -> dict[MeterKey, Samples]:
    """(plant, meter) -> raw register readings in [start - lookback, end) (predecessors too)."""
    series = store.query(
        f'SELECT "{ENERGY_FIELD}" FROM "{MEASUREMENT}" '
        f"WHERE {time_range(start - lookback, end)}{plant_filter(plants)} "
        f'AND "{ENERGY_FIELD}" >= 0 GROUP BY "plant", "meter"'
    )
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
