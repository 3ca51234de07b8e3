"""Alerts (SPEC sections 7 and 8): list, detail with history, officer actions, live stream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.alerts.model import KINDS, STATUSES, Alert
from api.alerts.repo import MAX_COMMENT_CHARS, AlertRepo
from api.alerts.texts import firm_name, render, render_all
from api.auth import Principal
from api.deps import (
    AlertRepoDep,
    ReaderDep,
    RegistryDep,
    ScopeDep,
    SettingsDep,
    get_principal,
    key_is_live,
    require_roles,
)
from api.errors import Forbidden, InvalidInput, NotFound
from api.export import MEDIA_TYPE, to_csv
from api.limits import open_stream
from api.schemas import AlertDetail, AlertList, AlertView, error_responses
from api.scope import Scope
from api.settings import ApiSettings
from ingest.kernel.registry import Registry

# Ids are SQL INTEGERs (32-bit on PostgreSQL): a larger number in the path is a 422, not a
# database overflow.
AlertId = Annotated[int, Path(ge=1, le=2**31 - 1)]

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
OfficerDep = Annotated[Principal, Depends(require_roles("officer"))]
STREAM_PING_SECONDS = 15
MAX_LIST = 1000


LangQuery = Annotated[
    str, Query(pattern="^(zh|en)$", description="language of `firm`, `title` and `text`: zh or en")
]
CSV_COLUMNS = (
    "id",
    "status",
    "kind",
    "title",
    "firm",
    "plant",
    "meter",
    "pollutant",
    "text",
    "value",
    "limit",
    "unit",
    "since",
    "opened_at",
    "late",
    "acknowledged_by",
    "ack_comment",
    "resolved_by",
    "resolve_comment",
)


def readable(
    alert: Alert | dict[str, Any], lang: str, registry: Registry, settings: ApiSettings
) -> dict[str, Any]:
    """An alert's JSON with the firm's name and its title and sentence in `lang`."""
    doc = alert.as_json() if isinstance(alert, Alert) else dict(alert)
    said = render(doc, lang, registry, settings.timezone)
    return doc | {"firm": firm_name(doc["plant"], lang, registry), "lang": lang} | said.as_json()


def _local(value: str | None, zone: ZoneInfo) -> str | None:
    return datetime.fromisoformat(value).astimezone(zone).isoformat() if value else None


def alerts_csv(docs: list[dict[str, Any]], timezone: str) -> str:
    """The readable alerts as CSV, times in the county's local time (with their offset)."""
    zone = ZoneInfo(timezone)
    rows = [
        d | {"since": _local(d["since"], zone), "opened_at": _local(d["opened_at"], zone)}
        for d in docs
    ]
    return to_csv(CSV_COLUMNS, rows)


class ActionBody(BaseModel):
    # NUL: PostgreSQL text cannot hold it.
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS, pattern=r"^[^\x00]*$")


