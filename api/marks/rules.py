"""What accepted marks do, as pure functions: spans for the compliance core, the alert
conditions they silence, and the alerts a mark covers (shown to the reviewing officer)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from api.alerts.model import Alert, Condition
from api.marks.model import ACCEPTED, Mark
from api.voc.rules import Spans


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def spans(marks: Iterable[Mark]) -> Spans:
    """Accepted marks per (plant, meter) as [start ms, end ms) spans; others change nothing."""
    out: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for m in marks:
        if m.status == ACCEPTED:
            out.setdefault((m.plant, m.meter), []).append((_ms(m.start), _ms(m.end)))
    return out


def unmarked(conditions: Iterable[Condition], marks: Spans, now: datetime) -> list[Condition]:
    """Conditions of meters no accepted mark covers at `now` (a declared stop, repair,
    fault or calibration raises no alert while it lasts)."""
    at = _ms(now)
    return [
        c
        for c in conditions
        if not any(a <= at < b for a, b in marks.get((c.key.plant, c.key.meter), ()))
    ]


def covered_alerts(mark: Mark, alerts: Iterable[Alert]) -> list[Alert]:
    """Alerts of the mark's plant and meter (or of its whole plant) whose time overlaps the
    mark: what accepting it would take out of judgement, for the officer to see."""
    start, end = mark.start, mark.end
    out = []
    for a in alerts:
        if a.key.plant != mark.plant or a.key.meter not in ("", mark.meter):
            continue
        began = a.since or a.opened_at
        ended = a.resolved_at or a.last_seen_at
        if began < end and ended >= start:
            out.append(a)
    return out
