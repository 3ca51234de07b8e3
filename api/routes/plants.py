"""The registry with live status: each meter's last reading and whether it still reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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

router = APIRouter(prefix="/api/v1/plants", tags=["plants"])


@router.get("")
async def list_plants(
    _: ReaderDep, registry: RegistryDep, store: StoreDep, settings: SettingsDep
) -> dict[str, Any]:
    """Every registered plant and meter with its last reading time."""
    now = datetime.now(UTC)
    last = await run_in_threadpool(last_readings, store, now)
    offline = settings.alert_rules.offline_minutes
    return {
        "county": registry.county_name,
        "gas_share_goal": registry.gas_share_goal,
        "at": now.isoformat(),
        "plants": [plant_view(p, last, now, offline) for p in registry.plants],
    }


@router.get("/{plant}")
async def get_plant(
    plant: str,
    _: PlantReaderDep,
    found: KnownPlantDep,
    store: StoreDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """One plant's registry entry with each meter's last reading time."""
    now = datetime.now(UTC)
    last = await run_in_threadpool(last_readings, store, now, found.id)
    return {
        "at": now.isoformat(),
        **plant_view(found, last, now, settings.alert_rules.offline_minutes),
    }
