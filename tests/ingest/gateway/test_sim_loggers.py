"""Simulated TCP loggers against a real gateway: resend, reconnect, nothing lost or doubled."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ingest.kernel import hj212
from ingest.kernel.store import InfluxStore
from scripts.devstack import Server
from simulators.tcp_logger import TcpLoggers, relabel
from tests.ingest.gateway.helpers import (
    MN,
    OTHER_MN,
    PW,
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


def test_relabel_keeps_the_data_and_sets_qn_pw_flag() -> None:
    original = packet(now_utc(), qn="1", pw="123456", flag="4")
    raw = relabel(original, qn="20260301080000123", pw="secret")
    decoded = hj212.decode_packet(raw)
    assert (decoded.qn, decoded.header["PW"], decoded.header["Flag"]) == (
        "20260301080000123", "secret", "5",
    )  # fmt: skip
    assert decoded.items == hj212.decode_packet(original).items


def test_loggers_resend_through_a_gateway_sigkill_and_store_each_packet_once(
    tmp_path: Path, mosquitto: Server, influx_url: str, store: InfluxStore, spawn
) -> None:
    env = gateway_env(registry(tmp_path / "r.toml"), mosquitto.port, influx_url, store.database)
    collector = spawn(["ingest"], env, "collector")
    gateway = spawn(["ingest", "hj212-gateway"], env, "gateway")
    port = int(env["PLANTWATCH_HJ212_PORT"])
    wait_listening(gateway, port)
    wait_subscribed(collector)
    loggers = TcpLoggers(
        "127.0.0.1", port, {MN: PW, OTHER_MN: "123456"}, resend_seconds=1.0
    ).start()
    try:
        t0 = now_utc() - timedelta(hours=2)
        sent = 0

        def send(first: int, last: int) -> None:
            nonlocal sent
            for i in range(first, last):
                for mn in (MN, OTHER_MN):
                    payload = packet(t0 + timedelta(minutes=i), mn=mn, qn="1")
                    loggers.publish("", "x/hj212", payload)
                    sent += 1

        send(0, 20)
        # Packets are submitted on the loggers' own loop: wait for their answers, not for an
        # empty outbox, which is also empty before the first submit has run.
        assert wait_until(lambda: loggers.latencies.answered == sent, 60), gateway.log()
        gateway.kill()  # SIGKILL: whatever was unanswered, the loggers resend
        send(20, 40)
        assert wait_until(lambda: loggers.unanswered() == 40, 30), loggers.unanswered()
        gateway.start()
        send(40, 60)
        assert wait_until(lambda: loggers.unanswered() == 0, 90), gateway.log()
        assert wait_until(lambda: count(store) == sent, 60), (count(store), sent)
        assert loggers.latencies.answered == sent
        assert loggers.latencies.resent >= 40
    finally:
        loggers.stop()


def test_a_malformed_packet_is_sent_as_it_is_and_never_stops_the_loggers() -> None:
    """The simulator's `malformed` fault over TCP: a broken frame, no exception, no resend."""
    from scripts.devstack import free_port

    good = packet(now_utc(), qn="1")
    text = good.decode()
    broken = (text[:2] + "0843" + text[6:]).encode()  # the length field lies
    with pytest.raises(hj212.Hj212Error):
        hj212.decode_packet(broken)
    loggers = TcpLoggers("127.0.0.1", free_port(), {MN: PW}, resend_seconds=1.0).start()
    try:
        loggers.publish("sl-001", "x/hj212", broken)  # raised before: the simulator died
        loggers.publish("sl-001", "x/hj212", good)
        assert wait_until(lambda: loggers.unanswered() == 1, 10)
    finally:
        loggers.stop()


def test_demo_county_mixes_2017_and_2025_loggers() -> None:
    from ingest.kernel.registry import load_registry
    from ingest.settings import demo_registry_path
    from simulators.tcp_logger import registry_profiles

    profiles = registry_profiles(load_registry(demo_registry_path()))
    assert len(profiles) == 9 and all(p.version == hj212.VERSION_2025 for p in profiles.values())
    assert sum(p.key is not None for p in profiles.values()) == 6  # sl-018..sl-022
    assert [mn for mn, p in profiles.items() if p.backfill] == ["331124A02025001900000001"]


def test_a_keyed_2025_logger_reads_an_encrypted_history_request() -> None:
    import asyncio

    from ingest.gateway import protocol
    from ingest.kernel import hj212_sm4
    from simulators.tcp_logger import LoggerProfile, SimLogger
    from tests.ingest import hj2025 as v2025

    logger = SimLogger(
        "127.0.0.1", 1, v2025.MN, v2025.PW, profile=LoggerProfile(hj212.VERSION_2025, v2025.KEY)
    )
    command = protocol.Command(
        "20260301080000000", "2051", v2025.MN, v2025.PW,
        {"BeginTime": "20260301000000", "EndTime": "20260301010000"}, version=2,
    )  # fmt: skip
    sealed = command.encode(v2025.KEY)
    assert hj212_sm4.is_encrypted(sealed)

    async def read() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(sealed)
        reader.feed_eof()
        await logger._read(reader)

    asyncio.run(read())
    assert [(p.cn, p.header["Flag"]) for p in logger.commands] == [("2051", "9")]
