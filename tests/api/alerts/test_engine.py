"""The alert engine against a real InfluxDB and a SQLite file, driven by an explicit clock.

One crafted county (readings written to InfluxDB) makes every alert kind hold at `T`, and
a few things that look like alerts but are not (an insufficient hour, an M-flagged spike,
a constant value on a stack with no flow reading).
"""

from __future__ import annotations

import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest

from api.alerts.engine import AlertEngine, Evaluator
from api.alerts.lifecycle import Policy
from api.alerts.model import AlertConflict, AlertKey, county_alert_plant
from api.alerts.projection import HistoryProjection
from api.alerts.repo import AlertRepo
from api.db import connect
from api.fuel.rules import MANUAL_METER, ConversionFact, StepRules
from api.fuel.service import FuelCore
from api.settings import AlertRules, KpiDefinition
from ingest.kernel.points import reading_lines
from ingest.kernel.registry import Plant, Registry, parse_registry
from ingest.kernel.schema import Reading
from ingest.kernel.store import InfluxStore, encode_point
from tests.builders import TWO_COUNTIES_TOML, MeterSpec, RegistryBuilder

pytestmark = pytest.mark.integration

T = datetime(2026, 3, 2, 10, 7, tzinfo=UTC)
HOUR = datetime(2026, 3, 2, 9, tzinfo=UTC)  # the last completed hour at T
POLICY = Policy(raise_after=2, hold_off=timedelta(minutes=10), reopen_window=timedelta(hours=1))
KPI = KpiDefinition(window_days=1)
# Most of this small county's meters fall silent by design: the ingest-stall rule, which
# would fold them into one `ingest_stalled`, is kept out of the way (tests/api/alerts/test_ingest.py).
RULES = AlertRules(stall_min_meters=100)
STEPS = StepRules({"gas": 20_000.0, "coal": 50_000.0}, timedelta(hours=24))


def fuel_core(store: InfluxStore, registry: Registry) -> FuelCore:
    return FuelCore(store, "Asia/Shanghai", STEPS, KPI, registry.gas_share_goal)


REGISTRY = (
    RegistryBuilder(county="Test")
    .plant(
        "sl-001",
        "synthetic_leather",
        [
            MeterSpec("stack-1", "voc", {"limits": {"dmf_mgm3": 20.0}}),
            ("stack-2", "voc"),
            ("stack-3", "voc"),
        ],
    )
    .plant("sl-002", "synthetic_leather", [("stack-1", "voc"), ("stack-2", "voc")])
    .plant("ss-001")
    .plant("ss-002")
)
EXPECTED = {
    AlertKey("voc_hourly_exceedance", "sl-001", "stack-1", "dmf_mgm3"),
    AlertKey("voc_spike", "sl-001", "stack-1", "dmf_mgm3"),
    AlertKey("sensor_stuck", "sl-001", "stack-3", "dmf_mgm3"),
    AlertKey("meter_offline", "sl-002", "stack-1"),
    AlertKey("meter_offline", "sl-002", "stack-2"),
    AlertKey("meter_offline", "ss-002", "gas-1"),
    AlertKey("coal_after_conversion", "ss-001"),
    AlertKey("gas_share_off_track", "_county"),
    AlertKey("logger_clock_drift", "sl-001", "stack-2"),
}
SPIKE = AlertKey("voc_spike", "sl-001", "stack-1", "dmf_mgm3")
OFFLINE = AlertKey("meter_offline", "sl-002", "stack-1")


def r(ts: datetime, values: dict[str, float], flags: dict[str, str] | None = None) -> Reading:
    return Reading(ts, MappingProxyType(values), MappingProxyType(flags or {}))


def minute(m: int, base: datetime = HOUR) -> datetime:
    return base + timedelta(minutes=m)


