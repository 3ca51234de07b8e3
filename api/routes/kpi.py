"""The coal-to-gas KPI (SPEC section 6), its monthly history and year-end projection."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.deps import ReaderDep, RegistryDep, SettingsDep, StoreDep
from api.export import KPI_COLUMNS, MEDIA_TYPE, to_csv
from api.factors import definition_for_window
from api.fuel.rules import ConversionFact, FirmRow, GasShare, share_of
from api.fuel.service import FuelCore, Kpi, step_rules
from api.ranges import check_instant
from api.records.repo import RecordRepo
from api.records.rules import records_used
from api.schemas import (
    ERROR_RESPONSES,
    CountyShare,
    FuelTotals,
    GasShareAnswer,
    GasShareHistoryAnswer,
)
from ingest.kernel.registry import Registry

router = APIRouter(prefix="/api/v1/kpi", tags=["kpi"])
MAX_WINDOW_DAYS = 366


@router.get(
    "/gas-share",
    response_model=GasShareAnswer,
    responses={
        **ERROR_RESPONSES,
        200: {"content": {"text/csv": {}}, "description": "JSON, or the rows as CSV"},
    },
)
async def get_gas_share(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    registry: RegistryDep,
    _: ReaderDep,
    at: Annotated[
        datetime | None, Query(description="end of the window (RFC 3339 with offset); default now")
    ] = None,
    window_days: Annotated[float | None, Query(gt=0, le=MAX_WINDOW_DAYS)] = None,
    format: Annotated[
        Literal["json", "csv"], Query(description="json, or csv of the rows")
    ] = "json",
    lang: Annotated[Literal["en", "zh"], Query(description="CSV headers: en or zh")] = "en",
) -> Any:
    """Share of stainless-steel firms on natural gas over a trailing window, with every firm's row."""
    end = check_instant("at", at) if at is not None else datetime.now(UTC)
    window = timedelta(days=window_days or settings.kpi.window_days)
    definition = definition_for_window(settings.kpi, end, ZoneInfo(settings.timezone))
    check_instant("window start", end - window)
    firms = registry.by_sector("stainless_steel")
    repo = RecordRepo(request.app.state.db)

    def answer() -> tuple[list[ConversionFact], Kpi]:
        """The officers' records and the KPI, read in one trip to the thread pool."""
        facts = repo.facts()
        # The factors in effect at the window's last instant (api/factors.py).
        core = FuelCore(
            store,
            settings.timezone,
            step_rules(settings),
            definition,
            registry.gas_share_goal,
            facts,
            request.app.state.rollup_cache,
        )
        return facts, core.kpi(firms, end, window)

    facts, kpi = await run_in_threadpool(answer)
    result = kpi.share
    if format == "csv":
        return Response(
            to_csv(
                KPI_COLUMNS, [asdict(r) for r in result.rows], lang, ZoneInfo(settings.timezone)
            ),
            media_type=MEDIA_TYPE,
            headers={
                "Content-Disposition": f'attachment; filename="gas-share-{end:%Y%m%dT%H%MZ}.csv"'
            },
        )
    return GasShareAnswer.model_validate(
        {
            "at": end.isoformat(),
            "window_start": (end - window).isoformat(),
            "window_days": window.total_seconds() / 86_400,
            **result.as_dict(),
            "active_firms": result.firms - result.counts["idle"],
            "totals": fuel_totals(result.rows),
            "data_through": kpi.data_through.isoformat() if kpi.data_through else None,
            "firm_data_through": {
                plant: t.isoformat() if t else None for plant, t in kpi.firm_data_through.items()
            },
            "sources": [
                {"source": s.source, "start": s.start.isoformat(), "end": s.end.isoformat()}
                for s in kpi.sources
            ],
            "definition": definition.model_dump()
            | {
                "goal": registry.gas_share_goal,
                "max_rate_per_hour": settings.max_rate_per_hour,
                "max_gap_hours": settings.rollup_max_gap_hours,
                "coverage": "reported hours / clock hours the window touches",
                "step": "a register step counts in the interval of its later reading",
            },
            "timezone": settings.timezone,
            "records_used": records_used(facts, firms, kpi.start),
            "counties": county_shares(result, registry),
        }
    )


