"""The gateway behind a stalled broker: each packet published once, answered late, logged once.

A private Mosquitto is stopped (SIGSTOP) while simulated loggers send and resend every
0.2 s, past the gateway's answer timeout; then it goes on (SIGCONT). `make run` after its
back-fill: every resend after a timeout was published again, the copies queued behind each
other in the one connection to the slow broker, each came back too late, and 974 packets
became 26,041 "no PUBACK in time" warnings in 20 minutes, none answered.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from ingest.gateway.server import Gateway
from ingest.kernel.store import InfluxStore
from scripts.devstack import Server, free_port, mosquitto_server
from scripts.run import STOP_TIMEOUT_SECONDS
from simulators.tcp_logger import TcpLoggers
from tests.ingest.gateway.helpers import (
    MN,
    OTHER_MN,
    PW,
    answered,
    closed,
    gateway_env,
    now_utc,
    packet,
    registry,
    run_gateway,
    start,
    until,
)
from tests.support import http_get, wait_until

pytestmark = [pytest.mark.integration]

PACKETS_PER_LOGGER = 20
RESEND_SECONDS = 0.2
ANSWER_TIMEOUT_SECONDS = 0.5
RESENDS_WHILE_STOPPED = 5  # per packet: several answer timeouts' worth


def test_a_stalled_broker_gets_each_packet_once_however_often_loggers_resend(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = mosquitto_server(tmp_path / "mosquitto", durable_acks=False).start()
    assert broker.process is not None
    pid = broker.process.pid
    sent = 2 * PACKETS_PER_LOGGER
    caplog.set_level(logging.WARNING, logger="ingest.gateway.stats")

    async def scenario(port: int, gateway: Gateway) -> None:
        loggers = TcpLoggers(
            "127.0.0.1", port, {MN: PW, OTHER_MN: "123456"}, resend_seconds=RESEND_SECONDS
        ).start()
        try:
            await until(lambda: all(one.connected.is_set() for one in loggers.loggers.values()))
            t0 = now_utc() - timedelta(hours=2)
            os.kill(pid, signal.SIGSTOP)
            try:
                for i in range(PACKETS_PER_LOGGER):
                    for mn in (MN, OTHER_MN):
                        payload = packet(t0 + timedelta(minutes=i), mn=mn, qn="1")
                        loggers.publish("", "x/hj212", payload)
                await until(
                    lambda: (
                        gateway.tally.get("answer_timeouts") >= sent
                        and loggers.latencies.resent >= RESENDS_WHILE_STOPPED * sent
                    )
                )
                assert gateway.tally.get("answers") == 0  # nothing before the broker has it
            finally:
                os.kill(pid, signal.SIGCONT)
            await until(lambda: loggers.latencies.answered == sent)
            assert loggers.unanswered() == 0
        finally:
            loggers.stop()
        # The broker got each packet once: every resend joined the publish in flight.
        assert gateway.mqtt.published_count == sent
        again = gateway.tally.get("resends_answered")  # resends that crossed their answer
        counts = {k: gateway.tally.get(k) for k in ("published", "answers", "answer_timeouts")}
        assert counts == {"published": sent, "answers": sent + again, "answer_timeouts": sent}
        assert gateway.tally.get("resends_joined") >= (RESENDS_WHILE_STOPPED - 1) * sent
        assert gateway.metrics()["pending_answers"] == 0

    try:
        run_gateway(
            tmp_path, broker.port, scenario, hj212_answer_timeout_seconds=ANSWER_TIMEOUT_SECONDS
        )
    finally:
        broker.stop()
    # Quiet logs: the first late PUBACK at once, the rest in one summary (at stop, here).
    late = [vars(r) for r in caplog.records if r.name == "ingest.gateway.stats"]
    assert 1 <= len(late) <= 2, late
    assert sum(r["count"] for r in late) == sent
    assert all(1 <= r["peers"] <= 2 and r["top_peers"] for r in late)


MAX_PENDING = 5
PACKETS_PER_SLICE = 3  # a 512-byte slice of the read (FEED_SLICE_BYTES) holds up to 3 packets


def test_a_connection_at_its_bound_of_unacked_packets_is_not_read_until_the_broker_acks(
    tmp_path: Path,
) -> None:
    broker = mosquitto_server(tmp_path / "mosquitto", durable_acks=False).start()
    assert broker.process is not None
    pid = broker.process.pid

    async def scenario(port: int, gateway: Gateway) -> None:
        loggers = TcpLoggers("127.0.0.1", port, {MN: PW}, resend_seconds=RESEND_SECONDS).start()
        try:
            await until(lambda: all(one.connected.is_set() for one in loggers.loggers.values()))
            t0 = now_utc() - timedelta(hours=2)
            os.kill(pid, signal.SIGSTOP)
            try:
                for i in range(PACKETS_PER_LOGGER):
                    loggers.publish("", "x/hj212", packet(t0 + timedelta(minutes=i), qn="1"))
                # The logger sent all and resends them; the gateway took only its bound.
                await until(
                    lambda: (
                        gateway.tally.get("reads_paused") >= 1
                        and loggers.latencies.resent >= RESENDS_WHILE_STOPPED * PACKETS_PER_LOGGER
                    )
                )
                assert MAX_PENDING <= gateway.pending <= MAX_PENDING + PACKETS_PER_SLICE
                assert gateway.tally.get("packets") <= MAX_PENDING + PACKETS_PER_SLICE
                assert gateway.tally.get("resends_joined") == 0  # resends wait in TCP
            finally:
                os.kill(pid, signal.SIGCONT)
            await until(lambda: loggers.latencies.answered == PACKETS_PER_LOGGER)
        finally:
            loggers.stop()
        assert gateway.mqtt.published_count == PACKETS_PER_LOGGER
        again = gateway.tally.get("resends_answered")
        assert gateway.tally.get("answers") == PACKETS_PER_LOGGER + again

    try:
        run_gateway(
            tmp_path, broker.port, scenario,
            hj212_answer_timeout_seconds=ANSWER_TIMEOUT_SECONDS,
            hj212_max_pending_per_connection=MAX_PENDING,
        )  # fmt: skip
    finally:
        broker.stop()


def test_a_connection_not_read_for_the_idle_timeout_while_the_broker_stalls_is_closed(
    tmp_path: Path,
) -> None:
    broker = mosquitto_server(tmp_path / "mosquitto", durable_acks=False).start()
    assert broker.process is not None
    pid = broker.process.pid
    t = now_utc() - timedelta(hours=1)

    async def scenario(port: int, gateway: Gateway) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        os.kill(pid, signal.SIGSTOP)
        try:
            writer.write(packet(t, qn="20260301080000001") + packet(t, qn="20260301080000002"))
            assert await closed(reader)  # paused at its bound of 1, then closed
        finally:
            os.kill(pid, signal.SIGCONT)
        assert gateway.tally.get("closed_stalled") == 1
        await until(lambda: gateway.pending == 0)  # the publish in flight still completes

    try:
        run_gateway(
            tmp_path, broker.port, scenario,
            hj212_max_pending_per_connection=1, hj212_idle_timeout_seconds=1.0,
        )  # fmt: skip
    finally:
        broker.stop()


def test_a_resend_that_crossed_its_answer_is_answered_again_not_published_again(
    tmp_path: Path, mosquitto: Server
) -> None:
    raw = packet(now_utc() - timedelta(hours=1), qn="20260301080000001", flag="5")

    async def scenario(port: int, gateway: Gateway) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(2):  # the logger resent it before the first answer reached it
                writer.write(raw)
                assert await answered(reader, "20260301080000001")
        finally:
            writer.close()
        assert gateway.mqtt.published_count == 1
        assert gateway.tally.get("resends_answered") == 1
        assert gateway.tally.get("answers") == 2

    run_gateway(tmp_path, mosquitto.port, scenario)


def gauge(port: int, name: str) -> float:
    """One of the gateway's figures from its `/metrics` page (-1 if not served yet)."""
    try:
        text = http_get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return -1.0
    for line in text.splitlines():
        if line.startswith(f"plantwatch_hj212_{name}"):
            return float(line.rsplit(" ", 1)[1])
    return -1.0


