"""Live status of meters: the time of each meter's last reading, and whether it still reports."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from api.latest import Latest, plant_data_through
from api.presence import Seen, allowance_minutes, catching_up, is_reporting, latest_seen
from ingest.kernel.registry import METER_KINDS, Plant
from ingest.kernel.store import InfluxStore

LOOK_BACK = timedelta(days=30)


def last_readings(
    store: InfluxStore, now: datetime, plant: str | None = None
) -> dict[tuple[str, str], Seen]:
    """(plant, meter) -> its last reading within the last 30 days: time and arrival
    (`api.presence`)."""
    return latest_seen(store, METER_KINDS, now, LOOK_BACK, plant)


def plant_view(
    plant: Plant,
    last: Mapping[tuple[str, str], Seen],
    now: datetime,
    offline_minutes: Mapping[str, float],
    latest: Mapping[tuple[str, str], Latest] | None = None,
) -> dict[str, object]:
    """A registry entry with each meter's last reading, whether it reports (or, behind but
    still delivering, is catching up), its latest values."""
    latest = latest or {}
    meters = []
    for meter in plant.meters:
        found_seen = last.get((plant.id, meter.id))
        seen = found_seen.at if found_seen else None
        allowance = allowance_minutes(meter.kind, offline_minutes)
        meters.append(
            {
                "id": meter.id,
                "kind": meter.kind,
                "hj212_mn": meter.hj212_mn,
                "limits_mgm3": dict(meter.limits_mgm3),
                "process": meter.process,
                "height_m": meter.height_m,
                "o2_reference_pct": meter.o2_reference_pct,
                "facility": meter.facility,
                "line": meter.line,
                "rated_kw": meter.rated_kw,
                "last_reading": seen.isoformat() if seen else None,
                "reporting": is_reporting(seen, now, allowance),
                "catching_up": catching_up(found_seen, now, allowance),
                "offline_after_minutes": allowance,
                "latest": found.as_json() if (found := latest.get((plant.id, meter.id))) else None,
            }
        )
    through = plant_data_through(plant, {key: s.at for key, s in last.items()})
    return {
        "id": plant.id,
        "name": plant.name,
        "sector": plant.sector,
        "reporting": bool(meters) and all(m["reporting"] for m in meters),
        "meters_reporting": sum(1 for m in meters if m["reporting"]),
        "data_through": through.isoformat() if through else None,
        "meters": meters,
    }
