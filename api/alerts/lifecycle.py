"""The alert lifecycle as a pure function: stored alerts + conditions + now -> transitions.

Rules (docs/alerts.md):
- a condition must hold for `raise_after` consecutive evaluations before an alert is raised;
- a key whose latest alert was resolved less than `reopen_window` ago reopens that alert
  (same id, `reopen_count` + 1) instead of creating a new one;
- after an officer resolves an alert its key stays quiet for `hold_off` (time for the fix
  to show), then raises again if the condition still holds;
- an active (open or acknowledged) alert resolves itself once its condition has been absent
  for `hold_off`; the condition coming back within the hold-off cancels the countdown.
Keys of kinds that were not evaluated (their query failed, or not due) are left untouched.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from api.alerts.model import ENGINE_ACTOR, Alert, AlertKey, Condition


@dataclass(frozen=True, slots=True)
class Policy:
    raise_after: int = 2
    hold_off: timedelta = timedelta(minutes=10)
    reopen_window: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Raise:
    condition: Condition


@dataclass(frozen=True, slots=True)
class Reopen:
    alert_id: int
    condition: Condition


@dataclass(frozen=True, slots=True)
class Resolve:
    alert_id: int


@dataclass(frozen=True, slots=True)
class Touch:
    """A silent update of an active alert: still holding (with its value), or clearing since."""

    alert_id: int
    condition: Condition | None
    cleared_since: datetime | None


Transition = Raise | Reopen | Resolve | Touch


@dataclass(frozen=True, slots=True)
class Plan:
    transitions: tuple[Transition, ...]
    pending: Mapping[AlertKey, int] = field(default_factory=dict)


def plan(
    latest: Mapping[AlertKey, Alert],
    pending: Mapping[AlertKey, int],
    conditions: Mapping[AlertKey, Condition],
    evaluated_kinds: Collection[str],
    now: datetime,
    policy: Policy,
) -> Plan:
    """What to do now; `latest` is each key's most recent alert, `pending` the holding streaks."""
    out: list[Transition] = []
    streaks = {k: n for k, n in pending.items() if k.kind not in evaluated_kinds}
    keys = sorted(
        {k for k in latest if k.kind in evaluated_kinds}
        | {k for k in conditions if k.kind in evaluated_kinds}
    )
    for key in keys:
        alert = latest.get(key)
        condition = conditions.get(key)
        if alert is not None and alert.active:
            if condition is not None:
                out.append(Touch(alert.id, condition, None))
                continue
            cleared_since = alert.cleared_since or now
            if now - cleared_since >= policy.hold_off:
                out.append(Resolve(alert.id))
            else:
                out.append(Touch(alert.id, None, cleared_since))
            continue
        if condition is None:
            continue
        streak = pending.get(key, 0) + 1
        if streak < policy.raise_after or _quiet(alert, now, policy):
            streaks[key] = streak
            continue
        if (
            alert is not None
            and alert.resolved_at is not None
            and now - alert.resolved_at <= policy.reopen_window
        ):
            out.append(Reopen(alert.id, condition))
        else:
            out.append(Raise(condition))
    return Plan(tuple(out), streaks)


def _quiet(alert: Alert | None, now: datetime, policy: Policy) -> bool:
    """An officer resolved this key's alert less than a hold-off ago."""
    return (
        alert is not None
        and alert.resolved_at is not None
        and alert.resolved_by not in (None, ENGINE_ACTOR)
        and now - alert.resolved_at < policy.hold_off
    )
