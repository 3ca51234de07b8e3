"""HJ 212 data loggers: a stack's command log; officers request a back-fill or a time sync.

The API only queues a command (a `requested` row of `ingest.gateway.audit`); the HJ 212
gateway sends it once the stack's logger is connected and logs every answer.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import Engine

from api.audit import record_audit
from api.deps import KnownPlantDep, OfficerDep, PlantReaderDep, SettingsDep
from api.errors import Conflict, InvalidInput, NotFound
from api.schemas import Hj212Command, Hj212CommandLog, Hj212Queued, error_responses
from ingest.gateway import audit, protocol
from ingest.kernel.registry import Meter, Plant

router = APIRouter(prefix="/api/v1/plants", tags=["hj212"])
MAX_BACKFILL = timedelta(days=7)
CN_BY_DATA = {"minute": protocol.CN_GET_MINUTE, "hour": protocol.CN_GET_HOUR}


class BackfillBody(BaseModel):
    start: AwareDatetime
    end: AwareDatetime
    data: Literal["minute", "hour"] = "minute"
    comment: str = ""


class TimeSyncBody(BaseModel):
    comment: str = ""


def _engine(request: Request) -> Engine:
    return request.app.state.db


def _stack(plant: Plant, meter_id: str) -> Meter:
    meter = plant.meter(meter_id)
    if meter is None:
        raise NotFound(f"meter {meter_id!r} is not registered for {plant.id!r}")
    if not meter.hj212_mn:
        raise Conflict(
            f"{plant.id}/{meter_id} has no HJ 212 data logger (no hj212_mn in the registry)"
        )
    return meter


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _command(row: dict[str, Any]) -> Hj212Command:
    return Hj212Command(
        **{k: row[k] for k in ("id", "cn", "qn", "params", "reason", "requested_by", "status",
                               "attempts", "result")},
        created_at=_iso(row["created_at"]) or "",
        sent_at=_iso(row["sent_at"]),
        finished_at=_iso(row["finished_at"]),
        packets=[
            {"direction": p["direction"], "cn": p["cn"], "qn": p["qn"], "at": _iso(p["at"]),
             "packet": p["packet"]}
            for p in row["packets"]
        ],
    )  # fmt: skip


@router.get(
    "/{plant}/meters/{meter}/hj212/commands",
    response_model=Hj212CommandLog,
    responses=error_responses(404, 409),
)
async def command_log(
    request: Request,
    plant: KnownPlantDep,
    meter: str,
    _: PlantReaderDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Hj212CommandLog:
    """The stack's latest commands, newest first, each with the packets sent and received."""
    stack = _stack(plant, meter)
    rows = await run_in_threadpool(audit.stack_log, _engine(request), plant.id, meter, limit)
    return Hj212CommandLog(
        plant=plant.id, meter=meter, mn=stack.hj212_mn or "", commands=[_command(r) for r in rows]
    )


@router.post(
    "/{plant}/meters/{meter}/hj212/backfill",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Hj212Queued,
    responses=error_responses(404, 409),
)
async def request_backfill(
    request: Request,
    plant: KnownPlantDep,
    meter: str,
    body: BackfillBody,
    settings: SettingsDep,
    officer: OfficerDep,
) -> Hj212Queued:
    """Ask the stack's logger for its minute (CN 2051) or hour (CN 2061) data in a range."""
    stack = _stack(plant, meter)
    if body.end <= body.start:
        raise InvalidInput("end must be after start")
    if body.end - body.start > MAX_BACKFILL:
        raise InvalidInput(f"a back-fill covers at most {MAX_BACKFILL.days} days")
    params = {
        "BeginTime": protocol.local_text(body.start, settings.timezone),
        "EndTime": protocol.local_text(body.end, settings.timezone),
    }
    return await _queue(
        request, plant, stack, CN_BY_DATA[body.data], params, body.comment, officer.name
    )


@router.post(
    "/{plant}/meters/{meter}/hj212/time-sync",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Hj212Queued,
    responses=error_responses(404, 409),
)
async def request_time_sync(
    request: Request, plant: KnownPlantDep, meter: str, body: TimeSyncBody, officer: OfficerDep
) -> Hj212Queued:
    """Set the stack's logger clock to the gateway's (CN 1012) when it is next connected."""
    stack = _stack(plant, meter)
    return await _queue(request, plant, stack, protocol.CN_SET_TIME, {}, body.comment, officer.name)


async def _queue(
    request: Request,
    plant: Plant,
    stack: Meter,
    cn: str,
    params: dict[str, str],
    comment: str,
    by: str,
) -> Hj212Queued:
    assert stack.hj212_mn is not None
    reason = "requested by an officer" + (f": {comment}" if comment else "")

    def queue() -> int:
        with _engine(request).begin() as conn:
            command_id = audit.request(
                conn,
                plant=plant.id,
                meter=stack.id,
                mn=stack.hj212_mn or "",
                cn=cn,
                params=params,
                reason=reason,
                requested_by=by,
                now_ms=int(time.time() * 1000),
            )
            record_audit(
                conn, by, "hj212.command", f"plant:{plant.id}/{stack.id}",
                {"command": command_id, "cn": cn, "params": params, "comment": comment or None},
            )  # fmt: skip
            return command_id

    command_id = await run_in_threadpool(queue)
    return Hj212Queued(id=command_id, cn=cn, params=params, status="requested")
