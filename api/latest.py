"""Each meter's latest reading (its values and flags) and the county's data freshness.

`data_through` of a plant is the time up to which every one of its meters has reported
(the oldest of their last readings); of the county, the newest reading of any meter.
While a backfill or catch-up is loading, meters look silent though points are being
written: `api.alerts.rules.ingest_state` tells that apart from an outage, for the alert
engine and for the page's "still loading" notice alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from api.alerts import observe, rules
from api.alerts.rules import unit_of
from api.ranges import data_through
from api.settings import AlertRules
from ingest.kernel.points import FLAG_SUFFIX
from ingest.kernel.reads import Points, Read, tags
from ingest.kernel.registry import Plant
from ingest.kernel.store import Store

# Latest values older than this are not shown as "latest" (the last reading time still is).
LATEST_LOOK_BACK = timedelta(days=2)
MS = timedelta(
    milliseconds=1
)  # stored times are whole milliseconds: (a, b] is [a + 1 ms, b + 1 ms)
# HJ 212 minute data (CN 2051) lands in its own measurement: a stack may send only that.
MEASUREMENTS = {
    "gas": ("gas",),
    "coal": ("coal",),
    "electricity": ("electricity",),
    "voc": ("voc", "voc_minute"),
}


@dataclass(frozen=True, slots=True)
class Latest:
    ts: datetime
    values: Mapping[str, float]
    flags: Mapping[str, str]

    def as_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts.isoformat(),
            "values": dict(self.values),
            "flags": dict(self.flags),
            "units": {name: unit_of(name) for name in self.values},
        }


def latest_requests(now: datetime, plant: str | None) -> list[Read]:
    """Each series' newest row (every field) in (now - LATEST_LOOK_BACK, now + slack]."""
    start, end = now - LATEST_LOOK_BACK + MS, now + observe.FUTURE_SLACK + MS
    where = tags(plant=plant) if plant is not None else ()
    return [
        Points(m, (), start, end, where, ("plant", "meter"), newest=1)
        for names in MEASUREMENTS.values()
        for m in names
    ]


def parse_latest(row: Mapping[str, Any], ts_ms: int) -> Latest:
    """One newest row (every field): numeric values by name, their flags (N when absent)."""
    values = {
        k: float(v)
        for k, v in row.items()
        if k != "time"
        and not k.startswith("_")  # `_arrived_ms`, `_source`: bookkeeping, not values
        and not k.endswith(FLAG_SUFFIX)
        and isinstance(v, int | float)
        and not isinstance(v, bool)
    }
    flags = {k: str(row.get(k + FLAG_SUFFIX) or "N") for k in values}
    return Latest(datetime.fromtimestamp(ts_ms / 1000, tz=UTC), values, flags)


def latest_readings(
    store: Store, now: datetime, plant: str | None = None
) -> dict[tuple[str, str], Latest]:
    """(plant, meter) -> its latest reading in the last two days (of one plant, or all)."""
    out: dict[tuple[str, str], Latest] = {}
    for result in store.read(latest_requests(now, plant)):
        for series in result:
            if not series.values:
                continue
            (row,) = series.rows()[:1]
            found = parse_latest(row, int(series.values[0][0]))
            key = (series.tags.get("plant", ""), series.tags.get("meter", ""))
            if key not in out or found.ts > out[key].ts:
                out[key] = found
    return out


def plant_data_through(plant: Plant, last: Mapping[tuple[str, str], datetime]) -> datetime | None:
    """Up to when every meter of the plant has reported (None if one never did)."""
    return data_through([last.get((plant.id, m.id)) for m in plant.meters])


def ingest_view(
    plants: Iterable[Plant],
    last: Mapping[tuple[str, str], datetime],
    reporting: Mapping[tuple[str, str], bool],
    flowing: bool,
    alert_rules: AlertRules,
    now: datetime,
) -> dict[str, Any]:
    """The county's freshness: newest data, how many meters are silent, loading or stalled."""
    keys = [(p.id, m.id) for p in plants for m in p.meters]
    silent = sum(1 for k in keys if not reporting.get(k, False))
    through = max((last[k] for k in keys if k in last), default=None)
    state = rules.ingest_state(silent, len(keys), flowing, through, alert_rules, now)
    return {
        "state": state.state,
        "meters": state.meters,
        "silent": state.silent,
        "flowing": state.flowing,
        "data_through": through.isoformat() if through else None,
    }
