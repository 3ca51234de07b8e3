"""The registry with live status: each meter's last reading, whether it still reports, its values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from api.alerts.observe import points_flowing
from api.deps import (
    KnownPlantDep,
    PlantReaderDep,
    ReaderDep,
    RegistryDep,
    SettingsDep,
    StoreDep,
)
from api.export import MEDIA_TYPE, to_csv
from api.latest import ingest_view, latest_readings
from api.live import last_readings, plant_view
from api.schemas import LatestAnswer, PlantAnswer, PlantsAnswer, error_responses
from ingest.kernel.registry import Plant
from ingest.kernel.store import InfluxStore

router = APIRouter(prefix="/api/v1/plants", tags=["plants"])
FormatQuery = Annotated[Literal["json", "csv"], Query(description="json or csv (UTF-8 with BOM)")]
PLANT_COLUMNS = ("plant", "name", "sector", "meters", "meters_reporting", "data_through")
METER_COLUMNS = ("plant", "meter", "kind", "reporting", "last_reading", "value", "unit", "flag")


def _csv(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def meter_rows(view: dict[str, Any]) -> list[dict[str, Any]]:
    """One CSV row per meter and latest value (a meter without values: one row)."""
    rows = []
    for m in view["meters"]:
        base = {
            "plant": view["id"],
            "meter": m["id"],
            "kind": m["kind"],
            "reporting": m["reporting"],
            "last_reading": m["last_reading"],
        }
        latest = m["latest"] or {"values": {}}
        if not latest["values"]:
            rows.append(base)
        for name, value in latest["values"].items():
            rows.append(
                base
                | {
                    "value": f"{name}={value}",
                    "unit": latest["units"][name],
                    "flag": latest["flags"][name],
                }
            )
    return rows


def _views(
    store: InfluxStore,
    plants: list[Plant],
    now: datetime,
    plant: str | None,
    offline_minutes: Mapping[str, float],
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], datetime]]:
    last = last_readings(store, now, plant)
    latest = latest_readings(store, now, plant)
    views = [plant_view(p, last, now, offline_minutes, latest) for p in plants]
    return views, {key: seen.at for key, seen in last.items()}


@router.get(
    "",
    response_model=PlantsAnswer,
    responses={
        **error_responses(),
        200: {"content": {"text/csv": {}}, "description": "JSON, or the plants as CSV"},
    },
)
async def list_plants(
    _: ReaderDep,
    registry: RegistryDep,
    store: StoreDep,
    settings: SettingsDep,
    format: FormatQuery = "json",
) -> Any:
    """Every plant and meter: last reading, reporting or not, latest values; county freshness.

    `ingest.state` is `loading` while a backfill or catch-up is being written (many meters
    behind, points flowing), `stalled` when many meters are silent and nothing is written.
    """
    now = datetime.now(UTC)
    views, last = await run_in_threadpool(
        _views, store, list(registry.plants), now, None, settings.alert_rules.offline_minutes
    )
    if format == "csv":
        rows = [{**v, "plant": v["id"], "meters": len(v["meters"])} for v in views]
        return _csv(to_csv(PLANT_COLUMNS, rows), f"plants-{now:%Y%m%dT%H%MZ}.csv")
    window = timedelta(minutes=settings.alert_rules.flowing_minutes)
    flowing = await run_in_threadpool(points_flowing, store, now, window)
    reporting = {(v["id"], m["id"]): m["reporting"] for v in views for m in v["meters"]}
    ingest = ingest_view(registry.plants, last, reporting, flowing, settings.alert_rules, now)
    return PlantsAnswer.model_validate(
        {
            "county": registry.county_name,
            "gas_share_goal": registry.gas_share_goal,
            "timezone": settings.timezone,
            "at": now.isoformat(),
            "data_through": ingest["data_through"],
            "ingest": ingest,
            "plants": views,
        }
    )


@router.get("/{plant}", response_model=PlantAnswer, responses=error_responses(404))
async def get_plant(
    plant: str, _: PlantReaderDep, found: KnownPlantDep, store: StoreDep, settings: SettingsDep
) -> PlantAnswer:
    """One plant's registry entry with each meter's last reading, state and latest values."""
    now = datetime.now(UTC)
    views, _last = await run_in_threadpool(
        _views, store, [found], now, found.id, settings.alert_rules.offline_minutes
    )
    return PlantAnswer.model_validate(
        {"at": now.isoformat(), "timezone": settings.timezone, **views[0]}
    )


@router.get(
    "/{plant}/latest",
    response_model=LatestAnswer,
    responses={
        **error_responses(404),
        200: {"content": {"text/csv": {}}, "description": "JSON, or one CSV row per value"},
    },
)
async def get_latest(
    plant: str,
    _: PlantReaderDep,
    found: KnownPlantDep,
    store: StoreDep,
    settings: SettingsDep,
    format: FormatQuery = "json",
) -> Any:
    """The plant's latest reading per meter, as stored (a plant key reads its own)."""
    now = datetime.now(UTC)
    views, _last = await run_in_threadpool(
        _views, store, [found], now, found.id, settings.alert_rules.offline_minutes
    )
    view = views[0]
    if format == "csv":
        return _csv(to_csv(METER_COLUMNS, meter_rows(view)), f"latest-{found.id}.csv")
    return LatestAnswer.model_validate(
        {
            "plant": found.id,
            "name": found.name,
            "at": now.isoformat(),
            "data_through": view["data_through"],
            "meters": view["meters"],
        }
    )
