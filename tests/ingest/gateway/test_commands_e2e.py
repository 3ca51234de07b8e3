"""Commands with a real gateway, collector, InfluxDB, SQL log and simulated loggers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ingest.gateway import audit, lastseen
from ingest.kernel.store import InfluxStore
from ingest.sql import open_engine
from scripts.devstack import Server
from simulators.tcp_logger import TcpLoggers
from tests.ingest.gateway.helpers import (
    MN,
    OTHER_MN,
    PW,
    count,
    gateway_env,
    local_text,
    now_utc,
    packet,
    registry,
    wait_listening,
    wait_subscribed,
)
from tests.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
MINUTE = timedelta(minutes=1)


def test_a_three_hour_gap_is_backfilled_and_a_drifting_clock_is_set(
    tmp_path: Path, mosquitto: Server, influx_url: str, store: InfluxStore, spawn
) -> None:
    db_url = f"sqlite:///{tmp_path}/commands.db"
    env = gateway_env(
        registry(tmp_path / "r.toml"), mosquitto.port, influx_url, store.database,
        PLANTWATCH_DATABASE_URL=db_url, PLANTWATCH_HJ212_CLOCK_DRIFT_THRESHOLD_SECONDS="60",
        PLANTWATCH_HJ212_COMMAND_TIMEOUT_SECONDS="20",
    )  # fmt: skip
    collector = spawn(["ingest"], env, "collector")
    gateway = spawn(["ingest", "hj212-gateway"], env, "gateway")
    port = int(env["PLANTWATCH_HJ212_PORT"])
    wait_listening(gateway, port)
    wait_subscribed(collector)
    loggers = TcpLoggers(
        "127.0.0.1", port, {MN: PW, OTHER_MN: "123456"}, resend_seconds=2.0,
        clock_offsets={OTHER_MN: 300.0},
    ).start()  # fmt: skip
    logger = loggers.loggers[MN]
    engine = open_engine(db_url, audit.METADATA)
    try:
        t0 = now_utc().replace(second=0) - timedelta(hours=4)
        loggers.publish("", "x/hj212", packet(t0, cn="2051"))
        assert wait_until(lambda: loggers.unanswered() == 0, 60)  # seen before what follows
        for minute in range(1, 181):  # recorded during a 3-hour outage, never sent
            raw = packet(t0 + timedelta(minutes=minute), cn="2051", nmhc=minute)
            loggers.call(lambda raw=raw: logger.remember(raw))
        loggers.publish("", "x/hj212", packet(t0 + timedelta(minutes=181), cn="2051"))
        loggers.publish("", "x/hj212", packet(t0, mn=OTHER_MN, cn="2051"))
        landed = wait_until(lambda: count(store, "voc_minute") == 183, 180)
        assert landed, (count(store, "voc_minute"), audit.stack_log(engine, "sl-001", "stack-1"))

        def done(plant: str, cn: str) -> list[dict]:
            rows = audit.stack_log(engine, plant, "stack-1")
            return [r for r in rows if r["cn"] == cn and r["status"] == "done"]

        assert wait_until(lambda: done("sl-001", "2051"), 60)
        fill = done("sl-001", "2051")[0]
        assert fill["reason"].startswith("gap in CN 2051")
        assert [p["cn"] for p in fill["packets"]] == ["2051", "9011", "9012"]  # out, in, in
        assert fill["result"]["ExeRtn"] == "1"
        # the drifting logger was asked its time, flagged, and set
        assert wait_until(lambda: done("sl-002", "1012"), 60), gateway.log()
        check = done("sl-002", "1011")[0]
        assert 290 < check["result"]["drift_seconds"] < 310
        series = store.query(
            "SELECT drift_seconds FROM hj212_event WHERE kind = 'logger_clock_drift'"
        )
        assert series and series[0].values[0][1] > 290
        assert abs(loggers.loggers[OTHER_MN].clock_offset_seconds) < 5
        # the punctual logger was asked too, and nothing was raised about it
        assert abs(done("sl-001", "1011")[0]["result"]["drift_seconds"]) < 5
    finally:
        loggers.stop()
        engine.dispose()


def test_a_gap_spanning_a_gateway_restart_is_backfilled(
    tmp_path: Path, mosquitto: Server, influx_url: str, store: InfluxStore, spawn
) -> None:
    db_url = f"sqlite:///{tmp_path}/commands.db"
    env = gateway_env(
        registry(tmp_path / "r.toml"), mosquitto.port, influx_url, store.database,
        PLANTWATCH_DATABASE_URL=db_url, PLANTWATCH_HJ212_COMMAND_TIMEOUT_SECONDS="20",
    )  # fmt: skip
    collector = spawn(["ingest"], env, "collector")
    gateway = spawn(["ingest", "hj212-gateway"], env, "gateway")
    port = int(env["PLANTWATCH_HJ212_PORT"])
    wait_listening(gateway, port)
    wait_subscribed(collector)
    # a field logger: it retries an unanswered packet for a while, then keeps it only in
    # its history
    loggers = TcpLoggers(
        "127.0.0.1", port, {MN: PW}, resend_seconds=1.0, give_up_seconds=4.0
    ).start()
    logger = loggers.loggers[MN]
    engine = open_engine(db_url, audit.METADATA, lastseen.METADATA)
    t0 = now_utc().replace(second=0) - timedelta(hours=2)
    try:
        loggers.publish("", "x/hj212", packet(t0, cn="2051"))
        assert wait_until(lambda: loggers.unanswered() == 0, 60)
        assert wait_until(lambda: lastseen.load(engine).get((MN, "2051")) == t0, 30)
        gateway.kill()
        for minute in range(1, 31):  # recorded while the gateway is down; never answered
            loggers.publish("", "x/hj212", packet(t0 + timedelta(minutes=minute), cn="2051"))
        assert wait_until(lambda: len(logger.buffer) == 31, 30)  # submitted, unanswered
        assert wait_until(lambda: loggers.unanswered() == 0, 60)  # given up: history only
        gateway.start()
        wait_listening(gateway, port)
        assert wait_until(logger.connected.is_set, 60)
        loggers.publish("", "x/hj212", packet(t0 + timedelta(minutes=31), cn="2051"))
        landed = wait_until(lambda: count(store, "voc_minute") == 32, 120)
        fills = [
            r
            for r in audit.stack_log(engine, "sl-001", "stack-1")
            if r["cn"] == "2051" and r["reason"].startswith("gap")
        ]
        assert landed, (count(store, "voc_minute"), fills, gateway.log())
        assert [f["params"] for f in fills] == [
            {"BeginTime": local_text(t0 + MINUTE), "EndTime": local_text(t0 + 30 * MINUTE)}
        ]
        assert wait_until(lambda: lastseen.load(engine).get((MN, "2051")) == t0 + 31 * MINUTE, 30)
    finally:
        loggers.stop()
        engine.dispose()
