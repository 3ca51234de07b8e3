"""Tasks as pure functions: who sees and acts, overdue escalation, the month's counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.auth import Principal
from api.tasks.model import CLOSED, OPEN, Task, may_act, may_see
from api.tasks.rules import TaskCounts, month_counts, overdue_conditions

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)


def task(
    created: int, deadline: int, closed: int | None = None, assignee: str = "zhang", tid: int = 1
) -> Task:
    """Days from START."""
    day = timedelta(days=1)
    return Task(
        tid,
        (7,),
        ("sl-002",),
        assignee,
        START + deadline * day,
        "high",
        "",
        OPEN if closed is None else CLOSED,
        "officer-wang",
        START + created * day,
        closed_at=None if closed is None else START + closed * day,
    )


@pytest.mark.parametrize(
    ("who", "sees", "acts"),
    [
        (Principal("officer-wang", "officer"), True, True),
        (Principal("viewer", "viewer"), True, False),
        (Principal("zhang#4", "inspector"), True, True),  # a stored key: name#id
        (Principal("li#5", "inspector"), False, False),
        (Principal("sl-002#6", "plant", "sl-002"), True, False),
        (Principal("sl-003#7", "plant", "sl-003"), False, False),
    ],
)
def test_who_sees_and_acts(who: Principal, sees: bool, acts: bool) -> None:
    t = task(0, 3)
    assert (may_see(t, who), may_act(t, who)) == (sees, acts)


def test_an_open_task_past_its_deadline_escalates() -> None:
    t = task(0, 3)
    assert overdue_conditions([t], START + timedelta(days=2)) == []
    (c,) = overdue_conditions([t], START + timedelta(days=3, hours=6))
    assert c.key.kind == "task_overdue" and c.key.plant == "sl-002" and c.value == 6.0
    assert c.details["task_id"] == 1 and c.details["assignee"] == "zhang"
    assert overdue_conditions([task(0, 3, closed=4)], START + timedelta(days=5)) == []


def test_the_months_counts() -> None:
    tasks = [
        task(1, 5, closed=4, tid=1),  # opened, closed in time
        task(2, 5, closed=8, tid=2),  # opened, closed late: overdue
        task(3, 40, tid=3),  # opened, still open, not due yet
        task(-5, 10, tid=4),  # opened before, open past its deadline at month end
        task(10, 45, closed=31, tid=5),  # closed next month: open at month end, not yet due
    ]
    assert month_counts(tasks, START, END) == TaskCounts(
        opened=4, closed=2, closed_in_time=1, overdue=2
    )