def county_shares(result: GasShare, registry: Registry) -> list[CountyShare]:
    """Each county's share from its firms' rows, against its own goal."""
    county_of = {p.id: p.county for p in registry.plants}
    out = []
    for c in registry.counties:
        share = share_of([r for r in result.rows if county_of[r.plant] == c.id], c.gas_share_goal)
        out.append(
            CountyShare(
                id=c.id,
                name=c.name,
                goal=share.goal,
                firms=share.firms,
                active_firms=share.firms - share.counts["idle"],
                counts=share.counts,
                share=share.share,
                share_upper=share.share_upper,
                firms_needed=share.firms_needed,
                meets_goal=share.meets_goal,
            )
        )
    return out


def fuel_totals(rows: Sequence[FirmRow]) -> FuelTotals:
    """The rows' fuel summed; the fraction of the sum, as the KPI defines a firm's."""
    sums = {k: math.fsum(getattr(r, k) for r in rows) for k in FUEL_TOTAL_FIELDS}
    kgce = sums["gas_kgce"] + sums["coal_kgce"]
    return FuelTotals(**sums, gas_fraction=sums["gas_kgce"] / kgce if kgce > 0 else None)


FUEL_TOTAL_FIELDS = ("gas_m3", "coal_kg", "gas_kgce", "coal_kgce", "co2_kg", "co2_avoided_kg")


@router.get("/gas-share/history", response_model=GasShareHistoryAnswer, responses=ERROR_RESPONSES)
async def get_gas_share_history(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    registry: RegistryDep,
    _: ReaderDep,
    year: Annotated[
        int | None, Query(ge=2000, le=2099, description="calendar year (local); default this year")
    ] = None,
) -> GasShareHistoryAnswer:
    """Monthly share for a year, the year-end projection, `on_track` and the nearest candidates."""
    tz = ZoneInfo(settings.timezone)
    now = datetime.now(UTC)
    chosen = year or now.astimezone(tz).year
    goal = registry.gas_share_goal
    facts = await run_in_threadpool(RecordRepo(request.app.state.db).facts)
    core = FuelCore.from_settings(settings, store, registry, facts, request.app.state.rollup_cache)
    firms = registry.by_sector("stainless_steel")
    months, view = await run_in_threadpool(core.history, firms, chosen, now)
    year_end = min(now, months[-1].end) if months else now
    through = await run_in_threadpool(core.latest_reading, firms, year_end, timedelta(days=366))
    return GasShareHistoryAnswer.model_validate(
        {
            "year": chosen,
            "goal": goal,
            "timezone": settings.timezone,
            "months": [
                {
                    "month": m.month,
                    "start": m.start.isoformat(),
                    "end": m.end.isoformat(),
                    "complete": m.complete,
                    "has_data": m.kpi.has_data,
                    "firms": m.kpi.firms,
                    "counts": m.kpi.counts,
                    "share": m.kpi.share,
                    "share_upper": m.kpi.share_upper,
                    "firms_needed": m.kpi.firms_needed,
                    "records_used": records_used(facts, firms, m.start),
                }
                for m in months
            ],
            "projection": {
                "gas_firms": view.projection.gas_firms if view.projection else None,
                "gas_firms_low": view.projection.low if view.projection else None,
                "gas_firms_high": view.projection.high if view.projection else None,
                "slope_firms_per_month": view.projection.slope_per_month
                if view.projection
                else None,
                "months_used": view.projection.months_used if view.projection else 0,
                "method": view.projection.method if view.projection else "no data",
                "active_firms": view.active_firms,
                "share": view.projected_share,
                "share_low": view.share_low,
                "share_high": view.share_high,
            },
            "on_track": view.on_track,
            "data_through": through.isoformat() if through else None,
            "firms_needed": view.firms_needed,
            "candidates": view.candidates,
            "definition": {
                "month_window": "calendar month in local time; the current month to date",
                "timezone": settings.timezone,
                "source": "fuel_daily / fuel_hourly rollups, raw readings for the rest",
                "coverage": "reported hours / clock hours of the month",
            },
        }
    )