def county_readings() -> dict[tuple[str, str], list[Reading]]:
    out: dict[tuple[str, str], list[Reading]] = {}
    # stack-1 (DMF limit 20): 45 valid minutes at 25 in the 09:00 hour, the rest M-flagged;
    # 10:00..10:06 at 10 with one valid 50 at 10:05 (> 2 x 20). Flow varies: not stuck.
    s1 = []
    for m in range(60):
        flags = {} if m < 45 else {"dmf_mgm3": "M"}
        s1.append(
            r(minute(m), {"dmf_mgm3": 25.0 if m < 45 else 500.0, "flow_m3h": 9000.0 + m % 7}, flags)
        )
    for m in range(60, 67):
        s1.append(r(minute(m), {"dmf_mgm3": 50.0 if m == 65 else 10.0, "flow_m3h": 9000.0 + m % 7}))
    out[("sl-001", "stack-1")] = s1
    # stack-2 (default limits): 44 valid minutes of 60 (> 50) -> insufficient, no exceedance;
    # an M-flagged 1000 at 10:05 is no spike; 44 identical values but no flow -> not stuck.
    s2 = [r(minute(m), {"dmf_mgm3": 60.0}, {} if m < 44 else {"dmf_mgm3": "C"}) for m in range(60)]
    s2.append(r(minute(65), {"dmf_mgm3": 1000.0}, {"dmf_mgm3": "M"}))
    out[("sl-001", "stack-2")] = s2
    # stack-3: DMF stuck at 12.5 from 09:20 to 10:06 (46 min) while flow runs at ~9000
    out[("sl-001", "stack-3")] = [
        r(minute(m), {"dmf_mgm3": 12.5, "flow_m3h": 9000.0 + m % 5}) for m in range(20, 67)
    ]
    # sl-002: both stacks silent since 09:50 (17 min at T > 15)
    for stack in ("stack-1", "stack-2"):
        out[("sl-002", stack)] = [r(minute(m), {"dmf_mgm3": 5.0 + m}) for m in range(40, 51)]
    # ss-001: on gas for a day, then 25 kg of coal per 15 min over the last 6 h (600 kg)
    # ss-002: on coal; its gas meter silent for the last 61 min. Both report since before
    # the local month began (43 h before T), so March to date is the history's one month:
    # no firm on gas there, and the projection (one month: flat) is a share of 0.
    step = timedelta(minutes=15)
    times = [T - timedelta(hours=43) + i * step for i in range(173)]
    coal_from = T - timedelta(hours=6)
    out[("ss-001", "gas-1")] = [r(t, {"volume_m3": 1000.0 + 10 * i}) for i, t in enumerate(times)]
    out[("ss-001", "coal-1")] = [
        r(t, {"mass_kg": 500.0 + 25 * sum(1 for u in times[: i + 1] if u > coal_from)})
        for i, t in enumerate(times)
    ]
    out[("ss-002", "gas-1")] = [
        r(t, {"volume_m3": 50.0}) for t in times if t <= T - timedelta(minutes=61)
    ]
    out[("ss-002", "coal-1")] = [r(t, {"mass_kg": 100.0 + 40 * i}) for i, t in enumerate(times)]
    return out


def write(
    store: InfluxStore, registry: Registry, readings: dict[tuple[str, str], list[Reading]]
) -> None:
    lines = []
    for (plant_id, meter_id), rs in readings.items():
        plant = registry.plant(plant_id)
        assert plant is not None
        meter = plant.meter(meter_id)
        assert meter is not None
        lines += reading_lines(plant, meter, rs)
    store.write_lines(lines)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def registry() -> Registry:
    return REGISTRY.registry()


