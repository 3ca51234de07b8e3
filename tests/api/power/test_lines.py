"""The lines endpoints and the power service against a real InfluxDB (SPEC 8, 13)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from api.power.service import PowerCore, lines_of
from ingest.kernel.store import InfluxStore
from tests.api.support import ADMIN
from tests.builders import MeterSpec, RegistryBuilder

T0 = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)  # 22:00 in Songyang
MS = int(T0.timestamp() * 1000)
MINUTE = 60_000


def _registry() -> RegistryBuilder:
    return RegistryBuilder().plant(
        "sl-001",
        "synthetic_leather",
        [
            MeterSpec("prod-1", "electricity", {"facility": "production", "line": "line-1", "rated_kw": 10.0}),
            MeterSpec("rto-1", "electricity", {"facility": "treatment", "line": "line-1"}),
        ],
    )  # fmt: skip


def _write(store: InfluxStore) -> None:
    lines = []
    # The RTO's history: 3.5-4 kW while running, idle 0.05 kW, for a week before (learning).
    for minute in range(-7 * 24 * 60, 0, 15):
        kw = 0.05 if (minute // 60) % 24 < 6 else (4.0 if minute % 30 else 3.9)
        lines.append(f"electricity,plant=sl-001,meter=rto-1 power_kw={kw} {MS + minute * MINUTE}")
    # The night: production 5 kW throughout; the RTO off (0.3 kW) from 22:30 to 23:30.
    for minute in range(0, 120):
        ts = MS + minute * MINUTE
        fan = 0.3 if 30 <= minute < 90 else 3.9
        lines.append(
            f"electricity,plant=sl-001,meter=prod-1 energy_kwh={1000 + minute * 5 / 60} {ts}"
        )
        lines.append(f"electricity,plant=sl-001,meter=rto-1 power_kw={fan} {ts}")
    store.write_lines(lines)


def test_rated_power_learned_and_energy_only_power(store: InfluxStore) -> None:
    _write(store)
    registry = _registry().registry()
    core = PowerCore(store)
    (line,) = core.lines(
        lines_of(registry.plants), T0, T0 + timedelta(hours=2), T0 + timedelta(hours=2)
    )
    prod, rto = line.meters
    assert (prod.rated_kw, prod.rated_learned) == (10.0, False)
    assert rto.rated_learned and abs((rto.rated_kw or 0) - 3.95) < 0.06
    # power from the register alone, by the consumption rule: 15 steps of 5/60 kWh = 5 kW
    assert abs(prod.power_kw[1] - 5.0) < 1e-6
    assert line.out_of_sync.tolist() == [False, False, True, True, True, True, False, False]


def test_lines_endpoints(store: InfluxStore, make_client: Callable[..., TestClient]) -> None:
    _write(store)
    client = make_client(_registry().toml())
    params = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=2)).isoformat()}
    answer = client.get("/api/v1/plants/sl-001/lines", params=params, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    (line,) = answer.json()["lines"]
    assert line["line"] == "line-1" and line["production_rated_kw"] == 10.0
    assert line["periods"] == [
        {"start": "2026-03-01T14:30:00+00:00", "end": "2026-03-01T15:30:00+00:00", "minutes": 60.0}
    ]
    assert line["out_of_sync_minutes"] == 60.0
    assert len(line["buckets"]) == 8 and line["buckets"][2]["treatment_kw"] == 0.3
    county = client.get("/api/v1/lines", params=params, headers=ADMIN).json()
    assert [(x["plant"], x["out_of_sync_minutes"], x["buckets"]) for x in county["lines"]] == [
        ("sl-001", 60.0, [])
    ]
    assert client.get("/api/v1/plants/nope/lines", headers=ADMIN).status_code == 404


def test_the_alert_engine_raises_it_for_the_latest_quarter_hour_only(store: InfluxStore) -> None:
    from api.alerts.engine import Evaluator
    from api.alerts.projection import HistoryProjection
    from api.fuel.rules import StepRules
    from api.fuel.service import FuelCore
    from api.settings import AlertRules, KpiDefinition

    _write(store)
    registry = _registry().registry()
    steps = StepRules.from_registers({"volume_m3": 2e4, "mass_kg": 5e4}, timedelta(hours=24))
    core = FuelCore(store, "Asia/Shanghai", steps, KpiDefinition(), 0.5)
    evaluator = Evaluator(
        store, registry, AlertRules(stall_min_meters=100), core, HistoryProjection(core, registry)
    )

    def kinds(now: datetime) -> list[tuple[str, str, str]]:
        found, evaluated = evaluator.fast(now)
        assert "treatment_not_running" in evaluated
        return [
            (c.key.kind, c.key.plant, c.key.meter)
            for c in found
            if c.key.kind == "treatment_not_running"
        ]

    assert kinds(T0 + timedelta(minutes=44)) == []  # 22:30-22:45 has not ended
    assert kinds(T0 + timedelta(minutes=46)) == [("treatment_not_running", "sl-001", "line-1")]
    assert kinds(T0 + timedelta(minutes=106)) == []  # the RTO ran 23:30-23:45
    assert kinds(T0 + timedelta(days=3)) == []  # that night, seen later, is no news
