"""Marks (SPEC section 14): a plant marks its own stack or meter; officers accept or reject.

A plant key creates marks for its own plant only and reads only its own; officers and
viewers read every plant's; only officers (and admin) review. Every change is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.alerts.repo import AlertRepo
from api.auth import Principal
from api.deps import KnownPlantDep, OfficerDep, PlantPusherDep, ScopeDep, get_principal
from api.errors import Forbidden, NotFound
from api.marks.model import KINDS, Mark, NewMark, check
from api.marks.repo import MAX_COMMENT_CHARS, MarkRepo
from api.marks.rules import covered_alerts
from api.ranges import check_instant
from api.schemas import Model, error_responses
from api.scope import Scope

router = APIRouter(prefix="/api/v1", tags=["marks"])
MarkId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MAX_LIST = 1000
# PostgreSQL text cannot hold NUL.
NO_NUL = r"^[^\x00]*$"
Evidence = Annotated[str, Field(min_length=1, max_length=500, pattern=NO_NUL)]


class MarkBody(BaseModel):
    meter: str = Field(
        min_length=1, max_length=64, pattern=NO_NUL, description="the stack or meter marked"
    )
    kind: Literal["stopped", "maintenance", "fault", "calibration"]
    start: datetime = Field(description="RFC 3339 with offset")
    end: datetime = Field(description="RFC 3339 with offset, after start")
    reason: str = Field(min_length=1, max_length=2000, pattern=NO_NUL)
    evidence: list[Evidence] = Field(
        default_factory=list, max_length=20, description="references to photos or documents"
    )


class ReviewBody(BaseModel):
    comment: str = Field(min_length=1, max_length=MAX_COMMENT_CHARS, pattern=NO_NUL)


class CoveredAlert(Model):
    id: int
    kind: str
    meter: str | None
    pollutant: str | None
    status: str
    since: str | None
    late: bool


class MarkAnswer(Model):
    id: int
    plant: str
    meter: str
    kind: str
    start: str
    end: str
    reason: str
    evidence: list[str]
    status: str
    created_by: str
    created_at: str
    reviewed_by: str | None
    reviewed_at: str | None
    review_comment: str | None
    covers_alerts: list[CoveredAlert] = Field(
        default_factory=list,
        description="alerts of this meter whose time the mark overlaps: accepting it takes "
        "those hours out of judgement",
    )


class MarkList(Model):
    kinds: list[str]
    marks: list[MarkAnswer]


def _repo(request: Request) -> MarkRepo:
    return MarkRepo(request.app.state.db)


def _answer(mark: Mark, alerts: AlertRepo) -> dict[str, Any]:
    covered = covered_alerts(mark, alerts.find(plant=mark.plant, limit=MAX_LIST))
    return {
        **mark.as_json(),
        "covers_alerts": [
            {
                "id": a.id,
                "kind": a.key.kind,
                "meter": a.key.meter or None,
                "pollutant": a.key.pollutant or None,
                "status": a.status,
                "since": a.as_json()["since"],
                "late": a.late,
            }
            for a in covered
        ],
    }


def mark_reader(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """Officers, viewers, admin and plant keys (these see their own plant's marks only)."""
    if principal.role not in ("admin", "officer", "viewer", "plant"):
        raise Forbidden(f"role {principal.role!r} may not read marks")
    return principal


@router.post(
    "/plants/{plant}/marks",
    status_code=status.HTTP_201_CREATED,
    response_model=MarkAnswer,
    responses=error_responses(404),
)
async def create_mark(
    body: MarkBody, request: Request, found: KnownPlantDep, who: PlantPusherDep
) -> dict[str, Any]:
    """A plant marks a period of its own stack or meter; it waits for an officer's review."""
    now = datetime.now(UTC)
    new = NewMark(
        found.id,
        body.meter,
        body.kind,
        check_instant("start", body.start),
        check_instant("end", body.end),
        body.reason,
        tuple(body.evidence),
    )
    check(new, {m.id: m.kind for m in found.meters}, now)
    repo = _repo(request)
    mark = await run_in_threadpool(repo.add, new, who.name, now)
    return await run_in_threadpool(_answer, mark, request.app.state.alert_repo)


@router.get("/marks", response_model=MarkList, responses=error_responses())
async def list_marks(
    request: Request,
    who: Annotated[Principal, Depends(mark_reader)],
    scope: ScopeDep,
    status_: Annotated[
        Literal["pending", "accepted", "rejected"] | None, Query(alias="status")
    ] = None,
    plant: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Marks, newest first, each with the alerts it covers; a plant key sees its own only."""
    if who.role == "plant":
        if plant is not None and plant != who.plant:
            raise Forbidden(f"this plant key belongs to {who.plant!r}, not {plant!r}")
        plant = who.plant
    if plant is not None and not scope.sees(plant):
        return {"kinds": list(KINDS), "marks": []}
    marks = await run_in_threadpool(_repo(request).find, status_, plant, MAX_LIST, scope.plant_ids)
    alerts = request.app.state.alert_repo
    answers = [await run_in_threadpool(_answer, m, alerts) for m in marks]
    return {"kinds": list(KINDS), "marks": answers}


async def _review(
    request: Request, mark_id: int, accept: bool, who: Principal, comment: str, scope: Scope
) -> Any:
    repo = _repo(request)
    found = await run_in_threadpool(repo.get, mark_id)
    if not scope.sees(found.plant):
        raise NotFound(f"no mark {mark_id}")  # another county's: as if there were none
    mark = await run_in_threadpool(
        repo.review, mark_id, accept, who.name, comment, datetime.now(UTC)
    )
    return await run_in_threadpool(_answer, mark, request.app.state.alert_repo)


@router.post(
    "/marks/{mark_id}/accept", response_model=MarkAnswer, responses=error_responses(404, 409)
)
async def accept_mark(
    mark_id: MarkId, body: ReviewBody, request: Request, who: OfficerDep, scope: ScopeDep
) -> dict[str, Any]:
    """Accept a pending mark: its hours leave exceedance judgement and the alert engine."""
    return await _review(request, mark_id, True, who, body.comment, scope)


@router.post(
    "/marks/{mark_id}/reject", response_model=MarkAnswer, responses=error_responses(404, 409)
)
async def reject_mark(
    mark_id: MarkId, body: ReviewBody, request: Request, who: OfficerDep, scope: ScopeDep
) -> dict[str, Any]:
    """Reject a pending mark: it changes nothing."""
    return await _review(request, mark_id, False, who, body.comment, scope)