def test_ctrl_c_stops_gateway_and_collector_in_time_with_packets_pending(
    tmp_path: Path, influx_url: str, store: InfluxStore, spawn
) -> None:
    """`make run`'s Ctrl-C behind a stalled broker: each process ends within its budget."""
    broker = mosquitto_server(tmp_path / "mosquitto", durable_acks=False).start()
    assert broker.process is not None
    pid = broker.process.pid
    metrics_port = free_port()
    env = gateway_env(
        registry(tmp_path / "r.toml"), broker.port, influx_url, store.database,
        PLANTWATCH_HJ212_METRICS_PORT=str(metrics_port),
    )  # fmt: skip
    collector, gateway, port = start(spawn, env)
    loggers = TcpLoggers("127.0.0.1", port, {MN: PW, OTHER_MN: "123456"}).start()
    stopped_broker = False
    try:
        assert wait_until(lambda: gauge(metrics_port, "connections_open") == 2), gateway.log()
        os.kill(pid, signal.SIGSTOP)
        stopped_broker = True
        t0 = now_utc() - timedelta(hours=2)
        for i in range(PACKETS_PER_LOGGER):
            for mn in (MN, OTHER_MN):
                loggers.publish("", "x/hj212", packet(t0 + timedelta(minutes=i), mn=mn, qn="1"))
        assert wait_until(lambda: gauge(metrics_port, "pending_answers") == sent_all()), (
            gateway.log()
        )
        for process in (gateway, collector):  # make run's order: the collector last
            assert process.proc is not None
            began = time.monotonic()
            process.proc.terminate()
            process.proc.wait(STOP_TIMEOUT_SECONDS)  # TimeoutExpired: it would be killed
            assert time.monotonic() - began < STOP_TIMEOUT_SECONDS
    finally:
        loggers.stop()
        if stopped_broker:
            os.kill(pid, signal.SIGCONT)
        broker.stop()


def sent_all() -> int:
    return 2 * PACKETS_PER_LOGGER
