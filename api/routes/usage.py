"""Fuel usage per plant and per sector (gas m³, coal kg, kgce, CO2 per interval), JSON or CSV."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.deps import (
    KnownPlantDep,
    PlantReaderDep,
    ReaderDep,
    RegistryDep,
    RollupCacheDep,
    SettingsDep,
    StoreDep,
)
from api.export import MEDIA_TYPE, USAGE_COLUMNS, to_csv
from api.fuel.service import FuelCore, Interval, Usage
from api.ranges import resolve_window
from api.readmodel.cache import RollupCache
from api.records.repo import RecordRepo
from api.schemas import UsageAnswer, UsageTotals, error_responses
from api.settings import ApiSettings
from ingest.kernel.registry import SECTORS, Plant, Registry
from ingest.kernel.store import InfluxStore

router = APIRouter(prefix="/api/v1", tags=["usage"])

StartQuery = Annotated[
    datetime | None, Query(description="start (RFC 3339 with offset); default end - 30 days")
]
EndQuery = Annotated[datetime | None, Query(description="end (RFC 3339 with offset); default now")]
EveryQuery = Annotated[
    str,
    Query(
        description="interval: a whole number and m, h, d or w (days start at local midnight, "
        "weeks on Monday)",
        max_length=12,
    ),
]
FormatQuery = Annotated[Literal["json", "csv"], Query(description="json or csv (UTF-8 with BOM)")]
LangQuery = Annotated[
    Literal["en", "zh"], Query(description="CSV headers: en (value names) or zh (Chinese)")
]


def _interval_dict(interval: Interval) -> dict[str, Any]:
    row = asdict(interval)
    row["start"], row["end"] = interval.start.isoformat(), interval.end.isoformat()
    return row


async def _answer(
    settings: ApiSettings,
    store: InfluxStore,
    registry: Registry,
    what: dict[str, Any],
    plants: list[Plant],
    start: datetime | None,
    end: datetime | None,
    every: str,
    fmt: str,
    filename: str,
    lang: str = "en",
    cache: RollupCache | None = None,
) -> Any:
    tz = ZoneInfo(settings.timezone)
    window = resolve_window(start, end, every, tz, datetime.now(UTC), settings.usage_max_buckets)

    core = FuelCore.from_settings(settings, store, registry, cache=cache)
    max_raw = timedelta(days=settings.usage_max_raw_days)

    def compute() -> Usage:
        return core.usage(
            plants,
            window.start,
            window.end,
            window.every,
            window.offset,
            window.first_bucket,
            max_raw,
        )

    answer = await run_in_threadpool(compute)
    rows, plan = answer.intervals, answer.sources
    series = [_interval_dict(r) for r in rows]
    if fmt == "csv":
        return Response(
            to_csv(USAGE_COLUMNS, series, lang, tz),
            media_type=MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return UsageAnswer.model_validate(
        {
            **what,
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "every": every,
            "timezone": settings.timezone,
            "units": {"gas": "m3", "coal": "kg", "kgce": "kg standard coal", "co2": "kg"},
            "intervals": series,
            "totals": usage_totals(series),
            "data_through": answer.data_through.isoformat() if answer.data_through else None,
            "sources": [
                {"source": s.source, "start": s.start.isoformat(), "end": s.end.isoformat()}
                for s in plan
            ],
        }
    )


def usage_totals(series: list[dict[str, Any]]) -> UsageTotals:
    """The intervals summed (they add up: a step belongs to the interval of its later reading)."""
    sums = {k: sum(r[k] for r in series) for k in USAGE_COLUMNS if k not in ("start", "end")}
    kgce = sums["gas_kgce"] + sums["coal_kgce"]
    return UsageTotals(**sums, gas_fraction=sums["gas_kgce"] / kgce if kgce > 0 else None)


USAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **error_responses(404),
    200: {"content": {"text/csv": {}}, "description": "JSON, or the intervals as CSV"},
}


@router.get("/plants/{plant}/usage", response_model=UsageAnswer, responses=USAGE_RESPONSES)
async def plant_usage(
    request: Request,
    plant: str,
    _: PlantReaderDep,
    found: KnownPlantDep,
    settings: SettingsDep,
    store: StoreDep,
    registry: RegistryDep,
    cache: RollupCacheDep,
    start: StartQuery = None,
    end: EndQuery = None,
    every: EveryQuery = "1d",
    format: FormatQuery = "json",
    lang: LangQuery = "en",
) -> Any:
    """Gas m³, coal kg, kgce and CO2 of one plant per interval (its meters' registers)."""
    records = await run_in_threadpool(RecordRepo(request.app.state.db).list, found.id)
    return await _answer(
        settings,
        store,
        registry,
        {
            "plant": found.id,
            "name": found.name,
            "sector": found.sector,
            # Usage reads the registers (manual deliveries included as S readings); the
            # records are listed here for context.
            "records": [r.as_json() for r in records if r.current],
        },
        [found],
        start,
        end,
        every,
        format,
        f"usage-{found.id}.csv",
        lang,
        cache,
    )


@router.get("/usage", response_model=UsageAnswer, responses=USAGE_RESPONSES)
async def sector_usage(
    _: ReaderDep,
    settings: SettingsDep,
    store: StoreDep,
    registry: RegistryDep,
    cache: RollupCacheDep,
    sector: Annotated[
        Literal["stainless_steel", "synthetic_leather", "other"],
        Query(description=f"one of {', '.join(SECTORS)}"),
    ] = "stainless_steel",
    start: StartQuery = None,
    end: EndQuery = None,
    every: EveryQuery = "1d",
    format: FormatQuery = "json",
    lang: LangQuery = "en",
) -> Any:
    """Gas m³, coal kg, kgce and CO2 of all registered plants of a sector, per interval."""
    plants = list(registry.by_sector(sector))
    what = {"sector": sector, "plants": [p.id for p in plants]}
    return await _answer(
        settings,
        store,
        registry,
        what,
        plants,
        start,
        end,
        every,
        format,
        f"usage-{sector}.csv",
        lang,
        cache,
    )
