"""Live status of meters: the time of each meter's last reading, and whether it still reports."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from api.latest import Latest, plant_data_through
from ingest.registry import Plant
from ingest.store import InfluxStore, influx_time, quote_ident, quote_literal

# One value every reading of the kind carries (VOC readings carry any subset, so several).
PRESENCE_FIELDS = {
    "gas": ("volume_m3",),
    "coal": ("mass_kg",),
    "electricity": ("energy_kwh",),
    "voc": (
        "nmhc_mgm3",
        "thc_mgm3",
        "dmf_mgm3",
        "benzene_mgm3",
        "toluene_mgm3",
        "xylene_mgm3",
        "flow_m3h",
        "temp_c",
        "pressure_kpa",
        "humidity_pct",
        "o2_pct",
    ),
}
# SPEC section 7: a meter is offline after this long without data.
OFFLINE_AFTER = {
    "voc": timedelta(minutes=15),
    "gas": timedelta(minutes=60),
    "coal": timedelta(minutes=60),
    "electricity": timedelta(minutes=60),
}
LOOK_BACK = timedelta(days=30)


def last_readings_query(now: datetime, plant: str | None) -> str:
    """Statements for the last reading time of every meter (of one plant, or all)."""
    where = (
        f"time > {influx_time(now - LOOK_BACK)} AND time <= {influx_time(now + timedelta(days=1))}"
    )
    if plant is not None:
        where += f' AND "plant" = {quote_literal(plant)}'
    statements = [
        f'SELECT last({quote_ident(field)}) FROM {quote_ident(kind)} WHERE {where} GROUP BY "plant", "meter"'
        for kind, fields in PRESENCE_FIELDS.items()
        for field in fields
    ]
    return ";".join(statements)


def last_readings(
    store: InfluxStore, now: datetime, plant: str | None = None
) -> dict[tuple[str, str], datetime]:
    """(plant, meter) -> time of its last reading within the last 30 days."""
    text = last_readings_query(now, plant)
    out: dict[tuple[str, str], datetime] = {}
    for result in store.query_many(text):
        for series in result:
            if not series.values:
                continue
            ts = datetime.fromtimestamp(series.values[0][0] / 1000, UTC)
            key = (series.tags.get("plant", ""), series.tags.get("meter", ""))
            if key not in out or ts > out[key]:
                out[key] = ts
    return out


def plant_view(
    plant: Plant,
    last: dict[tuple[str, str], datetime],
    now: datetime,
    latest: Mapping[tuple[str, str], Latest] | None = None,
) -> dict[str, object]:
    """A registry entry with each meter's last reading, whether it reports, its latest values."""
    latest = latest or {}
    meters = []
    for meter in plant.meters:
        seen = last.get((plant.id, meter.id))
        allowance = OFFLINE_AFTER[meter.kind]
        meters.append(
            {
                "id": meter.id,
                "kind": meter.kind,
                "hj212_mn": meter.hj212_mn,
                "limits_mgm3": dict(meter.limits_mgm3),
                "last_reading": seen.isoformat() if seen else None,
                "reporting": seen is not None and now - seen <= allowance,
                "offline_after_minutes": allowance.total_seconds() / 60,
                "latest": found.as_json() if (found := latest.get((plant.id, meter.id))) else None,
            }
        )
    through = plant_data_through(plant, last)
    return {
        "id": plant.id,
        "name": plant.name,
        "sector": plant.sector,
        "reporting": bool(meters) and all(m["reporting"] for m in meters),
        "meters_reporting": sum(1 for m in meters if m["reporting"]),
        "data_through": through.isoformat() if through else None,
        "meters": meters,
    }
