"""Marks as pure functions: validation, marked hours in the compliance core, what they silence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from api.alerts.model import Alert, AlertKey, Condition
from api.marks.model import (
    ACCEPTED,
    PENDING,
    REJECTED,
    Mark,
    MarkConflict,
    MarkError,
    NewMark,
    check,
    review_status,
)
from api.marks.rules import covered_alerts, spans, unmarked
from api.voc.rules import (
    HOUR_MS,
    MARKED,
    MINUTE_MS,
    capture_rates,
    flag_classes,
    judge_stack,
    marked_hours,
    stack_aggregates,
)
from ingest.kernel.limits import resolve_limits

H0 = 1_772_323_200_000  # 2026-03-01T00:00:00Z
T0 = datetime.fromtimestamp(H0 / 1000, tz=UTC)
NOW = T0 + timedelta(days=1)
METERS = {"stack-1": "voc", "gas-1": "gas"}


def new(**kw: object) -> NewMark:
    base: dict[str, object] = {
        "plant": "sl-002",
        "meter": "stack-1",
        "kind": "maintenance",
        "start": T0,
        "end": T0 + timedelta(hours=3),
        "reason": "line 2 down for repairs",
        "evidence": ("photo:123",),
    }
    base.update(kw)
    return NewMark(**base)  # type: ignore[arg-type]


def mark(status: str = ACCEPTED, **kw: object) -> Mark:
    n = new(**kw)
    return Mark(
        1, n.plant, n.meter, n.kind, n.start, n.end, n.reason, n.evidence, status, "sl-002", T0
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"kind": "holiday"}, "kind must be one of"),
        ({"meter": "stack-9"}, "has no meter"),
        ({"end": T0}, "after 'start'"),
        ({"end": T0 + timedelta(days=32)}, "at most 31 days"),
        ({"start": NOW + timedelta(hours=1), "end": NOW + timedelta(hours=2)}, "future"),
        ({"reason": "  "}, "why"),
        ({"evidence": ("",)}, "evidence"),
    ],
)
def test_a_mark_that_cannot_be_kept_says_why(change: dict[str, object], words: str) -> None:
    with pytest.raises(MarkError, match=words):
        check(new(**change), METERS, NOW)


def test_a_mark_is_reviewed_once() -> None:
    assert review_status(mark(PENDING), True) == ACCEPTED
    assert review_status(mark(PENDING), False) == REJECTED
    with pytest.raises(MarkConflict):
        review_status(mark(ACCEPTED), False)


def test_only_accepted_marks_make_spans() -> None:
    got = spans([mark(ACCEPTED), mark(REJECTED, meter="gas-1"), mark(PENDING, plant="x")])
    assert got == {("sl-002", "stack-1"): [(H0, H0 + 3 * HOUR_MS)]}


def test_marked_hours_need_half_an_hour() -> None:
    hours = H0 + HOUR_MS * np.arange(4, dtype=np.int64)
    # 00:40 to 02:30: hour 0 has 20 min (no), hour 1 all of it, hour 2 30 min (yes), hour 3 none
    got = marked_hours(hours, [(H0 + 40 * MINUTE_MS, H0 + 2 * HOUR_MS + 30 * MINUTE_MS)])
    assert got.tolist() == [False, True, True, False]


def _stack(marks: list[tuple[int, int]]):  # type: ignore[no-untyped-def]
    n = 4
    ts = H0 + MINUTE_MS * np.arange(n * 60, dtype=np.int64)
    data = {
        "dmf_mgm3": (ts, np.full(ts.size, 80.0), flag_classes(["N"] * ts.size)),
        "flow_m3h": (ts, np.full(ts.size, 9000.0), flag_classes(["N"] * ts.size)),
    }
    aggs = stack_aggregates(data, {}, ["dmf_mgm3"], H0, n)
    hours = H0 + HOUR_MS * np.arange(n, dtype=np.int64)
    limits = resolve_limits(None, None, {})  # the default process: PU dry, DMF 50
    return judge_stack("sl-002", "stack-1", aggs, hours, limits, H0 + 10 * HOUR_MS, None, marks)


def test_accepted_marks_take_hours_out_of_judgement() -> None:
    before = next(p for p in _stack([]).pollutants if p.limit.pollutant == "dmf_mgm3")
    assert before.counts()["exceeding"] == 4 and before.counts()["running"] == 4
    stack = _stack([(H0 + HOUR_MS, H0 + 4 * HOUR_MS)])  # 3 hours of maintenance
    dmf = next(p for p in stack.pollutants if p.limit.pollutant == "dmf_mgm3")
    assert dmf.status == ("valid", MARKED, MARKED, MARKED)
    counts = dmf.counts()
    assert (counts["exceeding"], counts[MARKED], counts["running"], counts["valid"]) == (1, 3, 1, 1)
    # declared, not missing: the marked hours leave the expected minutes
    (day,) = capture_rates(
        dmf.agg, H0 + 10 * HOUR_MS, "UTC", "day", marked_hours(dmf.hour_start_ms, stack.marks)
    )
    assert (day.expected_minutes, day.declared_minutes, day.transmitted_minutes) == (60, 180, 60)


def _alert(meter: str, since: datetime, resolved: datetime | None) -> Alert:
    return Alert(
        7,
        AlertKey("voc_hourly_exceedance", "sl-002", meter, "dmf_mgm3"),
        "resolved" if resolved else "open",
        since,
        resolved or NOW,
        NOW,
        80.0,
        50.0,
        "x",
        resolved_at=resolved,
        since=since,
    )


def test_a_mark_shows_the_alerts_it_covers() -> None:
    m = mark()
    inside = _alert("stack-1", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    before = _alert("stack-1", T0 - timedelta(hours=5), T0 - timedelta(hours=4))
    other_meter = _alert("stack-2", T0 + timedelta(hours=1), None)
    still_open = _alert("stack-1", T0 - timedelta(hours=1), None)
    assert covered_alerts(m, [inside, before, other_meter, still_open]) == [inside, still_open]


def test_a_marked_meter_raises_nothing_while_the_mark_lasts() -> None:
    c = Condition(AlertKey("meter_offline", "sl-002", "stack-1"), 30.0, 15.0, "x")
    other = Condition(AlertKey("meter_offline", "sl-003", "stack-1"), 30.0, 15.0, "x")
    marks = spans([mark()])
    assert unmarked([c, other], marks, T0 + timedelta(hours=1)) == [other]
    assert unmarked([c, other], marks, T0 + timedelta(hours=3)) == [c, other]
