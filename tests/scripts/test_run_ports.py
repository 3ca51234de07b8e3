"""`make run` checks every port it will listen on and names the variable that moves it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from scripts.run import PortUse, RunSettings, port_refusal, ports_used, simulator_args


def test_every_port_is_listed_with_its_variable() -> None:
    run = RunSettings(var_dir=Path("/srv/var"))
    assert [(u.port, u.variable) for u in ports_used(run)] == [
        (18086, "PLANTWATCH_RUN_INFLUX_PORT"),
        (18088, "PLANTWATCH_RUN_INFLUX_RPC_PORT"),
        (11883, "PLANTWATCH_RUN_MQTT_PORT"),
        (8000, "PLANTWATCH_API_PORT"),
        (9108, "PLANTWATCH_RUN_METRICS_PORT"),
        (9212, "PLANTWATCH_HJ212_PORT"),
    ]
    with_tls = ports_used(RunSettings(tls=True, mqtt_tls_port=18883))
    assert with_tls[-1] == PortUse("MQTT over TLS", 18883, "PLANTWATCH_RUN_MQTT_TLS_PORT")


def test_settings_come_from_the_variables_the_readme_names(monkeypatch) -> None:
    monkeypatch.setenv("PLANTWATCH_HJ212_PORT", "29212")
    monkeypatch.setenv("PLANTWATCH_RUN_VAR", "/data/plantwatch")
    monkeypatch.setenv("PLANTWATCH_RUN_SIMULATOR", "off")
    run = RunSettings()
    assert (run.hj212_port, run.var_dir, simulator_args(run)) == (
        29212,
        Path("/data/plantwatch"),
        None,
    )


def test_a_taken_port_names_what_moves_it() -> None:
    use = PortUse("HJ 212 gateway", 9212, "PLANTWATCH_HJ212_PORT")
    assert port_refusal(use) == (
        "error: port 9212 for HJ 212 gateway is taken; stop what uses it "
        "or set PLANTWATCH_HJ212_PORT to a free port"
    )


def test_the_simulated_county_backfills_then_plays_live() -> None:
    run = RunSettings(var_dir=Path("/v"), backfill_days=2, speed=1)
    assert simulator_args(run) == [
        "-m", "simulators", "live", "--speed", "1", "--backfill-days", "2",
        "--control", "/v/sim-control", "--voc-transport", "tcp",
        "--pace-metrics", "http://127.0.0.1:9108/metrics",
    ]  # fmt: skip


def test_a_backfill_only_county_publishes_whole_days_before_today() -> None:
    run = RunSettings(simulator="backfill", backfill_days=2)
    assert simulator_args(run, date(2026, 12, 1)) == [
        "-m", "simulators", "history", "--start", "2026-11-29", "--end", "2026-11-30",
        "--no-progress", "--voc-transport", "tcp",
        "--pace-metrics", "http://127.0.0.1:9108/metrics",
    ]  # fmt: skip
