"""Conversion records and manual entries (SPEC section 6): officers append, readers list."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import KnownPlantDep, OfficerDep, PlantReaderDep, ReaderDep, ScopeDep
from api.ranges import RangeError, check_instant
from api.records import outbox
from api.records.manual import checked_deliveries
from api.records.model import (
    COAL_DELIVERY,
    KINDS,
    NewRecord,
    Record,
    RecordError,
    RecordNotFound,
    check,
    with_supersession,
)
from api.records.repo import RecordRepo
from api.schemas import ERROR_RESPONSES, RecordCreated, RecordsAnswer, error_responses

router = APIRouter(prefix="/api/v1", tags=["records"])
FUTURE_SLACK_SECONDS = 300


class RecordBody(BaseModel):
    kind: Literal["boiler_removed", "boiler_sealed", "meter_replaced", "coal_delivery"]
    effective_at: datetime = Field(description="when it happened on site (RFC 3339 with offset)")
    reason: str = Field(min_length=1, max_length=2000, description="why (what was seen, by whom)")
    meter: str = Field("", max_length=64, description="the meter replaced or delivered to")
    old_register: float | None = Field(None, ge=0, description="old meter's last register")
    new_register: float | None = Field(None, ge=0, description="new meter's first register")
    mass_kg: float | None = Field(None, gt=0, description="coal delivered (coal_delivery)")
    attachment: str = Field("", max_length=500, description="reference to a photo or document")
    supersedes: int | None = Field(
        None, ge=1, le=2**31 - 1, description="id of the record corrected"
    )


def _repo(request: Request) -> RecordRepo:
    return RecordRepo(request.app.state.db)


@router.post(
    "/plants/{plant}/records",
    status_code=status.HTTP_201_CREATED,
    response_model=RecordCreated,
    responses=error_responses(404),
)
async def create_record(
    body: RecordBody, request: Request, found: KnownPlantDep, officer: OfficerDep
) -> dict[str, Any]:
    """Append a record; a correction supersedes an earlier one (records are never edited).

    A coal delivery's readings are published after the record is committed; if the broker
    is away the record is kept, `readings_published` is 0 and the outbox publishes them later.
    """
    now = datetime.now(UTC)
    try:
        at = check_instant("effective_at", body.effective_at)
    except RangeError as exc:
        raise HTTPException(422, str(exc)) from exc
    if (at - now).total_seconds() > FUTURE_SLACK_SECONDS:
        raise HTTPException(422, "'effective_at' lies in the future")
    new = NewRecord(
        found.id,
        body.kind,
        at,
        body.reason,
        body.meter,
        body.old_register,
        body.new_register,
        body.mass_kg,
        body.attachment,
        body.supersedes,
    )
    repo = _repo(request)

    rules = request.app.state.ingest_rules

    def run() -> tuple[Record, int]:
        check(new, {m.id: m.kind for m in found.meters})
        if new.kind == COAL_DELIVERY:
            # Validated before the record is kept; published only after it is committed
            # (outbox), so a refused record publishes nothing.
            existing = repo.list(found.id)
            draft = Record(
                max((r.id for r in existing), default=0) + 1,
                new.plant,
                new.kind,
                at,
                new.meter,
                None,
                None,
                new.mass_kg,
                officer.name,
                now,
                new.reason,
                new.attachment,
                new.supersedes,
            )
            checked_deliveries(
                rules,
                found.id,
                new.meter,
                with_supersession([*(replace(r, superseded_by=None) for r in existing), draft]),
                now,
            )
        record = repo.add(new, officer.name, now)
        if new.kind != COAL_DELIVERY:
            return record, 0
        published = outbox.drain(repo, rules, request.app.state.publisher, now)
        return record, published.get((found.id, new.meter), 0)

    try:
        record, published = await run_in_threadpool(run)
    except RecordNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except RecordError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {**record.as_json(), "readings_published": published}


@router.get("/plants/{plant}/records", response_model=RecordsAnswer, responses=error_responses(404))
async def list_plant_records(
    request: Request, found: KnownPlantDep, _: PlantReaderDep
) -> dict[str, Any]:
    """A plant's records, superseded ones too (marked `current: false`)."""
    records = await run_in_threadpool(_repo(request).list, found.id)
    return {"plant": found.id, "kinds": list(KINDS), "records": [r.as_json() for r in records]}


@router.get("/records", response_model=RecordsAnswer, responses=ERROR_RESPONSES)
async def list_records(
    request: Request,
    _: ReaderDep,
    scope: ScopeDep,
    current: Annotated[bool, "only records not superseded"] = False,
) -> dict[str, Any]:
    """Every plant's records (of the caller's county, for a county key)."""
    records = await run_in_threadpool(_repo(request).list)
    shown = [r for r in records if scope.sees(r.plant) and (r.current or not current)]
    return {"records": [r.as_json() for r in shown]}