def clock_check_lines() -> list[str]:
    """The gateway's drifted clock checks: sl-001/stack-2 at 09:30 (125 s ahead); sl-001/
    stack-3 at 07:00, outside the 2 h lookback (its clock was set since)."""
    return [
        encode_point(
            "hj212_event",
            {"plant": "sl-001", "meter": meter, "kind": "logger_clock_drift"},
            {"drift_seconds": drift, "threshold_seconds": 60.0, "message": "clock off"},
            at,
        )
        for meter, drift, at in (
            ("stack-2", 125.0, datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
            ("stack-3", -300.0, datetime(2026, 3, 2, 7, 0, tzinfo=UTC)),
        )
    ]


@pytest.fixture
def county(store: InfluxStore, registry: Registry) -> InfluxStore:
    write(store, registry, county_readings())
    store.write_lines(clock_check_lines())
    return store


@pytest.fixture
def make_engine(
    county: InfluxStore, registry: Registry, database_url: str
) -> Callable[..., AlertEngine]:
    url = database_url

    def make(clock: Clock, holder: str = "engine-a", lease_seconds: float = 60) -> AlertEngine:
        core = fuel_core(county, registry)
        evaluator = Evaluator(county, registry, RULES, core, HistoryProjection(core, registry))
        return AlertEngine(
            AlertRepo(connect(url)),
            evaluator,
            POLICY,
            holder=holder,
            interval_seconds=0.05,
            kpi_interval_seconds=0,
            lease_seconds=lease_seconds,
            clock=clock,
        )

    return make


def open_keys(repo: AlertRepo) -> set[AlertKey]:
    return {a.key for a in repo.find(status="active")}


def test_every_kind_raises_from_crafted_readings(make_engine: Callable[..., AlertEngine]) -> None:
    clock = Clock(T)
    engine = make_engine(clock)
    assert engine.tick() == []  # each condition must hold for 2 evaluations
    clock.advance(seconds=30)
    events = engine.tick()
    assert open_keys(engine.repo) == EXPECTED
    assert len(events) == len(EXPECTED)
    by_key = {a.key: a for a in engine.repo.find()}
    assert by_key[AlertKey("voc_hourly_exceedance", "sl-001", "stack-1", "dmf_mgm3")].value == 25.0
    assert by_key[SPIKE].value == 50.0 and by_key[SPIKE].limit == 40.0
    assert by_key[OFFLINE].value == pytest.approx(17.5)
    # window [10:07:30 - 6 h, 10:07:30): readings 04:22..10:07 -> 24 steps of 25 kg whose later
    # reading lies in it (SPEC section 6: the step into the window from 04:07 belongs to it)
    assert by_key[AlertKey("coal_after_conversion", "ss-001")].value == pytest.approx(600.0)
    assert by_key[AlertKey("gas_share_off_track", "_county")].value == 0.0
    drift = by_key[AlertKey("logger_clock_drift", "sl-001", "stack-2")]
    assert (drift.value, drift.limit, drift.unit) == (125.0, 60.0, "s")
    clock.advance(seconds=30)
    assert engine.tick() == []  # still holding: no new events, no duplicates
    assert len(engine.repo.find()) == len(EXPECTED)


def test_acknowledge_resolve_after_hold_off_and_reopen(
    make_engine: Callable[..., AlertEngine], county: InfluxStore, registry: Registry
) -> None:
    clock = Clock(T)
    engine = make_engine(clock)
    engine.tick()
    clock.advance(seconds=30)
    engine.tick()
    repo = engine.repo
    spike = next(a for a in repo.find() if a.key == SPIKE)
    acked = repo.acknowledge(spike.id, "alice", "calling the plant", clock())
    assert (acked.status, acked.acknowledged_by, acked.ack_comment) == (
        "acknowledged",
        "alice",
        "calling the plant",
    )
    with pytest.raises(AlertConflict):
        repo.acknowledge(spike.id, "bob", None, clock())

    # 10:21: the 10:05 spike left the 15-minute window -> clearing, not yet resolved
    clock.now = datetime(2026, 3, 2, 10, 21, tzinfo=UTC)
    engine.tick()
    assert repo.get(spike.id).status == "acknowledged"  # type: ignore[union-attr]
    clock.advance(minutes=9, seconds=59)
    engine.tick()
    assert repo.get(spike.id).status == "acknowledged"  # type: ignore[union-attr]
    clock.advance(seconds=1)  # 10 min after clearing
    engine.tick()
    resolved = repo.get(spike.id)
    assert resolved is not None
    assert (resolved.status, resolved.resolved_by) == ("resolved", "engine")

    # a new spike 20 min later reopens the same alert instead of raising another
    write(
        county,
        registry,
        {("sl-001", "stack-1"): [r(datetime(2026, 3, 2, 10, 40, tzinfo=UTC), {"dmf_mgm3": 45.0})]},
    )
    clock.now = datetime(2026, 3, 2, 10, 41, tzinfo=UTC)
    engine.tick()
    assert repo.get(spike.id).status == "resolved"  # type: ignore[union-attr]
    clock.advance(seconds=30)
    engine.tick()
    reopened = repo.get(spike.id)
    assert reopened is not None
    assert (reopened.status, reopened.reopen_count, reopened.value) == ("open", 1, 45.0)
    assert reopened.acknowledged_by is None
    assert len([a for a in repo.find() if a.key == SPIKE]) == 1

    # an officer resolves it while the spike still shows: quiet for the hold-off, then reopen
    repo.resolve(spike.id, "alice", "plant fixed the scrubber", clock())
    for _ in range(3):
        clock.advance(minutes=2)
        engine.tick()
    assert repo.get(spike.id).status == "resolved"  # type: ignore[union-attr]
    clock.advance(minutes=5)  # 11 min after the officer's resolution, spike still in window
    engine.tick()
    assert repo.get(spike.id).status == "open"  # type: ignore[union-attr]
    assert [(e.event, e.actor) for e in repo.events(spike.id)] == [
        ("raised", "engine"),
        ("acknowledged", "alice"),
        ("resolved", "engine"),
        ("reopened", "engine"),
        ("resolved", "alice"),
        ("reopened", "engine"),
    ]
    with pytest.raises(AlertConflict):
        repo.resolve(spike.id, "x", "c" * 3000, clock())


def test_offline_meter_that_flaps_keeps_one_alert(
    make_engine: Callable[..., AlertEngine], county: InfluxStore, registry: Registry
) -> None:
    clock = Clock(T)
    engine = make_engine(clock)
    engine.tick()
    clock.advance(seconds=30)
    engine.tick()
    repo = engine.repo
    offline = next(a for a in repo.find() if a.key == OFFLINE)

    def back_at(hh: int, mm: int) -> None:
        ts = datetime(2026, 3, 2, hh, mm, tzinfo=UTC)
        write(county, registry, {("sl-002", "stack-1"): [r(ts, {"dmf_mgm3": 5.0 + mm})]})

    def tick_at(hh: int, mm: int, ss: int = 0) -> None:
        clock.now = datetime(2026, 3, 2, hh, mm, ss, tzinfo=UTC)
        engine.tick()

    back_at(10, 8)  # the meter reports once, then goes silent again
    tick_at(10, 9)
    tick_at(10, 15)
    tick_at(10, 24)  # silent 16 min again: the same alert holds, countdown cancelled
    back_at(10, 25)
    tick_at(10, 26)
    tick_at(10, 35, 59)
    assert repo.get(offline.id).status == "open"  # type: ignore[union-attr]
    tick_at(10, 36)  # clear for the 10-minute hold-off
    assert repo.get(offline.id).status == "resolved"  # type: ignore[union-attr]
    tick_at(10, 41)  # silent 16 min: holding once
    tick_at(10, 41, 30)  # twice: reopens the same alert
    assert [e.event for e in repo.events(offline.id)] == ["raised", "resolved", "reopened"]
    assert len([a for a in repo.find() if a.key == OFFLINE]) == 1


def test_two_engines_one_leader(make_engine: Callable[..., AlertEngine]) -> None:
    clock = Clock(T)
    a = make_engine(clock, "engine-a", lease_seconds=60)
    b = make_engine(clock, "engine-b", lease_seconds=60)
    for _ in range(3):
        a.tick()
        b.tick()
        clock.advance(seconds=30)
    assert (a.is_leader, b.is_leader) == (True, False)
    assert a.repo.lease_holder(clock()) == "engine-a"
    assert b.evaluations == 0
    raised = [e for e in a.repo.events_after(0) if e.event == "raised"]
    assert len(raised) == len(EXPECTED)

    # a dies without releasing: b waits for the lease to expire, then takes over
    b.tick()
    assert not b.is_leader
    clock.advance(seconds=61)
    b.tick()
    assert b.is_leader
    assert not a.tick() and not a.is_leader
    # b took the state over: nothing raised twice
    assert len([e for e in b.repo.events_after(0) if e.event == "raised"]) == len(EXPECTED)

    # a clean stop hands the lease over at once
    b.stop()
    a.tick()
    assert a.is_leader


def test_two_engine_threads(make_engine: Callable[..., AlertEngine]) -> None:
    """Both engines run their loops concurrently: one evaluates, nothing is raised twice."""
    started = time.monotonic()

    def clock() -> datetime:  # T, running at real speed
        return T + timedelta(seconds=time.monotonic() - started)

    engines = [make_engine(Clock(T), f"engine-{i}") for i in range(2)]
    for e in engines:
        e.clock = clock
        e.start()
    repo = engines[0].repo
    done = threading.Event()
    deadline = time.monotonic() + 120  # generous: a loaded machine is slow, never wrong
    while time.monotonic() < deadline and not done.is_set():
        if len([ev for ev in repo.events_after(0) if ev.event == "raised"]) >= len(EXPECTED):
            done.set()
        else:
            done.wait(0.05)
    # Who evaluated, read before stopping: a stopping leader releases the lease, and the
    # other engine may then rightly take it over in the moment before its own stop.
    evaluated = sorted(e.evaluations > 0 for e in engines)
    for e in engines:
        e.stop()
    assert done.is_set()
    assert evaluated == [False, True]
    raised = [ev for ev in repo.events_after(0) if ev.event == "raised"]
    assert len(raised) == len(EXPECTED)


def test_state_survives_a_new_engine(make_engine: Callable[..., AlertEngine]) -> None:
    clock = Clock(T)
    first = make_engine(clock, "engine-a")
    first.tick()
    clock.advance(seconds=30)
    first.tick()
    spike = next(a for a in first.repo.find() if a.key == SPIKE)
    first.repo.acknowledge(spike.id, "alice", "seen", clock())
    first.stop()
    second = make_engine(clock, "engine-b")  # a fresh engine and connection on the same file
    clock.advance(seconds=30)
    assert second.tick() == []
    again = second.repo.get(spike.id)
    assert again is not None
    assert (again.status, again.acknowledged_by, again.ack_comment) == (
        "acknowledged",
        "alice",
        "seen",
    )
    assert open_keys(second.repo) == EXPECTED


@dataclass
class FixedProjection:
    """Stands in for the monthly-history projection: the provider is swappable."""

    share: float | None

    def projected_share(self, now: datetime, firms: Sequence[Plant] | None = None) -> float | None:
        return self.share


@dataclass
class ProjectionByFirm:
    """A projection per set of firms, named by its first firm's id."""

    shares: dict[str, float]

    def projected_share(self, now: datetime, firms: Sequence[Plant] | None = None) -> float | None:
        return self.shares[firms[0].id] if firms else None


def test_each_county_of_several_is_off_track_against_its_own_goal(store: InfluxStore) -> None:
    """Both counties project 55 %: 松阳 (goal 50 %) is on track, 遂昌 (goal 70 %) is not, and
    the province (goal 60 %) raises nothing of its own: each county's officers see theirs."""
    registry = parse_registry(tomllib.loads(TWO_COUNTIES_TOML))
    core = fuel_core(store, registry)
    evaluator = Evaluator(
        store, registry, RULES, core, ProjectionByFirm({"ss-a": 0.55, "ss-b": 0.55})
    )
    found, evaluated = evaluator.slow(T)
    assert "gas_share_off_track" in evaluated
    off_track = {
        c.key.plant: (c.value, c.limit) for c in found if c.key.kind == "gas_share_off_track"
    }
    assert off_track == {county_alert_plant("suichang"): (0.55, 0.7)}


@pytest.mark.parametrize(("share", "raised"), [(0.3, True), (0.5, False), (None, False)])
def test_projection_provider_is_swappable(
    county: InfluxStore, registry: Registry, share: float | None, raised: bool
) -> None:
    core = fuel_core(county, registry)
    evaluator = Evaluator(county, registry, RULES, core, FixedProjection(share))
    found, evaluated = evaluator.slow(T)
    assert "gas_share_off_track" in evaluated
    off_track = [c for c in found if c.key.kind == "gas_share_off_track"]
    assert bool(off_track) is raised
    if raised:
        assert off_track[0].value == share


def test_a_meter_kept_by_hand_is_not_offline_between_entries(
    county: InfluxStore, registry: Registry
) -> None:
    """ss-002's gas meter, silent for 61 min, is offline, until the records say it is kept
    by hand; the core asks its facts provider at every evaluation, so a new record counts."""
    facts: list[ConversionFact] = []
    core = FuelCore(county, "Asia/Shanghai", STEPS, KPI, registry.gas_share_goal, lambda: facts)
    evaluator = Evaluator(county, registry, RULES, core, HistoryProjection(core, registry))

    def offline() -> set[tuple[str, str | None]]:
        found, _ = evaluator.fast(T)
        return {(c.key.plant, c.key.meter) for c in found if c.key.kind == "meter_offline"}

    assert ("ss-002", "gas-1") in offline()
    facts.append(ConversionFact("ss-002", MANUAL_METER, T - timedelta(days=30), "gas-1"))
    assert ("ss-002", "gas-1") not in offline()
    assert ("sl-002", "stack-1") in offline()  # the other silent meters still are


def test_back_filled_exceedances_are_late_alerts_and_marks_take_hours_out(
    county: InfluxStore, registry: Registry
) -> None:
    """sl-001 stack-2 sends, late, an hour of DMF at 80 mg/m³ (limit 50) from 10 h before T:
    older than the live look-back, so only the late rule finds it; an accepted mark over
    that hour takes it out of judgement, and the meter raises nothing while a mark lasts."""
    back = HOUR - timedelta(hours=9)
    write(county, registry, {("sl-001", "stack-2"): [
        r(back + timedelta(minutes=m), {"dmf_mgm3": 80.0, "flow_m3h": 9000.0}) for m in range(60)
    ]})  # fmt: skip
    core = fuel_core(county, registry)
    marks: dict[tuple[str, str], list[tuple[int, int]]] = {}
    evaluator = Evaluator(
        county, registry, RULES, core, HistoryProjection(core, registry),
        cover=lambda since: [], marks=lambda start, end: marks,
    )  # fmt: skip
    late = AlertKey("voc_late_exceedance", "sl-001", "stack-2", "dmf_mgm3")
    found, evaluated = evaluator.slow(T)
    assert "voc_late_exceedance" in evaluated
    (c,) = [c for c in found if c.key == late]
    assert c.late and c.since == back and c.value == 80.0 and c.details["hours"] == 1

    ms = int(back.timestamp() * 1000)
    marks[("sl-001", "stack-2")] = [(ms, ms + 3_600_000)]
    assert late not in {c.key for c in evaluator.slow(T)[0]}
    offline = AlertKey("meter_offline", "sl-002", "stack-1")
    assert offline in {c.key for c in evaluator.fast(T)[0]}
    now_ms = int(T.timestamp() * 1000)
    marks[("sl-002", "stack-1")] = [(now_ms - 60_000, now_ms + 60_000)]  # a declared stop
    assert offline not in {c.key for c in evaluator.fast(T)[0]}


@pytest.mark.parametrize(
    ("heard_before", "raised"),
    [
        (timedelta(hours=30), True),  # heard live 30 h ago: the hour 10 h ago was owed live
        (None, False),  # first heard when the hour came, with its import: history, not late
    ],
)
def test_hours_from_before_a_stack_was_first_heard_are_not_late(
    county: InfluxStore, registry: Registry, heard_before: timedelta | None, raised: bool
) -> None:
    """`make run`'s first import (a month of each stack, loaded at installation) raised 63
    `voc_late_exceedance` alerts: every exceeding hour of history looked "found late". The
    hours of sl-001 stack-2 that ended before it was first heard (its least `_arrived_ms`)
    are history; after that, an hour that comes late is late."""
    plant = registry.plant("sl-001")
    assert plant is not None
    stack = plant.meter("stack-2")
    assert stack is not None
    back = HOUR - timedelta(hours=9)
    hour = [
        r(back + timedelta(minutes=m), {"dmf_mgm3": 80.0, "flow_m3h": 9000.0}) for m in range(60)
    ]
    lines = reading_lines(plant, stack, hour, arrived_ms=int(T.timestamp() * 1000))
    if heard_before is not None:
        heard = T - heard_before
        early = [r(heard, {"dmf_mgm3": 5.0, "flow_m3h": 9000.0})]
        lines += reading_lines(plant, stack, early, arrived_ms=int(heard.timestamp() * 1000))
    county.write_lines(lines)
    core = fuel_core(county, registry)
    evaluator = Evaluator(
        county, registry, RULES, core, HistoryProjection(core, registry), cover=lambda since: []
    )
    found, evaluated = evaluator.slow(T)
    assert "voc_late_exceedance" in evaluated
    late = AlertKey("voc_late_exceedance", "sl-001", "stack-2", "dmf_mgm3")
    assert (late in {c.key for c in found}) is raised
