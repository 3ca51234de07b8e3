"""VOC compliance, emission totals and capture rates (SPEC sections 7 and 8), JSON or CSV."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.deps import KnownPlantDep, PlantReaderDep, ReaderDep, RegistryDep, SettingsDep, StoreDep
from api.export import MEDIA_TYPE, to_csv
from api.marks.repo import MarkRepo
from api.ranges import check_instant, check_range
from api.schemas import (
    VocAnswer,
    VocCaptureAnswer,
    VocEmissionsAnswer,
    VocStack,
    error_responses,
)
from api.voc.rules import (
    EMPTY_SPANS,
    HOUR_MS,
    MIN_STOPPED_MINUTES,
    MIN_VALID_MINUTES,
    StackCompliance,
)
from api.voc.service import capture, compliance, emissions
from ingest.kernel.record import LATE_FILL_AFTER_MS
from ingest.kernel.registry import Plant
from ingest.kernel.store import InfluxStore

router = APIRouter(prefix="/api/v1", tags=["voc"])
MAX_RANGE = timedelta(days=31)
MAX_TOTALS_RANGE = timedelta(days=366)
DEFAULT_RANGE = timedelta(hours=24)
StartQuery = Annotated[
    datetime | None, Query(description="RFC 3339; default depends on the endpoint")
]
EndQuery = Annotated[datetime | None, Query(description="RFC 3339; default now")]
PeriodQuery = Annotated[Literal["day", "month"], Query(description="local day or month")]
FormatQuery = Annotated[Literal["json", "csv"], Query(description="json or csv (UTF-8 with BOM)")]
HOUR_COLUMNS = (
    "meter",
    "pollutant",
    "start",
    "end",
    "status",
    "source",
    "valid_minutes",
    "mean_mgm3",
    "limit_mgm3",
    "exceeds",
    "logger_mean_mgm3",
    "logger_flag",
    "disagrees",
    "over_range_minutes",
    "stopped_minutes",
    "fault_minutes",
    "comm_minutes",
    "transmitted_minutes",
    "emission_kgh",
    "emission_kg",
    "late_filled",
)
EMISSION_COLUMNS = (
    "plant",
    "meter",
    "pollutant",
    "period",
    "emission_kg",
    "hours_with_emission",
    "hours",
)
CAPTURE_COLUMNS = (
    "plant",
    "meter",
    "pollutant",
    "period",
    "expected_minutes",
    "transmitted_minutes",
    "valid_minutes",
    "transmitted_share",
    "valid_share",
)
DEFINITION = {
    "min_valid_minutes": MIN_VALID_MINUTES,
    "stopped": f"not valid and at least {MIN_STOPPED_MINUTES} minutes flagged F",
    "minutes": "minute data (CN 2051) where sent, else minutes covered by a real-time reading; "
    "flags N and T are valid (T, over range, is a lower bound: evidence of an exceedance)",
    "logger_hour": "the logger's CN 2061 hour, shown beside the computed one and used when no "
    "minute was sent",
    "hours": "whole hours covering [start, end); an hour not yet ended is 'pending'",
    "emission_kgh": "mean over the hour of minute mg/m³ × minute flow m³/h × 1e-6",
    "emission_kg": "the logger's -Cou for the hour where sent, else emission_kgh × 1 h",
    "late_filled": f"a reading of the hour arrived more than {LATE_FILL_AFTER_MS // 60_000} "
    "minutes after the hour ended (filled in after the fact; SPEC section 14)",
}


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def hour_rows(stack: StackCompliance) -> list[dict[str, Any]]:
    """One row per pollutant and hour of a stack."""
    rows = []
    late = stack.late_filled
    for p in stack.pollutants:
        agg = p.agg
        for i, start in enumerate(p.hour_start_ms.tolist()):
            rows.append(
                {
                    "meter": stack.meter,
                    "pollutant": p.limit.pollutant,
                    "start": _iso(int(start)),
                    "end": _iso(int(start) + HOUR_MS),
                    "status": p.status[i],
                    "source": p.source[i],
                    "valid_minutes": int(agg["valid_minutes"][i]),
                    "mean_mgm3": _number(p.mean[i]),
                    "limit_mgm3": p.limit.limit_mgm3,
                    "exceeds": bool(p.exceeds[i]),
                    "logger_mean_mgm3": _number(p.logger.mean[i]),
                    "logger_flag": p.logger.flag[i] or None,
                    "disagrees": bool(p.disagrees[i]),
                    "over_range_minutes": int(agg["over_range_minutes"][i]),
                    "stopped_minutes": int(agg["stopped_minutes"][i]),
                    "fault_minutes": int(agg["fault_minutes"][i]),
                    "comm_minutes": int(agg["comm_minutes"][i]),
                    "transmitted_minutes": int(agg["transmitted_minutes"][i]),
                    "emission_kgh": _number(p.emission_kgh[i]),
                    "emission_kg": _number(p.emission_kg[i]),
                    # the stack's hour came late, and this pollutant has data in it
                    "late_filled": bool(late and late[i])
                    and (agg["transmitted_minutes"][i] > 0 or p.logger.flag[i] != ""),
                }
            )
    return rows


def _mark_repo(request: Request) -> MarkRepo:
    return MarkRepo(request.app.state.db)


MarkRepoDep = Annotated[MarkRepo, Depends(_mark_repo)]


def stack_json(stack: StackCompliance) -> VocStack:
    """One stack's compliance: per pollutant its limit, counts and hours."""
    rows = hour_rows(stack)
    pollutants = []
    for p in stack.pollutants:
        hours = [
            {k: v for k, v in r.items() if k not in ("meter", "pollutant", "limit_mgm3")}
            for r in rows
            if r["pollutant"] == p.limit.pollutant
        ]
        pollutants.append(
            {
                "pollutant": p.limit.pollutant,
                "limit_mgm3": p.limit.limit_mgm3,
                "limit_source": p.limit.source,
                "limit_rule": p.limit.rule,
                "process": p.limit.process,
                "halved": p.limit.halved,
                "proxy_of": p.limit.proxy_of,
                "counts": p.counts(),
                "hours": hours,
            }
        )
    marks = [{"start": _iso_ms(a), "end": _iso_ms(b)} for a, b in stack.marks]
    return VocStack.model_validate(
        {
            "meter": stack.meter,
            "late_filled_hours": stack.late_filled_hours(),
            "pollutants": pollutants,
            "marks": marks,
        }
    )


