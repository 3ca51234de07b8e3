"""Alert rules and lifecycle as pure functions, with literal tables and an explicit clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from api.alerts import rules
from api.alerts.lifecycle import Policy, Raise, Reopen, Resolve, Touch, plan
from api.alerts.model import (
    ACKNOWLEDGED,
    COUNTY,
    OPEN,
    RESOLVED,
    Alert,
    AlertKey,
    Condition,
)
from api.alerts.rules import MeterRef, Peak, StackSeries
from api.fuel.rules import FirmRow
from api.settings import AlertRules
from api.voc.rules import (
    HOUR_MS,
    MINUTE_MS,
    flag_classes,
    judge_stack,
    stack_aggregates,
)
from ingest.kernel.limits import resolve_limits

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
R = AlertRules()


# -- rules -------------------------------------------------------------------------------


H_3 = int(T0.timestamp() * 1000) - 3 * HOUR_MS


def judged(data: dict[str, list[tuple[int, int, float, str]]], n_hours: int = 3):  # type: ignore[no-untyped-def]
    """A stack judged from (hour, minutes, value, flag) runs of minute data per pollutant."""
    minute_data = {}
    for name, runs in data.items():
        ts, values, flags = [], [], []
        for hour, n, value, flag in runs:
            ts += (H_3 + hour * HOUR_MS + MINUTE_MS * np.arange(n, dtype=np.int64)).tolist()
            values += [value] * n
            flags += [flag] * n
        minute_data[name] = (np.array(ts, dtype=np.int64), np.array(values), flag_classes(flags))
    aggs = stack_aggregates(minute_data, {}, list(data), H_3, n_hours)
    hours = H_3 + HOUR_MS * np.arange(n_hours, dtype=np.int64)
    return judge_stack("sl-1", "s-1", aggs, hours, resolve_limits(), int(T0.timestamp() * 1000))


@pytest.mark.parametrize(
    ("runs", "first_hour"),
    [
        # 17:00, 18:00, 19:00 all above: the alert began at 17:00, not 19:00
        ([(0, 60, 80.0, "N"), (1, 60, 80.0, "N"), (2, 60, 80.0, "N")], 0),
        ([(0, 60, 10.0, "N"), (1, 60, 80.0, "N"), (2, 60, 80.0, "N")], 1),
        # an hour without valid data inside the run neither breaks nor starts it
        ([(0, 60, 80.0, "N"), (1, 20, 80.0, "N"), (2, 60, 80.0, "N")], 0),
        ([(0, 60, 80.0, "N"), (1, 60, 10.0, "N"), (2, 60, 80.0, "N")], 2),
    ],
)
def test_hourly_exceedance_since_is_the_first_hour_of_the_run(
    runs: list[tuple[int, int, float, str]], first_hour: int
) -> None:
    (found,) = rules.hourly_exceedances([judged({"dmf_mgm3": runs})])
    assert found.since is not None
    assert int(found.since.timestamp() * 1000) == H_3 + first_hour * HOUR_MS


def test_hourly_exceedance_uses_latest_valid_hour_only() -> None:
    # dmf: hour 0 valid 60 (exceeds), hour 1 valid 45 at 40 (below 50), hour 2 insufficient 44 at 99
    # toluene: hour 0 below, hour 1 valid 45 at 31 (exceeds 30), hour 2 nothing
    stack = judged(
        {
            "dmf_mgm3": [(0, 60, 80.0, "N"), (1, 45, 40.0, "N"), (2, 44, 99.0, "N")],
            "toluene_mgm3": [(0, 60, 1.0, "N"), (1, 45, 31.0, "N")],
        }
    )
    found = rules.hourly_exceedances([stack])
    assert [(c.key.pollutant, c.value, c.limit) for c in found] == [("toluene_mgm3", 31.0, 30.0)]
    # T0 - 2 h = 08:00 UTC = 16:00 in Shanghai: alert texts speak local time
    assert "2026-03-02 16:00–17:00" in found[0].message


EXCEEDED = AlertKey("voc_hourly_exceedance", "sl-1", "s-1", "dmf_mgm3")


@pytest.mark.parametrize(
    ("runs", "open_keys", "holds"),
    [
        # maintenance (M) and calibration (C) hours: no valid hour, the open alert stays
        ([(0, 60, 80.0, "M"), (1, 60, 0.0, "C")], {EXCEEDED}, True),
        # silence: the open alert stays
        ([], {EXCEEDED}, True),
        # nothing open and no valid hour: nothing to raise
        ([(0, 60, 80.0, "M")], set(), False),
        # a valid hour under the limit clears it
        ([(0, 60, 80.0, "M"), (2, 60, 10.0, "N")], {EXCEEDED}, False),
        # a valid hour above it holds, open or not
        ([(2, 60, 80.0, "N")], set(), True),
    ],
)
def test_missing_data_never_resolves_an_exceedance(runs, open_keys, holds: bool) -> None:  # type: ignore[no-untyped-def]
    stack = judged({"dmf_mgm3": runs})
    found = [c for c in rules.hourly_exceedances([stack], open_keys) if c.key == EXCEEDED]
    assert bool(found) is holds


def test_dark_after_exceedance() -> None:
    dark = judged({"dmf_mgm3": [(0, 60, 80.0, "N"), (1, 10, 80.0, "N")]})
    found = rules.dark_after_exceedance([dark])
    assert [(c.key.kind, c.key.pollutant, c.value) for c in found] == [
        ("voc_dark_after_exceedance", "dmf_mgm3", 2.0)
    ]
    stopped = judged({"dmf_mgm3": [(0, 60, 80.0, "N"), (1, 60, 0.4, "F"), (2, 60, 0.4, "F")]})
    assert rules.dark_after_exceedance([stopped]) == []  # the line stopped: not dark
    fine = judged({"dmf_mgm3": [(0, 60, 20.0, "N"), (1, 10, 20.0, "N")]})
    assert rules.dark_after_exceedance([fine]) == []


LIMITS = {("sl-1", "s-1"): resolve_limits(overrides={"dmf_mgm3": 20.0})}


@pytest.mark.parametrize(
    ("pollutant", "value", "raised"),
    [
        ("dmf_mgm3", 40.0, False),  # exactly 2 x the override limit 20
        ("dmf_mgm3", 40.001, True),
        ("benzene_mgm3", 4.5, True),  # default limit 2
        ("benzene_mgm3", 3.9, False),
        ("thc_mgm3", 1e4, False),  # no limit, no spike
    ],
)
def test_spike(pollutant: str, value: float, raised: bool) -> None:
    found = rules.spikes([Peak("sl-1", "s-1", pollutant, value, T0)], LIMITS, 2.0)
    assert bool(found) is raised
    if raised:
        assert found[0].key == AlertKey("voc_spike", "sl-1", "s-1", pollutant)
        assert found[0].limit == 2 * LIMITS[("sl-1", "s-1")][pollutant].limit_mgm3


def test_spike_unknown_stack_is_ignored() -> None:
    assert rules.spikes([Peak("x", "y", "dmf_mgm3", 1e4, T0)], LIMITS, 2.0) == []


@pytest.mark.parametrize(
    ("kind", "silent", "offline"),
    [
        ("voc", timedelta(minutes=15), False),  # exactly the allowance: not longer
        ("voc", timedelta(minutes=15, seconds=1), True),
        ("gas", timedelta(minutes=59), False),
        ("gas", timedelta(minutes=61), True),
        ("coal", None, True),  # nothing in the lookback
        ("electricity", timedelta(minutes=30), False),
    ],
)
def test_offline(kind: str, silent: timedelta | None, offline: bool) -> None:
    last = {} if silent is None else {("p", "m"): T0 - silent}
    found = rules.offline([MeterRef("p", "m", kind)], last, T0, R)
    assert bool(found) is offline
    if offline and silent is not None:
        assert found[0].value == pytest.approx(silent.total_seconds() / 60, abs=0.01)


@pytest.mark.parametrize(
    ("arrived_ago", "offline"),
    [
        (timedelta(minutes=1), False),  # a back-fill arriving now: catching up
        (timedelta(minutes=15), False),  # arrived exactly at the allowance
        (timedelta(minutes=16), True),  # nothing arrived within the allowance either
        (None, True),  # arrival not recorded: judged by the reading's time alone
    ],
)
def test_a_meter_delivering_a_backfill_is_not_offline(
    arrived_ago: timedelta | None, offline: bool
) -> None:
    """make run: 31 stacks emptying their loggers 27 min behind raised 31 meter_offline
    alerts while their data poured in (the county as a whole was not loading)."""
    last = {("p", "m"): T0 - timedelta(minutes=27)}
    arrived = {("p", "m"): None if arrived_ago is None else T0 - arrived_ago}
    found = rules.offline([MeterRef("p", "m", "voc")], last, T0, R, arrived=arrived)
    assert bool(found) is offline


def test_offline_allowance_configurable() -> None:
    r = AlertRules(offline_minutes={"voc": 1.0})
    found = rules.offline(
        [MeterRef("p", "m", "voc")], {("p", "m"): T0 - timedelta(minutes=2)}, T0, r
    )
    assert found and found[0].limit == 1.0
    # a kind left out of the setting falls back to 60 minutes
    silent = {("p", "g"): T0 - timedelta(minutes=59)}
    assert rules.offline([MeterRef("p", "g", "gas")], silent, T0, r) == []


def stack(minutes: int, dmf: list[float], flow: list[float]) -> StackSeries:
    ts = int(T0.timestamp() * 1000) + MINUTE_MS * np.arange(minutes, dtype=np.int64)
    return StackSeries(
        "sl-1",
        "s-1",
        ts,
        {"dmf_mgm3": np.array(dmf, dtype=np.float64), "flow_m3h": np.array(flow)},
    )


@pytest.mark.parametrize(
    ("dmf", "flow", "stuck"),
    [
        ([12.5] * 31, [9000.0] * 31, False),  # 30 min exactly: not over
        ([12.5] * 32, [9000.0] * 32, True),  # 31 min
        ([11.0] + [12.5] * 32, [9000.0] * 33, True),  # the run is the latest 32 readings
        ([12.5] * 20 + [12.6] + [12.5] * 11, [9000.0] * 32, False),  # broken run
        ([12.5] * 32, [9000.0] * 31 + [100.0], False),  # stack stopped during the run
        ([12.5] * 32, [np.nan] * 32, False),  # running unknown
        ([0.0] * 32, [9000.0] * 32, True),  # constant zero while the stack runs is stuck too
        ([0.0] * 32, [100.0] * 32, False),  # zero while the stack is stopped is not
        ([12.5] * 16 + [np.nan] * 8 + [12.5] * 8, [9000.0] * 32, True),  # invalid gaps skipped
    ],
)
def test_stuck(dmf: list[float], flow: list[float], stuck: bool) -> None:
    found = rules.stuck_sensors([stack(len(dmf), dmf, flow)], ["dmf_mgm3"], R)
    assert bool(found) is stuck
    if stuck:
        assert found[0].key == AlertKey("sensor_stuck", "sl-1", "s-1", "dmf_mgm3")


def test_stuck_flow_itself() -> None:
    s = stack(40, [float(i) for i in range(40)], [9000.0] * 40)
    found = rules.stuck_sensors([s], ["dmf_mgm3", "flow_m3h"], R)
    assert [c.key.pollutant for c in found] == ["flow_m3h"]


def row(plant: str, status: str, coal_kg: float = 0.0, fraction: float | None = None) -> FirmRow:
    return FirmRow(plant, plant, status, fraction, 0, coal_kg, 0, 0, 0, 0, "")


@pytest.mark.parametrize(
    ("before", "lately", "coal_kg", "fraction", "raised"),
    [
        ("gas", "mixed", 50.0, 0.6, False),  # at the threshold: not above
        ("gas", "mixed", 50.5, 0.6, True),
        ("gas", "coal", 900.0, 0.05, True),
        # Unknown is never burning coal: ss-056 at 98.4 % gas, its coal meter silent 3.5 h
        ("gas", "unknown", 60.0, None, False),
        ("gas", "unknown", 300.0, None, False),
        ("gas", "gas", 213.5, 0.97, False),  # the little coal a gas firm may burn (>= 0.9)
        ("mixed", "coal", 500.0, 0.0, False),
        ("coal", "coal", 500.0, 0.0, False),
        ("unknown", "coal", 500.0, 0.0, False),
        ("gas", "unknown", 0.0, None, False),  # no coal meter: nothing burnt on record
    ],
)
def test_coal_after_conversion(
    before: str, lately: str, coal_kg: float, fraction: float | None, raised: bool
) -> None:
    recent = {"ss-1": row("ss-1", lately, coal_kg, fraction)}
    found = rules.coal_after_conversion([row("ss-1", before)], recent, R)
    assert bool(found) is raised
    if raised:
        assert found[0].value == coal_kg
        assert found[0].details["recent_status"] == lately


@pytest.mark.parametrize(
    ("projected", "raised"), [(0.49, True), (0.5, False), (0.8, False), (None, False)]
)
def test_gas_share_off_track(projected: float | None, raised: bool) -> None:
    found = rules.gas_share_off_track(projected, 0.5)
    assert bool(found) is raised
    if raised:
        assert found[0].key == AlertKey("gas_share_off_track", COUNTY)


# -- lifecycle ---------------------------------------------------------------------------

KEY = AlertKey("voc_spike", "sl-1", "s-1", "dmf_mgm3")
COND = Condition(KEY, 99.0, 40.0, "spike")
POLICY = Policy(raise_after=2, hold_off=timedelta(minutes=10), reopen_window=timedelta(hours=1))
KINDS = {"voc_spike"}


def alert(status: str, **kw: object) -> Alert:
    base: dict[str, object] = {
        "id": 7,
        "key": KEY,
        "status": status,
        "opened_at": T0 - timedelta(hours=2),
        "last_seen_at": T0 - timedelta(minutes=1),
        "updated_at": T0 - timedelta(minutes=1),
        "value": 99.0,
        "limit": 40.0,
        "message": "spike",
    }
    base.update(kw)
    return Alert(**base)  # type: ignore[arg-type]


def test_raise_needs_n_consecutive_evaluations() -> None:
    first = plan({}, {}, {KEY: COND}, KINDS, T0, POLICY)
    assert first.transitions == () and first.pending == {KEY: 1}
    second = plan({}, first.pending, {KEY: COND}, KINDS, T0, POLICY)
    assert second.transitions == (Raise(COND),) and second.pending == {}
    # a gap resets the streak
    gap = plan({}, first.pending, {}, KINDS, T0, POLICY)
    assert gap.pending == {}


def test_active_alert_is_touched_then_resolved_after_hold_off() -> None:
    for status in (OPEN, ACKNOWLEDGED):
        holding = plan({KEY: alert(status)}, {}, {KEY: COND}, KINDS, T0, POLICY)
        assert holding.transitions == (Touch(7, COND, None),)
        clearing = plan({KEY: alert(status)}, {}, {}, KINDS, T0, POLICY)
        assert clearing.transitions == (Touch(7, None, T0),)
        since = T0 - timedelta(minutes=9, seconds=59)
        waiting = plan({KEY: alert(status, cleared_since=since)}, {}, {}, KINDS, T0, POLICY)
        assert waiting.transitions == (Touch(7, None, since),)
        done = T0 - timedelta(minutes=10)
        resolved = plan({KEY: alert(status, cleared_since=done)}, {}, {}, KINDS, T0, POLICY)
        assert resolved.transitions == (Resolve(7),)


def test_condition_back_within_hold_off_cancels_the_countdown() -> None:
    since = T0 - timedelta(minutes=5)
    back = plan({KEY: alert(OPEN, cleared_since=since)}, {}, {KEY: COND}, KINDS, T0, POLICY)
    assert back.transitions == (Touch(7, COND, None),)


def test_recently_auto_resolved_reopens_instead_of_new() -> None:
    recent = alert(RESOLVED, resolved_at=T0 - timedelta(minutes=59), resolved_by="engine")
    out = plan({KEY: recent}, {KEY: 1}, {KEY: COND}, KINDS, T0, POLICY)
    assert out.transitions == (Reopen(7, COND),)
    old = alert(RESOLVED, resolved_at=T0 - timedelta(minutes=61), resolved_by="engine")
    out = plan({KEY: old}, {KEY: 1}, {KEY: COND}, KINDS, T0, POLICY)
    assert out.transitions == (Raise(COND),)


def test_officer_resolution_is_quiet_for_the_hold_off() -> None:
    by_officer = alert(RESOLVED, resolved_at=T0 - timedelta(minutes=5), resolved_by="alice")
    out = plan({KEY: by_officer}, {KEY: 5}, {KEY: COND}, KINDS, T0, POLICY)
    assert out.transitions == () and out.pending == {KEY: 6}
    later = T0 + timedelta(minutes=5)
    out = plan({KEY: by_officer}, out.pending, {KEY: COND}, KINDS, later, POLICY)
    assert out.transitions == (Reopen(7, COND),)


def test_kinds_not_evaluated_are_untouched() -> None:
    out = plan({KEY: alert(OPEN)}, {KEY: 1}, {}, {"meter_offline"}, T0, POLICY)
    assert out.transitions == () and out.pending == {KEY: 1}


def test_flapping_condition_gives_one_alert() -> None:
    """Holding / clearing every other evaluation for an hour: one raise, never resolved."""
    state: dict[AlertKey, Alert] = {}
    pending: dict[AlertKey, int] = {}
    raises = resolves = 0
    for i in range(120):
        now = T0 + timedelta(seconds=30 * i)
        holding = i % 4 in (0, 1)  # two evaluations on, two off
        out = plan(state, pending, {KEY: COND} if holding else {}, KINDS, now, POLICY)
        pending = dict(out.pending)
        for t in out.transitions:
            if isinstance(t, Raise):
                raises += 1
                state[KEY] = alert(OPEN, opened_at=now)
            elif isinstance(t, Resolve):
                resolves += 1
            elif isinstance(t, Touch):
                state[KEY] = alert(OPEN, cleared_since=t.cleared_since)
    assert (raises, resolves) == (1, 0)


@pytest.mark.parametrize(
    ("drift_seconds", "threshold_seconds", "raised"),
    [(125.0, 60.0, True), (-61.0, 60.0, True), (60.0, 60.0, False), (-5.0, 60.0, False)],
)
def test_clock_drift_past_the_threshold_only(
    drift_seconds: float, threshold_seconds: float, raised: bool
) -> None:
    from api.alerts.rules import ClockCheck, clock_drift

    check = ClockCheck("sl-001", "stack-1", 1_772_416_800_000, drift_seconds, threshold_seconds)
    found = clock_drift([check])
    assert [c.key.kind for c in found] == (["logger_clock_drift"] if raised else [])
    if raised:
        assert (found[0].value, found[0].limit, found[0].unit) == (
            drift_seconds,
            threshold_seconds,
            "s",
        )


@pytest.mark.parametrize(
    ("pending", "conditions"),
    [
        ([], []),
        ([rules.PendingRevisions("sl-001", "stack-1", 0, 0, 0, 0)], []),
        (
            [
                rules.PendingRevisions(
                    "sl-001", "stack-1", 30, 1_772_500_000_000, 1_772_323_200_000, 1_772_324_940_000
                )
            ],
            [
                (
                    "reading_revised/sl-001/stack-1",
                    30.0,
                    "2026-03-03T01:06:40+00:00",
                    {
                        "first_reading": "2026-03-01T00:00:00+00:00",
                        "last_reading": "2026-03-01T00:29:00+00:00",
                    },
                )
            ],
        ),
    ],
)
def test_revised_readings(pending: list[rules.PendingRevisions], conditions: list[tuple]) -> None:
    found = rules.revised_readings(pending)
    assert [
        (str(c.key), c.value, c.since.isoformat() if c.since else None, dict(c.details))
        for c in found
    ] == conditions


# -- exceedances found late (back-filled data) --------------------------------------------


def _hours_ago(n: int) -> datetime:
    return datetime.fromtimestamp((H_3 + n * HOUR_MS) / 1000, tz=UTC)


def _exceedance_alert(kind: str, status: str, since: int, until: int, **kw: object) -> Alert:
    details = {
        "first_hour": _hours_ago(since).isoformat(),
        "last_hour_end": _hours_ago(until).isoformat(),
    }
    return alert(
        status,
        key=AlertKey(kind, "sl-1", "s-1", "dmf_mgm3"),
        since=_hours_ago(since),
        last_seen_at=_hours_ago(until),
        details=details,
        **kw,
    )


LIVE, LATE = "voc_hourly_exceedance", "voc_late_exceedance"


@pytest.mark.parametrize(
    ("seen", "hours", "first"),
    [
        ([], 2, 0),  # the back-filled run of hours 0 and 1: one late alert, since hour 0
        ([(LIVE, RESOLVED, 0, 1)], 1, 1),  # the live alert saw hour 0 as it happened
        ([(LIVE, OPEN, 0, 2)], 0, None),
        ([(LATE, RESOLVED, 0, 2)], 0, None),  # an officer closed it: never raised again
        ([(LATE, OPEN, 0, 2)], 2, 0),  # still open: its own hours keep it holding
    ],
)
def test_late_exceedances(
    seen: list[tuple[str, str, int, int]], hours: int, first: int | None
) -> None:
    stack = judged({"dmf_mgm3": [(0, 60, 80.0, "N"), (1, 60, 90.0, "N"), (2, 60, 10.0, "N")]})
    cover = rules.exceedance_cover([_exceedance_alert(*s) for s in seen])
    found = rules.late_exceedances([stack], cover, int(T0.timestamp() * 1000))
    assert len(found) == (1 if hours else 0)
    if found:
        (c,) = found
        assert c.late and c.key == AlertKey(LATE, "sl-1", "s-1", "dmf_mgm3")
        assert c.details["hours"] == hours and c.since == _hours_ago(first or 0)
        assert c.value == 90.0 and c.limit == 50.0


@pytest.mark.parametrize(
    ("heard_at", "runs"),
    [
        (None, [(0, 2)]),  # no arrival kept for the stack: every hour is judged, as before
        (H_3 - HOUR_MS, [(0, 2)]),  # heard before hour 0: both hours were owed live
        (H_3, [(0, 2)]),  # heard as hour 0 began: still owed live
        (H_3 + 30 * 60_000, [(0, 2)]),  # heard during hour 0: that hour was partly live
        (H_3 + HOUR_MS, [(1, 2)]),  # heard as hour 0 ended: hour 0 was imported history
        (H_3 + 2 * HOUR_MS, []),  # the whole run came with the first import: no late alert
        (H_3 + 5 * HOUR_MS, []),  # heard long after (an installation's month)
    ],
)
def test_late_exceedances_leave_out_the_history_of_a_first_import(
    heard_at: int | None, runs: list[tuple[int, int]]
) -> None:
    """A stack's hours that ended before plantwatch first heard it came with its first
    import (`make run`'s month at installation raised 63 such alerts); a gap after it is late."""
    stack = judged({"dmf_mgm3": [(0, 60, 80.0, "N"), (1, 60, 90.0, "N"), (2, 60, 10.0, "N")]})
    heard = {} if heard_at is None else {("sl-1", "s-1"): heard_at}
    found = rules.late_exceedances([stack], {}, int(T0.timestamp() * 1000), "UTC", heard)
    assert [c.details["runs"] for c in found] == (
        [[[_hours_ago(a).isoformat(), _hours_ago(b).isoformat()] for a, b in runs]] if runs else []
    )
    other = {("sl-1", "s-2"): H_3 + 5 * HOUR_MS}  # another stack's first import changes nothing
    assert len(rules.late_exceedances([stack], {}, int(T0.timestamp() * 1000), "UTC", other)) == 1


def test_late_exceedances_leave_the_live_hours_to_the_live_rule() -> None:
    stack = judged({"dmf_mgm3": [(0, 60, 80.0, "N"), (1, 60, 90.0, "N"), (2, 60, 10.0, "N")]})
    # hour 1 is still within the live look-back: only hour 0 is the late rule's
    found = rules.late_exceedances([stack], {}, H_3 + HOUR_MS)
    assert [c.details["runs"] for c in found] == [
        [[_hours_ago(0).isoformat(), _hours_ago(1).isoformat()]]
    ]
