"""Store-and-forward: an upstream down for a while (and a gateway SIGKILL) still gets
every packet once, in order."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from ingest.store import InfluxStore
from scripts.devstack import Server, free_port
from simulators.tcp_logger import TcpLoggers
from tests.conftest import wait_until
from tests.ingest.gateway.helpers import (
    MN,
    OTHER_MN,
    PW,
    gateway_env,
    now_utc,
    packet,
    registry,
    wait_listening,
)
from tests.ingest.gateway.upstream import Upstream

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
UPSTREAM_DOWN_SECONDS = 3.0  # the "10 minutes", made short


def test_forward_target_down_then_receives_everything_once_in_order(
    tmp_path: Path, mosquitto: Server, influx_url: str, store: InfluxStore, spawn
) -> None:
    upstream_port = free_port()
    env = gateway_env(
        registry(tmp_path / "r.toml"), mosquitto.port, influx_url, store.database,
        PLANTWATCH_HJ212_FORWARD=f"127.0.0.1:{upstream_port}",
        PLANTWATCH_HJ212_FORWARD_DIR=str(tmp_path / "forward"),
        PLANTWATCH_HJ212_COMMANDS_ENABLED="false",
    )  # fmt: skip
    gateway = spawn(["ingest", "hj212-gateway"], env, "gateway")
    port = int(env["PLANTWATCH_HJ212_PORT"])
    wait_listening(gateway, port)
    loggers = TcpLoggers(
        "127.0.0.1", port, {MN: PW, OTHER_MN: "123456"}, resend_seconds=1.0
    ).start()
    upstream = Upstream(upstream_port)
    t0 = now_utc() - timedelta(hours=1)
    expected: dict[str, list[str]] = {MN: [], OTHER_MN: []}

    def send(first: int, last: int) -> None:
        for i in range(first, last):
            for mn in (MN, OTHER_MN):
                raw = packet(t0 + timedelta(minutes=i), mn=mn, qn="1")
                expected[mn].append((t0 + timedelta(minutes=i, hours=8)).strftime("%Y%m%d%H%M%S"))
                loggers.publish("", "x/hj212", raw)

    try:
        began = time.monotonic()
        send(0, 15)
        assert wait_until(lambda: loggers.unanswered() == 0, 60), gateway.log()
        gateway.kill()  # answered packets are on disk, not only in memory
        gateway.start()
        send(15, 20)
        assert wait_until(lambda: loggers.unanswered() == 0, 60), gateway.log()
        time.sleep(max(0.0, UPSTREAM_DOWN_SECONDS - (time.monotonic() - began)))
        assert upstream.packets() == []
        upstream.start()
        assert wait_until(lambda: len(upstream.packets()) >= 40, 60), gateway.log()
        time.sleep(1.0)  # anything extra (a duplicate) would arrive now
        got = upstream.packets()
        assert len(got) == 40
        for mn in (MN, OTHER_MN):
            assert [p.data_time for p in got if p.mn == mn] == expected[mn]
    finally:
        loggers.stop()
        upstream.stop()
