"""Store-and-forward: an upstream down for a while (and a gateway SIGKILL) still gets
every packet once, in order."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from ingest.kernel import hj212
from ingest.kernel.store import InfluxStore
from scripts.devstack import Server, free_port
from simulators.tcp_logger import TcpLoggers
from tests.ingest.gateway.helpers import (
    MN,
    OTHER_MN,
    PW,
    Logger,
    gateway_env,
    now_utc,
    packet,
    registry,
    wait_listening,
)
from tests.ingest.gateway.upstream import Upstream
from tests.support import wait_until

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


def test_a_restart_sends_nothing_twice_the_upstream_answered_and_the_rest_once(
    tmp_path: Path, mosquitto: Server, influx_url: str, store: InfluxStore, spawn
) -> None:
    upstream = Upstream(free_port()).start()
    queue_dir = tmp_path / "forward" / f"127.0.0.1_{upstream.port}"
    env = gateway_env(
        registry(tmp_path / "r.toml"), mosquitto.port, influx_url, store.database,
        PLANTWATCH_HJ212_FORWARD=f"127.0.0.1:{upstream.port}",
        PLANTWATCH_HJ212_FORWARD_DIR=str(tmp_path / "forward"),
        PLANTWATCH_HJ212_COMMANDS_ENABLED="false",
    )  # fmt: skip
    gateway = spawn(["ingest", "hj212-gateway"], env, "gateway")
    port = int(env["PLANTWATCH_HJ212_PORT"])
    t0 = now_utc() - timedelta(hours=1)
    a, b, c = ([packet(t0 + timedelta(minutes=m), qn=f"{m:03d}") for m in ms] for ms in
               (range(0, 5), range(5, 8), range(8, 10)))  # fmt: skip

    def sent_and_answered(logger: Logger, raws: list[bytes]) -> None:
        for raw in raws:
            logger.send(raw)
            assert logger.wait_answer(hj212.decode_packet(raw).qn), gateway.log()

    def delivered() -> bool:  # the upstream's answers are behind the queue's cursor on disk
        size = (queue_dir / "queue.log").stat().st_size
        return size > 0 and (queue_dir / "cursor").read_text() == str(size)

    def data_times(packets: list[hj212.Packet]) -> list[str | None]:
        return [p.data_time for p in packets]

    wait_listening(gateway, port)
    logger = Logger(port)
    try:
        sent_and_answered(logger, a)
        assert wait_until(lambda: len(upstream.answered_packets()) == 5, 60), gateway.log()
        assert wait_until(delivered, 30)
        upstream.answering = False  # the next ones reach the upstream, which answers none
        sent_and_answered(logger, b)
        assert wait_until(lambda: len(upstream.packets()) >= 8, 60), gateway.log()
        gateway.kill()
        logger.close()
        gateway.start()
        upstream.answering = True
        wait_listening(gateway, port)
        logger = Logger(port)
        # the logger resends two packets whose 9014 it "lost" in the crash: one the upstream
        # answered, one it did not; then goes on
        sent_and_answered(logger, [a[-1], b[-1], *c])
        want = data_times([hj212.decode_packet(raw) for raw in a + b + c])
        assert wait_until(lambda: len(upstream.answered_packets()) >= len(want), 60), gateway.log()
        assert wait_until(delivered, 30)
        assert data_times(upstream.answered_packets()) == want  # once each, in order
        received = data_times(upstream.packets())
        assert all(received.count(t) == 1 for t in want[:5])  # answered: never sent again
    finally:
        logger.close()
        upstream.stop()
