"""Tasks as pure functions: overdue ones as alert conditions, the month's counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from api.alerts.model import COUNTY, TASK_OVERDUE, AlertKey, Condition
from api.tasks.model import OPEN, Task


def overdue_conditions(tasks: Iterable[Task], now: datetime) -> list[Condition]:
    """One `task_overdue` alert per open task past its deadline (it resolves once closed)."""
    out = []
    for t in tasks:
        if t.status != OPEN or now <= t.deadline:
            continue
        hours = (now - t.deadline).total_seconds() / 3600
        out.append(
            Condition(
                AlertKey(TASK_OVERDUE, t.plants[0] if t.plants else COUNTY, f"task-{t.id}"),
                round(hours, 2),
                0.0,
                f"task {t.id} for {t.assignee} is {hours:.1f} h past its deadline",
                unit="h",
                since=t.deadline,
                details={
                    "task_id": t.id,
                    "assignee": t.assignee,
                    "priority": t.priority,
                    "deadline": t.deadline.isoformat(),
                },
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class TaskCounts:
    opened: int
    closed: int
    closed_in_time: int
    overdue: int  # open past the deadline at the month's end, or closed late in the month


def month_counts(tasks: Iterable[Task], start: datetime, end: datetime) -> TaskCounts:
    """Tasks opened in [start, end), closed in it (in time or not), overdue at its end."""
    opened = closed = in_time = overdue = 0
    for t in tasks:
        if start <= t.created_at < end:
            opened += 1
        if t.closed_at is not None and start <= t.closed_at < end:
            closed += 1
            if t.closed_at <= t.deadline:
                in_time += 1
            else:
                overdue += 1
        elif (
            t.created_at < end and (t.closed_at is None or t.closed_at >= end) and t.deadline < end
        ):
            overdue += 1
    return TaskCounts(opened, closed, in_time, overdue)
