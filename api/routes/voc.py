"""VOC compliance of a plant's stacks (SPEC sections 7 and 8)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool

from api.deps import ReaderDep, RegistryDep, StoreDep
from api.voc import HOUR_MS, MIN_VALID_MINUTES, StackCompliance
from api.vocdata import compliance

router = APIRouter(prefix="/api/v1/plants", tags=["voc"])
MAX_RANGE = timedelta(days=31)
DEFAULT_RANGE = timedelta(hours=24)
MIN_YEAR, MAX_YEAR = 2000, 2099  # readings outside these years are refused at ingest


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{name!r} needs a UTC offset, e.g. 2026-06-30T00:00:00+08:00",
        )
    return value.astimezone(UTC) if value is not None else None


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def stack_json(stack: StackCompliance) -> dict[str, Any]:
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
    return {"meter": stack.meter, "pollutants": pollutants}


@router.get("/{plant}/voc")
async def get_voc(
    plant: str,
    store: StoreDep,
    registry: RegistryDep,
    _: ReaderDep,
    start: Annotated[
        datetime | None, Query(description="RFC 3339; default 24 h before end")
    ] = None,
    end: Annotated[datetime | None, Query(description="RFC 3339; default now")] = None,
) -> dict[str, Any]:
    """Hourly VOC means per stack and pollutant with validity, limit, exceedance and emission rate."""
    found = registry.plant(plant)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown plant {plant!r}")
    now = datetime.now(UTC)
    end_at = _aware("end", end) or now
    start_at = _aware("start", start) or end_at - DEFAULT_RANGE
    if start_at.year < MIN_YEAR or end_at.year > MAX_YEAR:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"dates must fall in {MIN_YEAR}..{MAX_YEAR}"
        )
    if start_at >= end_at:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "'start' must be before 'end'")
    if end_at - start_at > MAX_RANGE:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"range of {(end_at - start_at).days} days is longer than {MAX_RANGE.days} days",
        )
    stacks = await run_in_threadpool(compliance, store, [found], start_at, end_at, now)
    return {
        "plant": plant,
        "start": start_at.isoformat(),
        "end": end_at.isoformat(),
        "definition": {
            "min_valid_minutes": MIN_VALID_MINUTES,
            "valid_flag": "N",
            "hours": "whole hours covering [start, end); an hour not yet ended is 'pending'",
            "emission_kgh": "hourly mean mg/m³ × hourly mean flow m³/h × 1e-6",
        },
        "stacks": [stack_json(s) for s in stacks],
    }
