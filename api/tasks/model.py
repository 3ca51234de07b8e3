"""Tasks and their actions as plain data; who may see and act on them (pure).

PlantwatchError
└── InvalidInput (api.errors)
    └── TaskError            a task cannot be made or changed (the message says why)
        ├── TaskNotFound     no task with that id the caller may see
        └── TaskConflict     the change does not fit the task's state (closed already)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api.auth import Principal
from api.errors import Conflict, InvalidInput, NotFound

OPEN, CLOSED = "open", "closed"
STATUSES = (OPEN, CLOSED)
PRIORITIES = ("low", "normal", "high", "urgent")
MAX_ALERTS = 50
MAX_EVIDENCE = 20
MAX_TEXT_CHARS = 2000
# Roles that see every task and its actions (plant keys see their own plant's, inspectors theirs).
OVERSEERS = ("admin", "officer", "viewer")


class TaskError(InvalidInput):
    """A task cannot be made or changed; `str(exc)` says why."""


class TaskNotFound(TaskError, NotFound):
    code = NotFound.code


class TaskConflict(TaskError, Conflict):
    code = Conflict.code


@dataclass(frozen=True, slots=True)
class Action:
    id: int
    actor: str
    at: datetime
    note: str
    evidence: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "actor": self.actor,
            "at": _iso(self.at),
            "note": self.note,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    alerts: tuple[int, ...]
    plants: tuple[str, ...]
    assignee: str
    deadline: datetime
    priority: str
    note: str
    status: str
    created_by: str
    created_at: datetime
    escalated_at: datetime | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    conclusion: str | None = None
    actions: tuple[Action, ...] = ()

    def overdue(self, now: datetime) -> bool:
        """Past its deadline and still open, or closed after it."""
        if self.closed_at is not None:
            return self.closed_at > self.deadline
        return now > self.deadline

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "alerts": list(self.alerts),
            "plants": list(self.plants),
            "assignee": self.assignee,
            "deadline": _iso(self.deadline),
            "priority": self.priority,
            "note": self.note,
            "status": self.status,
            "overdue": self.overdue(now),
            "created_by": self.created_by,
            "created_at": _iso(self.created_at),
            "escalated_at": _iso(self.escalated_at),
            "closed_by": self.closed_by,
            "closed_at": _iso(self.closed_at),
            "conclusion": self.conclusion,
            "actions": [a.as_json() for a in self.actions],
        }


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.astimezone(UTC).isoformat(timespec="seconds")


def person(principal: Principal) -> str:
    """The person a principal is: its key's name (a stored key's principal is `name#id`)."""
    return principal.name.split("#", 1)[0]


def may_see(task: Task, who: Principal) -> bool:
    """Overseers see every task; an inspector its own; a plant key those on its plant."""
    if who.role in OVERSEERS:
        return True
    if who.role == "inspector":
        return task.assignee == person(who)
    if who.role == "plant":
        return who.plant in task.plants
    return False


def may_act(task: Task, who: Principal) -> bool:
    """Officers (and admin) act on any task; an inspector on its own only."""
    if who.role in ("admin", "officer"):
        return True
    return who.role == "inspector" and task.assignee == person(who)


def check_text(name: str, value: str, evidence: tuple[str, ...] = ()) -> str:
    """`value` stripped, refusing empty or long texts and unusable evidence references."""
    value = value.strip()
    if not value or len(value) > MAX_TEXT_CHARS:
        raise TaskError(f"'{name}' must be 1 to {MAX_TEXT_CHARS} characters")
    if len(evidence) > MAX_EVIDENCE or any(not e.strip() or len(e) > 500 for e in evidence):
        raise TaskError(f"at most {MAX_EVIDENCE} evidence references of 1 to 500 characters")
    return value
