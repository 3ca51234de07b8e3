"""The registry with live status: each meter's last reading and whether it still reports."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.deps import (
    KnownPlantDep,
    PlantReaderDep,
    ReaderDep,
    RegistryDep,
    SettingsDep,
    StoreDep,
)
from api.live import last_readings, plant_view
from api.schemas import ERROR_RESPONSES, PlantAnswer, PlantsAnswer, error_responses

router = APIRouter(prefix="/api/v1/plants", tags=["plants"])


@router.get("", response_model=PlantsAnswer, responses=ERROR_RESPONSES)
async def list_plants(
    _: ReaderDep, registry: RegistryDep, store: StoreDep, settings: SettingsDep
) -> PlantsAnswer:
    """Every registered plant and meter with its last reading time."""
    now = datetime.now(UTC)
    last = await run_in_threadpool(last_readings, store, now)
    offline = settings.alert_rules.offline_minutes
    return PlantsAnswer.model_validate(
        {
            "county": registry.county_name,
            "gas_share_goal": registry.gas_share_goal,
            "timezone": settings.timezone,
            "at": now.isoformat(),
            "plants": [plant_view(p, last, now, offline) for p in registry.plants],
        }
    )


@router.get("/{plant}", response_model=PlantAnswer, responses=error_responses(404))
async def get_plant(
    plant: str, _: PlantReaderDep, found: KnownPlantDep, store: StoreDep, settings: SettingsDep
) -> PlantAnswer:
    """One plant's registry entry with each meter's last reading time."""
    now = datetime.now(UTC)
    last = await run_in_threadpool(last_readings, store, now, found.id)
    return PlantAnswer.model_validate(
        {
            "at": now.isoformat(),
            "timezone": settings.timezone,
            **plant_view(found, last, now, settings.alert_rules.offline_minutes),
        }
    )
