"""Alert noise: many meters silent together is one `ingest_stalled`, or nothing while loading.

Pure table for `rules.ingest_state`, then the engine against a real InfluxDB where the
collector's `ingest_stats` counter says whether points are being written.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.alerts import rules
from api.alerts.engine import AlertEngine, Evaluator
from api.alerts.lifecycle import Policy
from api.alerts.projection import HistoryProjection
from api.alerts.repo import AlertRepo
from api.db import connect
from api.fuel.rules import StepRules
from api.fuel.service import FuelCore
from api.settings import AlertRules, KpiDefinition
from ingest.kernel.registry import Registry, parse_registry
from ingest.kernel.store import InfluxStore, encode_point
from ingest.metrics import STATS_MEASUREMENT
from tests.builders import RegistryBuilder, register_lines

T = datetime(2026, 3, 2, 10, 7, tzinfo=UTC)
R = AlertRules()
POLICY = Policy(raise_after=2, hold_off=timedelta(minutes=10), reopen_window=timedelta(hours=1))
KPI = KpiDefinition(window_days=1)


@pytest.mark.parametrize(
    ("silent_meters", "meters", "flowing", "lag_min", "state"),
    [
        (0, 100, False, 0, "normal"),
        (4, 4, False, 0, "normal"),  # fewer than stall_min_meters (5): per-meter alerts
        (49, 100, False, 0, "normal"),  # under half
        (49, 100, True, 2, "normal"),  # data flowing and fresh: these meters are silent
        (50, 100, False, 0, "stalled"),
        (50, 100, True, 0, "loading"),  # a backfill writes old data: meters look silent
        (120, 145, True, 600, "loading"),
        (32, 155, True, 43, "loading"),  # a catch-up: few behind, but even the newest lags
        (32, 155, False, 43, "normal"),  # nothing written, under half silent: per meter
        (0, 155, True, 43, "normal"),
        (5, 8, False, 0, "stalled"),
        (0, 0, False, 0, "normal"),
    ],
)
def test_ingest_state(
    silent_meters: int, meters: int, flowing: bool, lag_min: int, state: str
) -> None:
    through = T - timedelta(minutes=lag_min)
    found = rules.ingest_state(silent_meters, meters, flowing, through, R, T)
    assert found.state == state
    assert found.quiet_offline == (state != "normal")
    stalled = rules.ingest_stalled(found)
    assert [c.key.kind for c in stalled] == (["ingest_stalled"] if state == "stalled" else [])
    if stalled:
        assert (stalled[0].value, stalled[0].limit, stalled[0].since) == (
            silent_meters,
            meters,
            through,
        )


PLANTS = [f"ss-{i:03d}" for i in range(1, 5)]  # 4 firms, 8 fuel meters


@pytest.fixture
def registry() -> Registry:
    builder = RegistryBuilder()
    for plant in PLANTS:
        builder.plant(plant)
    return parse_registry(tomllib.loads(builder.toml()))


def fill(store: InfluxStore, until: datetime, plants: list[str]) -> None:
    """Fuel registers every 15 min for 6 h up to `until`."""
    start = until - timedelta(hours=6)
    lines = []
    for plant in plants:
        for kind, meter in (("gas", "gas-1"), ("coal", "coal-1")):
            values = [100.0 + 10 * i for i in range(25)]
            lines += register_lines(kind, plant, meter, start, timedelta(minutes=15), values)
    store.write_lines(lines)


def stats(store: InfluxStore, at: datetime, written: list[float]) -> None:
    """`ingest_stats` points of one collector, 10 s apart, ending at `at`."""
    store.write_lines(
        [
            encode_point(
                STATS_MEASUREMENT,
                {"collector": "collector-1"},
                {"points_written": w},
                at - timedelta(seconds=10 * (len(written) - 1 - i)),
            )
            for i, w in enumerate(written)
        ]
    )


def engine(
    store: InfluxStore, registry: Registry, tmp_path: Path, now: list[datetime]
) -> AlertEngine:
    core = FuelCore(
        store,
        "Asia/Shanghai",
        StepRules({"gas": 20_000.0, "coal": 50_000.0}, timedelta(hours=24)),
        KPI,
        registry.gas_share_goal,
    )
    evaluator = Evaluator(store, registry, R, core, HistoryProjection(core, registry))
    return AlertEngine(
        AlertRepo(connect(f"sqlite:///{tmp_path}/alerts.db")),
        evaluator,
        POLICY,
        holder="a",
        interval_seconds=1,
        kpi_interval_seconds=0,
        lease_seconds=60,
        clock=lambda: now[0],
    )


def kinds(e: AlertEngine) -> list[tuple[str, str, str]]:
    """Active alerts about silence (the fuel KPI kinds are beside the point here)."""
    return sorted(
        (a.key.kind, a.key.plant, a.key.meter)
        for a in e.repo.find(status="active")
        if a.key.kind in ("meter_offline", "ingest_stalled")
    )


@pytest.mark.integration
def test_everything_silent_and_nothing_written_is_one_stall(
    store: InfluxStore, registry: Registry, tmp_path: Path
) -> None:
    fill(store, T - timedelta(hours=2), PLANTS)  # every meter silent for 2 h
    now = [T]
    e = engine(store, registry, tmp_path, now)
    e.tick()
    now[0] += timedelta(seconds=30)
    e.tick()
    assert kinds(e) == [("ingest_stalled", "_county", "")]
    (stall,) = e.repo.find(status="active")
    assert (stall.value, stall.limit, stall.unit) == (8.0, 8.0, "meters")
    assert stall.since == T - timedelta(hours=2)


@pytest.mark.integration
def test_a_backfill_loading_raises_nothing(
    store: InfluxStore, registry: Registry, tmp_path: Path
) -> None:
    fill(store, T - timedelta(hours=2), PLANTS)
    stats(store, T, [1000.0, 5000.0, 9000.0])  # the collector is writing (old) points
    now = [T]
    e = engine(store, registry, tmp_path, now)
    for _ in range(3):
        e.tick()
        now[0] += timedelta(seconds=30)
    assert kinds(e) == []
    assert e.evaluator.state.state == "loading"


@pytest.mark.integration
def test_one_silent_meter_among_reporting_ones_is_its_own_alert(
    store: InfluxStore, registry: Registry, tmp_path: Path
) -> None:
    fill(store, T, PLANTS[1:])
    fill(store, T - timedelta(hours=2), PLANTS[:1])  # ss-001's two meters silent: 2 of 8
    now = [T]
    e = engine(store, registry, tmp_path, now)
    e.tick()
    now[0] += timedelta(seconds=30)
    e.tick()
    assert kinds(e) == [
        ("meter_offline", "ss-001", "coal-1"),
        ("meter_offline", "ss-001", "gas-1"),
    ]
    offline = e.repo.find(status="active", kind="meter_offline")[0]
    assert offline.unit == "min" and offline.since == T - timedelta(hours=2)
    assert offline.details == {"meter_kind": offline.key.meter.split("-")[0]}
