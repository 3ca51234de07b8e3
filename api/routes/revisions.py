"""Revisions of recorded readings (SPEC sections 8 and 14): readers list, officers accept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.alerts.repo import MAX_COMMENT_CHARS
from api.deps import DbDep, KnownPlantDep, OfficerDep, PlantReaderDep, ScopeDep, StoreDep
from api.revisions import RevisionNotFound, accept_revision, list_revisions
from api.schemas import RevisionList, RevisionView, error_responses
from ingest.kernel.record import RevisionId

router = APIRouter(prefix="/api/v1", tags=["revisions"])

RevisionIdPath = Annotated[
    str, Path(max_length=300, description="plant.meter.measurement.name.ts_ms.n")
]


class AcceptBody(BaseModel):
    # NUL: PostgreSQL text cannot hold it.
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS, pattern=r"^[^\x00]*$")


@router.get(
    "/plants/{plant}/revisions", response_model=RevisionList, responses=error_responses(404)
)
async def get_revisions(
    store: StoreDep,
    found: KnownPlantDep,
    _: PlantReaderDep,
    status: Annotated[
        Literal["pending", "accepted"] | None, Query(description="pending or accepted")
    ] = None,
) -> dict[str, Any]:
    """A plant's revisions of recorded readings, newest arrival first, with the record beside."""
    revisions = await run_in_threadpool(list_revisions, store, found.id, status)
    return {"plant": found.id, "revisions": [r.as_json() for r in revisions]}


@router.post(
    "/revisions/{revision_id}/accept",
    response_model=RevisionView,
    responses=error_responses(404, 409),
)
async def accept(
    revision_id: RevisionIdPath,
    store: StoreDep,
    db: DbDep,
    who: OfficerDep,
    scope: ScopeDep,
    body: AcceptBody | None = None,
) -> dict[str, Any]:
    """Accept a revision (officer or admin, audited): from now on it is the value that counts."""
    rid = RevisionId.parse(revision_id)
    if rid is not None and not scope.sees(rid.plant):
        raise RevisionNotFound(f"no revision {revision_id!r}")  # another county's firm
    comment = body.comment if body is not None else None
    revision = await run_in_threadpool(
        accept_revision, store, db, revision_id, who.name, comment, datetime.now(UTC)
    )
    return revision.as_json()
