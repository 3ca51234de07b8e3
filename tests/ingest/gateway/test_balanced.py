"""Two gateways behind HAProxy (`make cluster`'s balancer, scripts/balancer.py): one is
killed with SIGKILL while two loggers send, and every packet is stored exactly once.

Real processes: HAProxy, two gateways, a collector, Mosquitto and InfluxDB. The loggers
behave as field loggers do: a packet stays unanswered until its CN 9014 comes back and is
resent after a reconnect; the balancer sends them to the gateway still alive.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from ingest.kernel.store import InfluxStore
from ingest.metrics import read_exposition
from scripts.balancer import Backend, services_balancer
from scripts.devstack import Server, free_port
from tests.ingest.gateway.helpers import (
    MN,
    OTHER_MN,
    Logger,
    count,
    gateway_env,
    now_utc,
    packet,
    registry,
    wait_listening,
    wait_subscribed,
)
from tests.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PACKETS = 60  # per logger
SEND_INTERVAL_SECONDS = 0.1  # a new packet at most this often: the kill comes mid-stream
RESEND_SECONDS = 2.0  # a packet unanswered this long is sent again (field loggers: 5-30 s)
DEADLINE_SECONDS = 90.0


class FieldLogger(threading.Thread):
    """Sends PACKETS minute packets through the balancer; resends until each is answered."""

    def __init__(self, port: int, source: str, mn: str) -> None:
        super().__init__(name=f"logger-{mn}", daemon=True)
        self.port, self.source, self.mn = port, source, mn
        self.t0 = now_utc() - timedelta(hours=3)
        self.answered: set[str] = set()
        self.reconnects = 0
        self.resends = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.error = exc

    def _run(self) -> None:
        packets = {
            f"20260301{k:05d}0001": packet(
                self.t0 + timedelta(minutes=k), qn=f"20260301{k:05d}0001", mn=self.mn, nmhc=10 + k
            )
            for k in range(PACKETS)
        }
        sent_at: dict[str, float] = {}
        logger = Logger(self.port, self.source)
        deadline = time.monotonic() + DEADLINE_SECONDS
        queue = list(packets)
        last_new = 0.0
        while len(self.answered) < PACKETS and time.monotonic() < deadline:
            if queue and time.monotonic() - last_new >= SEND_INTERVAL_SECONDS:
                last_new = time.monotonic()
                qn = queue.pop(0)
                logger.send(packets[qn])
                sent_at[qn] = time.monotonic()
            alive = logger.poll()
            self.answered.update(qn for qn in logger.answers() if qn in packets)
            if not alive:  # the gateway behind the balancer went away: reconnect, resend
                logger.close()
                self.reconnects += 1
                logger = self._reconnect(deadline)
                sent_at = {qn: 0.0 for qn in sent_at}
            for qn, at in sent_at.items():
                if qn not in self.answered and time.monotonic() - at > RESEND_SECONDS:
                    logger.send(packets[qn])
                    sent_at[qn] = time.monotonic()
                    self.resends += 1
        logger.close()

    def _reconnect(self, deadline: float) -> Logger:
        while True:
            try:
                return Logger(self.port, self.source)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # a reconnect back-off, as a logger's


def logger_connections(backend: Backend) -> float:
    """The loggers a gateway holds now (its metrics, where the balancer checks it)."""
    text = httpx.get(f"http://127.0.0.1:{backend.check_port}/metrics", timeout=5).text
    return sum(read_exposition(text, "plantwatch_hj212").get("connections_open", [0.0]))


def test_a_gateway_killed_behind_the_balancer_loses_and_doubles_nothing(
    tmp_path: Path, mosquitto: Server, influx_url: str, store: InfluxStore, spawn
) -> None:
    base = gateway_env(registry(tmp_path / "r.toml"), mosquitto.port, influx_url, store.database)
    collector = spawn(["ingest"], base, "collector")
    backends, gateways = [], []
    for i in (1, 2):
        backend = Backend(free_port(), free_port())
        env = {
            **base,
            "PLANTWATCH_HJ212_GATEWAY_ID": f"{base['PLANTWATCH_HJ212_GATEWAY_ID']}-{i}",
            "PLANTWATCH_HJ212_PORT": str(backend.port),
            "PLANTWATCH_HJ212_METRICS_PORT": str(backend.check_port),
            "PLANTWATCH_HJ212_PROXY_FROM": '["127.0.0.1"]',
            "PLANTWATCH_HJ212_FORWARD_DIR": str(tmp_path / f"forward-{i}"),
        }
        gateway = spawn(["ingest", "hj212-gateway"], env, f"gateway-{i}")
        wait_listening(gateway, backend.port)
        backends.append(backend)
        gateways.append(gateway)
    wait_subscribed(collector)
    port = free_port()
    balancer = services_balancer(tmp_path / "haproxy", "127.0.0.1", port, backends).start()
    try:
        loggers = [FieldLogger(port, "127.0.0.2", MN), FieldLogger(port, "127.0.0.3", OTHER_MN)]
        for logger in loggers:
            logger.start()
        # a third of the packets answered, then the gateway holding the first logger dies
        assert wait_until(lambda: len(loggers[0].answered) >= PACKETS // 3, 60)
        victim = max(range(2), key=lambda i: logger_connections(backends[i]))
        assert logger_connections(backends[victim]) >= 1
        gateways[victim].kill()
        for logger in loggers:
            logger.join(DEADLINE_SECONDS + 10)
            assert logger.error is None, repr(logger.error)
            assert len(logger.answered) == PACKETS, (logger.name, len(logger.answered))
        assert loggers[0].reconnects >= 1  # it did lose its gateway
        # every packet stored once: one point per minute and plant, no more, no fewer
        for plant in ("sl-001", "sl-002"):
            where = f"WHERE plant = '{plant}'"
            assert wait_until(lambda w=where: count(store, where=w) == PACKETS, 30), (
                plant,
                count(store, where=where),
            )
    finally:
        balancer.stop()