def alert_reader(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """Readers see every alert; a plant key its own plant's (the list, read only)."""
    if principal.role not in ("admin", "officer", "viewer", "plant"):
        raise Forbidden(f"role {principal.role!r} may not read alerts")
    return principal


@router.get(
    "",
    response_model=AlertList,
    responses={
        **error_responses(),
        200: {"content": {"text/csv": {}}, "description": "JSON, or the alerts as CSV"},
    },
)
async def list_alerts(
    repo: AlertRepoDep,
    registry: RegistryDep,
    scope: ScopeDep,
    settings: SettingsDep,
    who: Annotated[Principal, Depends(alert_reader)],
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
    lang: LangQuery = "zh",
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
) -> Any:
    """Alerts, most recent first, each with its firm's name, title and sentence in `lang`."""
    if status_ is not None and status_ not in (*STATUSES, "active"):
        raise InvalidInput(f"status must be one of {', '.join((*STATUSES, 'active'))}")
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
    if who.role == "plant":
        if plant is not None and plant != who.plant:
            raise Forbidden(f"this plant key belongs to {who.plant!r}, not {plant!r}")
        plant = who.plant
    if plant is not None and not scope.sees(plant):
        found = []  # out of the caller's county: as if it had no alerts
    else:
        found = await run_in_threadpool(repo.find, status_, plant, kind, limit, scope.alert_plants)
    docs = [readable(a, lang, registry, settings) for a in found]
    if format == "csv":
        return Response(
            alerts_csv(docs, settings.timezone),
            media_type=MEDIA_TYPE,
            headers={"Content-Disposition": 'attachment; filename="alerts.csv"'},
        )
    return AlertList.model_validate({"alerts": docs})


@router.get("/stream", responses=error_responses(429))
async def stream_alerts(
    request: Request,
    repo: AlertRepoDep,
    settings: SettingsDep,
    registry: RegistryDep,
    scope: ScopeDep,
    principal: ReaderDep,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0)] = None,
    plant: Annotated[str | None, Query(max_length=64)] = None,
) -> EventSourceResponse:
    """Server-sent events: one `alert` event per change (id = event id; resume with Last-Event-ID).

    Each event says what happened (`event`: raised, reopened, acknowledged, resolved) and
    who did it (`actor`: `engine`, or the officer's key name), so a page can tell news from
    its reader's own actions. The body is the one MQTT and the webhook carry, with `texts`
    (firm, title, text) in every language.
    """
    release = open_stream(request, principal)
    try:
        start = (
            last_event_id
            if last_event_id is not None
            else await run_in_threadpool(repo.last_event_id)
        )
    except BaseException:
        release()
        raise

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            async for event in alert_events():
                yield event
        finally:
            release()

    async def alert_events() -> AsyncIterator[ServerSentEvent]:
        cursor = start
        yield ServerSentEvent(json.dumps({"last_event_id": cursor}), event="ready")
        checked = time.monotonic()
        while not await request.is_disconnected():
            if time.monotonic() - checked >= settings.stream_key_check_seconds:
                if not await run_in_threadpool(key_is_live, request):
                    yield ServerSentEvent(json.dumps({"detail": "key revoked"}), event="revoked")
                    return
                checked = time.monotonic()
            batch = await run_in_threadpool(repo.events_after, cursor)
            for e in batch:
                cursor = e.id
                shown = scope.sees(e.snapshot["plant"])
                if shown and (plant is None or e.snapshot["plant"] == plant):
                    body = e.message()
                    body["texts"] = render_all(e.snapshot, registry, settings.timezone)
                    yield ServerSentEvent(
                        json.dumps(body, ensure_ascii=False), event="alert", id=str(e.id)
                    )
            if not batch:
                await asyncio.sleep(settings.alert_stream_poll_seconds)

    return EventSourceResponse(events(), ping=STREAM_PING_SECONDS)


@router.get("/{alert_id}", response_model=AlertDetail, responses=error_responses(404))
async def get_alert(
    alert_id: AlertId,
    repo: AlertRepoDep,
    registry: RegistryDep,
    scope: ScopeDep,
    settings: SettingsDep,
    _: ReaderDep,
    lang: LangQuery = "zh",
) -> AlertDetail:
    """One alert with every change it went through."""
    alert = await _visible(alert_id, repo, scope)
    history = await run_in_threadpool(repo.events, alert_id)
    return AlertDetail.model_validate(
        {
            **readable(alert, lang, registry, settings),
            "events": [
                {k: v for k, v in e.message().items() if k != "alert"}
                | {"status": e.snapshot["status"]}
                for e in history
            ],
        }
    )


async def _visible(alert_id: int, repo: AlertRepo, scope: Scope) -> Alert:
    """The alert, or 404 when there is none or it is outside the caller's county (the
    same answer: a county key does not learn that another county's alert exists)."""
    alert = await run_in_threadpool(repo.get, alert_id)
    if alert is None or not scope.sees(alert.key.plant):
        raise NotFound(f"no alert {alert_id}")
    return alert


async def _act(
    action: str,
    alert_id: int,
    body: ActionBody | None,
    who: Principal,
    repo: AlertRepo,
    registry: Registry,
    scope: Scope,
    settings: ApiSettings,
) -> AlertView:
    await _visible(alert_id, repo, scope)
    comment = body.comment if body is not None else None
    now = datetime.now(UTC)
    do = repo.acknowledge if action == "ack" else repo.resolve
    alert = await run_in_threadpool(do, alert_id, who.name, comment, now)
    return AlertView.model_validate(readable(alert, "zh", registry, settings))


@router.post("/{alert_id}/ack", response_model=AlertView, responses=error_responses(404, 409))
async def acknowledge_alert(
    alert_id: AlertId,
    repo: AlertRepoDep,
    registry: RegistryDep,
    scope: ScopeDep,
    settings: SettingsDep,
    who: OfficerDep,
    body: ActionBody | None = None,
) -> AlertView:
    """Acknowledge an open alert (officer or admin), with an optional comment."""
    return await _act("ack", alert_id, body, who, repo, registry, scope, settings)


@router.post("/{alert_id}/resolve", response_model=AlertView, responses=error_responses(404, 409))
async def resolve_alert(
    alert_id: AlertId,
    repo: AlertRepoDep,
    registry: RegistryDep,
    scope: ScopeDep,
    settings: SettingsDep,
    who: OfficerDep,
    body: ActionBody | None = None,
) -> AlertView:
    """Resolve an open or acknowledged alert (officer or admin), with an optional comment."""
    return await _act("resolve", alert_id, body, who, repo, registry, scope, settings)
