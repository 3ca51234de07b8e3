"""The gateway behind a stalled broker: each packet published once, answered late, logged once.

A private Mosquitto is stopped (SIGSTOP) while simulated loggers send and resend every
0.2 s, past the gateway's answer timeout; then it goes on (SIGCONT). `make run` after its
back-fill: every resend after a timeout was published again, the copies queued behind each
other in the one connection to the slow broker, each came back too late, and 974 packets
became 26,041 "no PUBACK in time" warnings in 20 minutes, none answered.
"""

from __future__ import annotations

import logging
import os
import signal
from datetime import timedelta
from pathlib import Path

import pytest

from ingest.gateway.server import Gateway
from scripts.devstack import mosquitto_server
from simulators.tcp_logger import TcpLoggers
from tests.ingest.gateway.helpers import MN, OTHER_MN, PW, now_utc, packet, run_gateway, until

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
        counts = {k: gateway.tally.get(k) for k in ("published", "answers", "answer_timeouts")}
        assert counts == {"published": sent, "answers": sent, "answer_timeouts": sent}
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