def _iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def _window(
    start: datetime | None, end: datetime | None, default: timedelta, longest: timedelta
) -> tuple[datetime, datetime, datetime]:
    now = datetime.now(UTC)
    # check_instant refuses naive and out-of-range instants before any arithmetic on them.
    end_at = check_instant("end", end) if end is not None else now
    start_at = check_instant("start", start) if start is not None else end_at - default
    check_range(start_at, end_at, longest)
    return start_at, end_at, now


def _month_start(end: datetime, timezone: str) -> datetime:
    local = end.astimezone(ZoneInfo(timezone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    **error_responses(404),
    200: {"content": {"text/csv": {}}, "description": "JSON, or the rows as CSV"},
}


def _csv(columns: tuple[str, ...], rows: list[dict[str, Any]], name: str) -> Response:
    return Response(
        to_csv(columns, rows),
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get("/plants/{plant}/voc", response_model=VocAnswer, responses=CSV_RESPONSES)
async def get_voc(
    plant: str,
    store: StoreDep,
    marks: MarkRepoDep,
    settings: SettingsDep,
    _: PlantReaderDep,
    found: KnownPlantDep,
    start: StartQuery = None,
    end: EndQuery = None,
    format: FormatQuery = "json",
) -> Any:
    """Hourly VOC means per stack and pollutant: validity, limit, exceedance, logger hour, emission."""
    start_at, end_at, now = _window(start, end, DEFAULT_RANGE, MAX_RANGE)
    spans = await run_in_threadpool(marks.spans, start_at, end_at, [found.id])
    stacks = await run_in_threadpool(compliance, store, [found], start_at, end_at, now, spans)
    if format == "csv":
        return _csv(HOUR_COLUMNS, [r for s in stacks for r in hour_rows(s)], f"{plant}-voc")
    return VocAnswer.model_validate(
        {
            "plant": plant,
            "start": start_at.isoformat(),
            "end": end_at.isoformat(),
            "timezone": settings.timezone,
            "definition": DEFINITION,
            "stacks": [stack_json(s) for s in stacks],
        }
    )


async def _totals(
    plants: list[Plant],
    store: Any,
    timezone: str,
    start: datetime | None,
    end: datetime | None,
    period: str,
    marks: MarkRepo | None = None,
) -> tuple[datetime, datetime, datetime, list[StackCompliance]]:
    end_at = check_instant("end", end) if end is not None else datetime.now(UTC)
    start_at, end_at, now = _window(
        start or _month_start(end_at, timezone), end_at, DEFAULT_RANGE, MAX_TOTALS_RANGE
    )
    spans = (
        EMPTY_SPANS
        if marks is None
        else await run_in_threadpool(marks.spans, start_at, end_at, [p.id for p in plants])
    )
    stacks = await run_in_threadpool(compliance, store, plants, start_at, end_at, now, spans)
    return start_at, end_at, now, stacks


async def _emissions_answer(
    plants: list[Plant],
    whose: dict[str, str],
    store: InfluxStore,
    timezone: str,
    start: datetime | None,
    end: datetime | None,
    period: str,
    format: str,
) -> Any:
    """Emission totals of `plants` as JSON (`whose` names the plant or county) or CSV."""
    start_at, end_at, _now, stacks = await _totals(plants, store, timezone, start, end, period)
    totals = emissions(stacks, timezone, period)
    if format == "csv":
        name = whose.get("plant") or "county"
        return _csv(EMISSION_COLUMNS, totals["stacks"], f"{name}-voc-emissions")  # type: ignore[arg-type]
    return VocEmissionsAnswer.model_validate(
        {**whose, "start": start_at.isoformat(), "end": end_at.isoformat(),
         "period": period, "timezone": timezone, "definition": DEFINITION,
         "stacks": totals["stacks"], "plants": totals["plants"], "totals": totals["county"]}
    )  # fmt: skip


@router.get(
    "/plants/{plant}/voc/emissions", response_model=VocEmissionsAnswer, responses=CSV_RESPONSES
)
async def get_plant_emissions(
    plant: str,
    store: StoreDep,
    settings: SettingsDep,
    _: PlantReaderDep,
    found: KnownPlantDep,
    start: StartQuery = None,
    end: EndQuery = None,
    period: PeriodQuery = "day",
    format: FormatQuery = "json",
) -> Any:
    """Emitted kg per stack and pollutant per local day or month (default: this month)."""
    return await _emissions_answer(
        [found], {"plant": plant}, store, settings.timezone, start, end, period, format
    )


@router.get("/voc/emissions", response_model=VocEmissionsAnswer, responses=CSV_RESPONSES)
async def get_county_emissions(
    store: StoreDep,
    registry: RegistryDep,
    settings: SettingsDep,
    _: ReaderDep,
    start: StartQuery = None,
    end: EndQuery = None,
    period: PeriodQuery = "month",
    format: FormatQuery = "json",
) -> Any:
    """Emitted kg per stack, plant and the county per local day or month (default: this month)."""
    plants = [p for p in registry.plants if p.meters_of("voc")]
    return await _emissions_answer(
        plants, {"county": registry.county_name}, store, settings.timezone,
        start, end, period, format,
    )  # fmt: skip


@router.get("/plants/{plant}/voc/capture", response_model=VocCaptureAnswer, responses=CSV_RESPONSES)
async def get_capture(
    plant: str,
    store: StoreDep,
    marks: MarkRepoDep,
    settings: SettingsDep,
    _: PlantReaderDep,
    found: KnownPlantDep,
    start: StartQuery = None,
    end: EndQuery = None,
    period: PeriodQuery = "day",
    format: FormatQuery = "json",
) -> Any:
    """Data capture per stack and pollutant: transmitted/expected and valid/transmitted minutes."""
    start_at, end_at, now, stacks = await _totals(
        [found], store, settings.timezone, start, end, period, marks
    )
    rows = capture(stacks, now, settings.timezone, period)
    if format == "csv":
        return _csv(CAPTURE_COLUMNS, rows, f"{plant}-voc-capture")
    return VocCaptureAnswer.model_validate(
        {
            "plant": plant,
            "start": start_at.isoformat(),
            "end": end_at.isoformat(),
            "period": period,
            "timezone": settings.timezone,
            "definition": {
                "transmitted_share": "minutes with any data / minutes of the period passed",
                "valid_share": "valid minutes (flag N or T) / minutes with any data",
                "declared_minutes": "minutes of hours accepted marks declare: not expected",
            },
            "capture": rows,
        }
    )
