"""Dispositions (SPEC section 14): officers turn alerts into tasks; assignees record actions;
officers close them. Inspectors see and act on their own tasks only; plant keys read the
tasks on their own plant; every change is audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.auth import Principal
from api.deps import OfficerDep, ScopeDep, get_principal
from api.errors import Forbidden
from api.ranges import check_instant
from api.schemas import Model, error_responses
from api.scope import Scope
from api.tasks.model import PRIORITIES, STATUSES, Task, TaskNotFound, may_act, may_see, person
from api.tasks.repo import TaskRepo

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])
TaskId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MAX_LIST = 1000
# PostgreSQL text cannot hold NUL.
NO_NUL = r"^[^\x00]*$"
Evidence = Annotated[str, Field(min_length=1, max_length=500, pattern=NO_NUL)]


class TaskBody(BaseModel):
    alerts: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1, max_length=50)
    assignee: str = Field(
        min_length=1, max_length=128, pattern=NO_NUL, description="the inspector's key name"
    )
    deadline: datetime = Field(description="RFC 3339 with offset")
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    note: str = Field("", max_length=2000, pattern=NO_NUL)


class ActionBody(BaseModel):
    note: str = Field(
        min_length=1, max_length=2000, pattern=NO_NUL, description="what was done, found, agreed"
    )
    evidence: list[Evidence] = Field(default_factory=list, max_length=20)


class CloseBody(BaseModel):
    conclusion: str = Field(min_length=1, max_length=2000, pattern=NO_NUL)


class ActionAnswer(Model):
    id: int
    actor: str
    at: str
    note: str
    evidence: list[str]


class TaskAnswer(Model):
    id: int
    alerts: list[int]
    plants: list[str]
    assignee: str
    deadline: str
    priority: str
    note: str
    status: str
    overdue: bool
    created_by: str
    created_at: str
    escalated_at: str | None
    closed_by: str | None
    closed_at: str | None
    conclusion: str | None
    actions: list[ActionAnswer]


class TaskList(Model):
    statuses: list[str]
    priorities: list[str]
    tasks: list[TaskAnswer]


def _repo(request: Request) -> TaskRepo:
    return TaskRepo(request.app.state.db)


def task_reader(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.role not in ("admin", "officer", "viewer", "inspector", "plant"):
        raise Forbidden(f"role {principal.role!r} may not read tasks")
    return principal


def task_actor(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.role not in ("admin", "officer", "inspector"):
        raise Forbidden(f"role {principal.role!r} may not act on tasks; needs officer or inspector")
    return principal


ReaderDep = Annotated[Principal, Depends(task_reader)]
ActorDep = Annotated[Principal, Depends(task_actor)]


async def _visible(request: Request, task_id: int, who: Principal, scope: Scope) -> Task:
    task = await run_in_threadpool(_repo(request).get, task_id)
    if not may_see(task, who) or not scope.sees_all(task.plants):
        # Another inspector's, plant's or county's task does not exist for this caller.
        raise TaskNotFound(f"no task {task_id}")
    return task


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskAnswer,
    responses=error_responses(404),
)
async def create_task(
    body: TaskBody, request: Request, who: OfficerDep, scope: ScopeDep
) -> dict[str, Any]:
    """Turn alerts into a task for an assignee, with a deadline and a priority."""
    alerts = request.app.state.alert_repo
    for alert_id in body.alerts:
        alert = await run_in_threadpool(alerts.get, alert_id)
        if alert is not None and not scope.sees(alert.key.plant):
            raise TaskNotFound(f"no alert {alert_id}")  # another county's: as if none
    now = datetime.now(UTC)
    deadline = check_instant("deadline", body.deadline)
    task = await run_in_threadpool(
        _repo(request).create, body.alerts, body.assignee, deadline, body.priority, body.note,
        who.name, now,
    )  # fmt: skip
    return task.as_json(now)


@router.get("", response_model=TaskList, responses=error_responses())
async def list_tasks(
    request: Request,
    who: ReaderDep,
    scope: ScopeDep,
    status_: Annotated[Literal["open", "closed"] | None, Query(alias="status")] = None,
    assignee: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, Any]:
    """Tasks, newest first: an inspector gets its own, a plant key those on its plant."""
    plant = None
    if who.role == "inspector":
        if assignee is not None and assignee != person(who):
            raise Forbidden("an inspector sees its own tasks only")
        assignee = person(who)
    elif who.role == "plant":
        plant = who.plant
    found = await run_in_threadpool(_repo(request).find, status_, assignee, plant, MAX_LIST)
    now = datetime.now(UTC)
    return {
        "statuses": list(STATUSES),
        "priorities": list(PRIORITIES),
        "tasks": [t.as_json(now) for t in found if may_see(t, who) and scope.sees_all(t.plants)],
    }


@router.get("/{task_id}", response_model=TaskAnswer, responses=error_responses(404))
async def get_task(
    task_id: TaskId, request: Request, who: ReaderDep, scope: ScopeDep
) -> dict[str, Any]:
    """One task with its actions."""
    return (await _visible(request, task_id, who, scope)).as_json(datetime.now(UTC))


@router.post(
    "/{task_id}/actions",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskAnswer,
    responses=error_responses(404, 409),
)
async def add_action(
    task_id: TaskId, body: ActionBody, request: Request, who: ActorDep, scope: ScopeDep
) -> dict[str, Any]:
    """Record what was done, with evidence references (the assignee or an officer)."""
    task = await _visible(request, task_id, who, scope)
    if not may_act(task, who):
        raise Forbidden(f"task {task_id} is assigned to {task.assignee!r}")
    now = datetime.now(UTC)
    done = await run_in_threadpool(
        _repo(request).add_action, task_id, who.name, body.note, body.evidence, now
    )
    return done.as_json(now)


@router.post("/{task_id}/close", response_model=TaskAnswer, responses=error_responses(404, 409))
async def close_task(
    task_id: TaskId, body: CloseBody, request: Request, who: OfficerDep, scope: ScopeDep
) -> dict[str, Any]:
    """Close a task with the officer's conclusion (办结)."""
    await _visible(request, task_id, who, scope)
    now = datetime.now(UTC)
    done = await run_in_threadpool(_repo(request).close, task_id, who.name, body.conclusion, now)
    return done.as_json(now)
