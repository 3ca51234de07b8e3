"""Production and treatment power per line (SPEC sections 8 and 13): a plant's lines, the county's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from api.deps import KnownPlantDep, PlantReaderDep, ReaderDep, RegistryDep, SettingsDep
from api.power.rules import (
    BUCKET_MS,
    PRODUCING_SHARE,
    RATED_MIN_KW,
    RATED_WINDOW_DAYS,
    RUNNING_SHARE,
    LineBuckets,
    periods,
)
from api.power.service import PowerCore, lines_of
from api.ranges import check_instant, check_range
from api.schemas import LinesAnswer, error_responses
from api.settings import ApiSettings

router = APIRouter(prefix="/api/v1", tags=["power"])
MAX_RANGE = timedelta(days=31)
DEFAULT_RANGE = timedelta(hours=24)
DEFINITION: dict[str, str | float] = {
    "power": "15-minute mean power_kw (UTC quarter hours); where only energy_kwh is sent, the "
    "quarter hour's consumption by the one consumption rule / 0.25 h",
    "rated": f"registry rated_kw, else the most frequent 15-minute mean among those above the "
    f"meter's mean over {RATED_WINDOW_DAYS} days, means under {RATED_MIN_KW} kW left out",
    "producing_share": PRODUCING_SHARE,
    "running_share": RUNNING_SHARE,
    "out_of_sync": "a production meter at >= 20 % of its rated power while every treatment "
    "meter of the line is under 10 % of its rating, for the whole quarter hour",
}
StartQuery = Annotated[datetime | None, Query(description="RFC 3339")]
EndQuery = Annotated[datetime | None, Query(description="RFC 3339; default now")]


def power_core(request: Request, settings: ApiSettings) -> PowerCore:
    """One core per app: learned ratings are cached in it."""
    core = getattr(request.app.state, "power", None)
    if core is None:
        core = request.app.state.power = PowerCore.from_settings(settings, request.app.state.store)
    return core


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def _kw(values: list[float]) -> float | None:
    return round(sum(values), 3) if values else None


def line_json(line: LineBuckets, with_buckets: bool = True) -> dict[str, Any]:
    """One line: its meters and ratings, out-of-sync periods and (optionally) each quarter hour."""
    by = {f: [m for m in line.meters if m.facility == f] for f in ("production", "treatment")}
    rated = {f: _kw([m.rated_kw for m in ms if m.rated_kw is not None]) for f, ms in by.items()}
    found = periods(line.grid_ms, line.out_of_sync)
    buckets = []
    if with_buckets:
        for i, start in enumerate(line.grid_ms.tolist()):
            power = {
                f: _kw([float(m.power_kw[i]) for m in ms if np.isfinite(m.power_kw[i])])
                for f, ms in by.items()
            }
            buckets.append(
                {
                    "start": _iso(int(start)),
                    "production_kw": power["production"],
                    "treatment_kw": power["treatment"],
                    "producing": bool(line.producing[i]),
                    "treatment_not_running": bool(line.not_running[i]),
                    "out_of_sync": bool(line.out_of_sync[i]),
                }
            )
    return {
        "plant": line.plant,
        "line": line.line,
        "production_rated_kw": rated["production"],
        "treatment_rated_kw": rated["treatment"],
        "meters": [
            {
                "meter": m.meter,
                "facility": m.facility,
                "rated_kw": None if m.rated_kw is None else round(m.rated_kw, 3),
                "rated_learned": m.rated_learned,
            }
            for m in line.meters
        ],
        "out_of_sync_minutes": float(np.sum(line.out_of_sync)) * BUCKET_MS / 60_000,
        "periods": [
            {"start": _iso(p.start_ms), "end": _iso(p.end_ms), "minutes": p.minutes} for p in found
        ],
        "buckets": buckets,
    }


def _window(
    start: datetime | None, end: datetime | None, default: timedelta
) -> tuple[datetime, datetime]:
    end_at = check_instant("end", end) if end is not None else datetime.now(UTC)
    start_at = check_instant("start", start) if start is not None else end_at - default
    check_range(start_at, end_at, MAX_RANGE)
    return start_at, end_at


def _answer(
    lines: list[LineBuckets], start: datetime, end: datetime, tz: str, with_buckets: bool
) -> LinesAnswer:
    return LinesAnswer.model_validate(
        {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "timezone": tz,
            "definition": DEFINITION,
            "lines": [line_json(line, with_buckets) for line in lines],
        }
    )


@router.get("/plants/{plant}/lines", response_model=LinesAnswer, responses=error_responses(404))
async def get_plant_lines(
    plant: str,
    request: Request,
    settings: SettingsDep,
    _: PlantReaderDep,
    found: KnownPlantDep,
    start: StartQuery = None,
    end: EndQuery = None,
) -> LinesAnswer:
    """Per line: production and treatment power per quarter hour, rated power, out-of-sync periods."""
    start_at, end_at = _window(start, end, DEFAULT_RANGE)
    core = power_core(request, settings)
    now = datetime.now(UTC)
    lines = await run_in_threadpool(core.lines, lines_of([found]), start_at, end_at, now)
    return _answer(lines, start_at, end_at, settings.timezone, True)


@router.get("/lines", response_model=LinesAnswer, responses=error_responses())
async def get_county_lines(
    request: Request,
    settings: SettingsDep,
    registry: RegistryDep,
    _: ReaderDep,
    start: StartQuery = None,
    end: EndQuery = None,
) -> LinesAnswer:
    """Every line of the county with its out-of-sync periods (default: today, local time)."""
    now = datetime.now(UTC)
    # Checked before any arithmetic: a year-9999 `end` is a 422, not an overflow.
    end = check_instant("end", end) if end is not None else None
    local = (end or now).astimezone(ZoneInfo(settings.timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    start_at, end_at = _window(start or midnight, end, DEFAULT_RANGE)
    core = power_core(request, settings)
    lines = await run_in_threadpool(core.lines, lines_of(registry.plants), start_at, end_at, now)
    return _answer(lines, start_at, end_at, settings.timezone, False)
