"""Alerts (SPEC sections 7 and 8): list, detail with history, officer actions, live stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.alerts.model import KINDS, STATUSES
from api.alerts.repo import MAX_COMMENT_CHARS, AlertRepo
from api.auth import Principal
from api.deps import AlertRepoDep, ReaderDep, SettingsDep, require_roles
from api.errors import InvalidInput, NotFound
from api.schemas import AlertDetail, AlertList, AlertView, error_responses

# Ids are SQL BIGINTs: a larger number in the path is a 422, not a database overflow.
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
OfficerDep = Annotated[Principal, Depends(require_roles("officer"))]
STREAM_PING_SECONDS = 15
MAX_LIST = 1000


class ActionBody(BaseModel):
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)


@router.get("", response_model=AlertList, responses=error_responses())
async def list_alerts(
    repo: AlertRepoDep,
    _: ReaderDep,
    status_: Annotated[
        str | None,
        Query(
            alias="status",
            description="open, acknowledged, resolved, or active (open or acknowledged)",
        ),
    ] = None,
    plant: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[str | None, Query(description=", ".join(KINDS))] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 200,
) -> AlertList:
    """Alerts, most recent first."""
    if status_ is not None and status_ not in (*STATUSES, "active"):
        raise InvalidInput(f"status must be one of {', '.join((*STATUSES, 'active'))}")
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
    found = await run_in_threadpool(repo.find, status_, plant, kind, limit)
    return AlertList.model_validate({"alerts": [a.as_json() for a in found]})


@router.get("/stream")
async def stream_alerts(
    request: Request,
    repo: AlertRepoDep,
    settings: SettingsDep,
    _: ReaderDep,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0)] = None,
    plant: Annotated[str | None, Query(max_length=64)] = None,
) -> EventSourceResponse:
    """Server-sent events: one `alert` event per change (id = event id; resume with Last-Event-ID)."""
    start = (
        last_event_id if last_event_id is not None else await run_in_threadpool(repo.last_event_id)
    )

    async def events() -> AsyncIterator[ServerSentEvent]:
        cursor = start
        yield ServerSentEvent(json.dumps({"last_event_id": cursor}), event="ready")
        while not await request.is_disconnected():
            batch = await run_in_threadpool(repo.events_after, cursor)
            for e in batch:
                cursor = e.id
                if plant is None or e.snapshot["plant"] == plant:
                    yield ServerSentEvent(
                        json.dumps(e.message(), ensure_ascii=False), event="alert", id=str(e.id)
                    )
            if not batch:
                await asyncio.sleep(settings.alert_stream_poll_seconds)

    return EventSourceResponse(events(), ping=STREAM_PING_SECONDS)


@router.get("/{alert_id}", response_model=AlertDetail, responses=error_responses(404))
async def get_alert(alert_id: AlertId, repo: AlertRepoDep, _: ReaderDep) -> AlertDetail:
    """One alert with every change it went through."""
    alert = await run_in_threadpool(repo.get, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    history = await run_in_threadpool(repo.events, alert_id)
    return AlertDetail.model_validate(
        {
            **alert.as_json(),
            "events": [
                {k: v for k, v in e.message().items() if k != "alert"}
                | {"status": e.snapshot["status"]}
                for e in history
            ],
        }
    )


async def _act(
    action: str, alert_id: int, body: ActionBody | None, who: Principal, repo: AlertRepo
) -> AlertView:
    comment = body.comment if body is not None else None
    now = datetime.now(UTC)
    do = repo.acknowledge if action == "ack" else repo.resolve
    alert = await run_in_threadpool(do, alert_id, who.name, comment, now)
    return AlertView.model_validate(alert.as_json())


@router.post("/{alert_id}/ack", response_model=AlertView, responses=error_responses(404, 409))
async def acknowledge_alert(
    alert_id: AlertId, repo: AlertRepoDep, who: OfficerDep, body: ActionBody | None = None
) -> AlertView:
    """Acknowledge an open alert (officer or admin), with an optional comment."""
    return await _act("ack", alert_id, body, who, repo)


@router.post("/{alert_id}/resolve", response_model=AlertView, responses=error_responses(404, 409))
async def resolve_alert(
    alert_id: AlertId, repo: AlertRepoDep, who: OfficerDep, body: ActionBody | None = None
) -> AlertView:
    """Resolve an open or acknowledged alert (officer or admin), with an optional comment."""
    return await _act("resolve", alert_id, body, who, repo)
