"""VOC compliance of a plant's stacks (SPEC sections 7 and 8)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from api.deps import KnownPlantDep, PlantReaderDep, SettingsDep, StoreDep
from api.ranges import check_instant, check_range
from api.schemas import VocAnswer, VocStack, error_responses
from api.voc import HOUR_MS, MIN_VALID_MINUTES, StackCompliance
from api.vocdata import compliance

router = APIRouter(prefix="/api/v1/plants", tags=["voc"])
MAX_RANGE = timedelta(days=31)
DEFAULT_RANGE = timedelta(hours=24)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def stack_json(stack: StackCompliance) -> VocStack:
    """One stack's compliance as JSON: per pollutant, its limit, counts and hours."""
    pollutants = []
    for p in stack.pollutants:
        hours = [
            {
                "start": _iso(int(start)),
                "end": _iso(int(start) + HOUR_MS),
                "status": state,
                "valid_minutes": int(minutes),
                "mean_mgm3": _number(mean),
                "exceeds": bool(over),
                "flow_m3h": _number(flow),
                "emission_kgh": _number(rate),
            }
            for start, state, minutes, mean, over, flow, rate in zip(
                p.hours.hour_start_ms.tolist(),
                p.hours.status,
                p.hours.valid_minutes.tolist(),
                p.hours.mean.tolist(),
                p.exceeds.tolist(),
                p.flow_m3h.tolist(),
                p.emission_kgh.tolist(),
                strict=True,
            )
        ]
        pollutants.append(
            {
                "pollutant": p.limit.pollutant,
                "limit_mgm3": p.limit.limit_mgm3,
                "limit_source": p.limit.source,
                "counts": p.counts(),
                "hours": hours,
            }
        )
    return VocStack.model_validate({"meter": stack.meter, "pollutants": pollutants})


@router.get("/{plant}/voc", response_model=VocAnswer, responses=error_responses(404))
async def get_voc(
    plant: str,
    store: StoreDep,
    settings: SettingsDep,
    _: PlantReaderDep,
    found: KnownPlantDep,
    start: Annotated[
        datetime | None, Query(description="RFC 3339; default 24 h before end")
    ] = None,
    end: Annotated[datetime | None, Query(description="RFC 3339; default now")] = None,
) -> VocAnswer:
    """Hourly VOC means per stack and pollutant with validity, limit, exceedance and emission rate."""
    now = datetime.now(UTC)
    # check_instant refuses naive and out-of-range instants before any arithmetic on them.
    end_at = check_instant("end", end) if end is not None else now
    start_at = check_instant("start", start) if start is not None else end_at - DEFAULT_RANGE
    check_range(start_at, end_at, MAX_RANGE)
    stacks = await run_in_threadpool(compliance, store, [found], start_at, end_at, now)
    return VocAnswer.model_validate(
        {
            "plant": plant,
            "start": start_at.isoformat(),
            "end": end_at.isoformat(),
            "timezone": settings.timezone,
            "definition": {
                "min_valid_minutes": MIN_VALID_MINUTES,
                "valid_flag": "N",
                "hours": "whole hours covering [start, end); an hour not yet ended is 'pending'",
                "emission_kgh": "hourly mean mg/m³ × hourly mean flow m³/h × 1e-6",
            },
            "stacks": [stack_json(s) for s in stacks],
        }
    )
