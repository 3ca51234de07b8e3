"""The audit log over HTTP (admin only): `GET /api/v1/audit` with optional filters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from api.audit import MAX_ACTION_CHARS, MAX_ACTOR_CHARS, MAX_LIST, MAX_TARGET_CHARS, find_audit
from api.deps import AdminDep
from api.ranges import check_instant
from api.schemas import AuditList, error_responses

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=AuditList, responses=error_responses())
async def list_audit(
    request: Request,
    _: AdminDep,
    action: Annotated[
        str | None,
        Query(
            max_length=MAX_ACTION_CHARS,
            description="exact action (key.created), or a prefix ending in '.' (alert.)",
        ),
    ] = None,
    actor: Annotated[str | None, Query(max_length=MAX_ACTOR_CHARS)] = None,
    target: Annotated[
        str | None, Query(max_length=MAX_TARGET_CHARS, description="e.g. key:3, alert:7")
    ] = None,
    since: Annotated[datetime | None, Query(description="RFC 3339 with offset")] = None,
    until: Annotated[datetime | None, Query(description="RFC 3339 with offset")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 200,
) -> AuditList:
    """Audit records, newest first."""
    since = check_instant("since", since) if since is not None else None
    until = check_instant("until", until) if until is not None else None
    found = await run_in_threadpool(
        find_audit, request.app.state.db, action, actor, target, since, until, limit
    )
    return AuditList.model_validate({"entries": [e.as_json() for e in found]})
