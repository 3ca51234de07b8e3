"""`MqttClient.stop` ends within its timeout even when the broker reads nothing.

paho writes its DISCONNECT after everything queued before it and `loop_stop` waited for
that: at `make run` a gateway holding publishes for a broker busy rewriting its store did
not stop in time and was killed. Here the broker is stopped (SIGSTOP) with more queued
than the sockets' buffers take.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest

from ingest.client import MqttClient
from scripts.devstack import mosquitto_server
from scripts.run import STOP_TIMEOUT_SECONDS

pytestmark = [pytest.mark.integration]

PAYLOAD_BYTES = 64 * 1024
QUEUED_BYTES = 32 << 20  # more than loopback's socket buffers (tcp_wmem 4 MB, rmem 32 MB)
STOP_SECONDS = 1.0


def test_stop_returns_in_time_behind_a_broker_that_reads_nothing(tmp_path: Path) -> None:
    broker = mosquitto_server(tmp_path / "mosquitto", durable_acks=False).start()
    assert broker.process is not None
    pid = broker.process.pid
    client = MqttClient(f"stop-{uuid.uuid4().hex[:8]}", "127.0.0.1", broker.port, max_inflight=0)
    client.start()
    stopped_broker = False
    try:
        os.kill(pid, signal.SIGSTOP)
        stopped_broker = True
        payload = b"x" * PAYLOAD_BYTES
        for i in range(QUEUED_BYTES // PAYLOAD_BYTES):
            client.publish(f"t/{i}", payload)
        assert client.published_count == 0  # nothing got through: the broker is stopped
        stopper = threading.Thread(target=client.stop, args=(STOP_SECONDS,), daemon=True)
        began = time.monotonic()
        stopper.start()
        stopper.join(STOP_TIMEOUT_SECONDS)
        took = time.monotonic() - began
        assert not stopper.is_alive(), "stop() still waiting for the broker"
        assert STOP_SECONDS <= took < STOP_TIMEOUT_SECONDS / 2
        assert not client.connected
    finally:
        if stopped_broker:
            os.kill(pid, signal.SIGCONT)
        broker.stop()


def test_stop_is_prompt_with_a_broker_that_reads(tmp_path: Path) -> None:
    broker = mosquitto_server(tmp_path / "mosquitto", durable_acks=False).start()
    client = MqttClient(f"stop-{uuid.uuid4().hex[:8]}", "127.0.0.1", broker.port)
    client.start()
    try:
        client.publish("t/1", b"x")
        assert client.wait_published(1, 10)
        began = time.monotonic()
        client.stop(STOP_SECONDS)
        assert time.monotonic() - began < STOP_SECONDS  # the DISCONNECT went: no wait
    finally:
        broker.stop()
