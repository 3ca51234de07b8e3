"""The coal-to-gas KPI (SPEC section 6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool

from api.deps import ReaderDep, RegistryDep, SettingsDep, StoreDep
from api.fuel import firm_fuels
from api.kpi import gas_share

router = APIRouter(prefix="/api/v1/kpi", tags=["kpi"])
MAX_WINDOW_DAYS = 366


@router.get("/gas-share")
async def get_gas_share(
    settings: SettingsDep,
    store: StoreDep,
    registry: RegistryDep,
    _: ReaderDep,
    at: Annotated[
        datetime | None, Query(description="end of the window (RFC 3339); default now")
    ] = None,
    window_days: Annotated[float | None, Query(gt=0, le=MAX_WINDOW_DAYS)] = None,
) -> dict[str, Any]:
    """Share of stainless-steel firms on natural gas over a trailing window, with every firm's row."""
    if at is not None and at.tzinfo is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            "'at' needs a UTC offset, e.g. 2026-06-30T00:00:00+08:00",
        )
    end = (at or datetime.now(UTC)).astimezone(UTC)
    definition = settings.kpi
    window = timedelta(days=window_days or definition.window_days)
    firms = registry.by_sector("stainless_steel")
    fuels = await run_in_threadpool(firm_fuels, store, firms, end, window, definition)
    result = gas_share(fuels, registry.gas_share_goal, definition)
    return {
        "at": end.isoformat(),
        "window_start": (end - window).isoformat(),
        "window_days": window.total_seconds() / 86_400,
        **result.as_dict(),
        "definition": definition.model_dump() | {"goal": registry.gas_share_goal},
    }
