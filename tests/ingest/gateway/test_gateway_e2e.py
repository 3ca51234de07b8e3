"""The gateway as a user runs it: real Mosquitto, collector, InfluxDB and TCP loggers."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from ingest.client import Inbound, MqttClient
from ingest.kernel.store import InfluxStore
from scripts.devstack import Server, mosquitto_server
from tests.ingest.gateway.helpers import (
    MN,
    OTHER_MN,
    Logger,
    count,
    gateway_env,
    now_utc,
    packet,
    registry,
    start,
)
from tests.ingest.gateway.packets import HOUR_2061
from tests.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_packets_split_glued_and_resent_are_answered_after_storing_once(
    tmp_path: Path, mosquitto: Server, influx_url: str, store: InfluxStore, spawn
) -> None:
    env = gateway_env(registry(tmp_path / "r.toml"), mosquitto.port, influx_url, store.database)
    _, gateway, port = start(spawn, env)
    rejected: list[dict] = []
    got = threading.Event()

    def on_message(message: Inbound) -> None:
        rejected.append(json.loads(message.payload))
        got.set()

    watcher = MqttClient(
        "test-rejected", "127.0.0.1", mosquitto.port,
        on_message=on_message, subscriptions=[("plantwatch/plants/+/rejected", 1)],
    )  # fmt: skip
    watcher.start()
    logger = Logger(port)
    try:
        t0 = now_utc() - timedelta(minutes=10)
        first = packet(t0, qn="20260301080000001")
        logger.send(b"junk\r\n" + first, pieces=7, pause_s=0.02)  # one packet, many reads
        assert logger.wait_answer("20260301080000001"), gateway.log()
        assert wait_until(lambda: count(store) == 1, 30)
        # two glued in one write, the second without CRLF
        second = packet(t0 + timedelta(minutes=1), qn="20260301080100001")
        third = packet(t0 + timedelta(minutes=2), qn="20260301080200001")
        logger.send(second + third.rstrip(b"\r\n"))
        assert logger.wait_answer("20260301080200001")
        assert logger.wait_answer("20260301080100001")
        # the answer was lost: the logger resends; still one point per reading
        logger.send(first)
        assert wait_until(
            lambda: logger.poll() and logger.answers().count("20260301080000001") == 2
        )
        assert wait_until(lambda: count(store) == 3, 30)
        # Flag=4 asks for no answer; wrong PW and unknown MN are refused, unanswered.
        logger.send(packet(t0 + timedelta(minutes=3), qn="20260301080300001", flag="4"))
        logger.send(packet(t0 + timedelta(minutes=4), qn="20260301080400001", pw="wrong"))
        logger.send(packet(t0 + timedelta(minutes=5), qn="20260301080500001", mn="NOPE"))
        marker = packet(t0 + timedelta(minutes=6), qn="20260301080600001")
        logger.send(marker)  # answered after the others were handled, on the same connection
        assert logger.wait_answer("20260301080600001")
        assert set(logger.answers()) == {
            "20260301080000001", "20260301080100001", "20260301080200001", "20260301080600001",
        }  # fmt: skip
        assert wait_until(lambda: count(store) == 5, 30)  # +Flag=4 and marker, not the refused
        assert got.wait(30) and rejected[0]["code"] == "wrong_password"

        def dead_codes() -> set[str]:
            series = store.query("SELECT count(reason) FROM dead_letter GROUP BY code")
            return {s.tags["code"] for s in series}

        assert wait_until(lambda: dead_codes() >= {"wrong_password", "unknown_source"}, 30)
    finally:
        logger.close()
        watcher.stop()


def test_no_answer_while_the_broker_is_down_then_an_answer_once_it_is_back(
    tmp_path: Path, influx_url: str, store: InfluxStore, spawn
) -> None:
    broker = mosquitto_server(tmp_path / "mosquitto").start()
    try:
        env = gateway_env(registry(tmp_path / "r.toml"), broker.port, influx_url, store.database)
        _, gateway, port = start(spawn, env)
        logger = Logger(port)
        data = packet(now_utc() - timedelta(minutes=1), qn="20260301090000001")
        logger.send(data)
        assert logger.wait_answer("20260301090000001")
        broker.stop()
        late = packet(now_utc(), qn="20260301090100001")
        logger.send(late)
        assert not logger.wait_answer("20260301090100001", timeout=3)
        broker.start()

        def resend_until_answered() -> bool:
            logger.send(late)  # what a logger does when no answer comes
            return logger.wait_answer("20260301090100001", timeout=1)

        assert wait_until(resend_until_answered, 60, interval=0.5), gateway.log()
        assert wait_until(lambda: count(store) == 2, 60)
        logger.close()
    finally:
        broker.stop()


def test_real_field_packet_of_an_unregistered_logger_is_refused(
    tmp_path: Path, mosquitto: Server, influx_url: str, store: InfluxStore, spawn
) -> None:
    env = gateway_env(registry(tmp_path / "r.toml"), mosquitto.port, influx_url, store.database)
    _, _, port = start(spawn, env)
    logger = Logger(port)
    logger.send(HOUR_2061 + b"\r\n")
    marker = packet(now_utc(), qn="20260301100000001", mn=OTHER_MN, pw="any")  # no PW set
    logger.send(marker)
    assert logger.wait_answer("20260301100000001")
    assert logger.answers() == ["20260301100000001"]
    assert MN not in HOUR_2061.decode()
    logger.close()
