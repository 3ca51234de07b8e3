"""Limits close one connection with a count, and the other loggers keep being served."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ingest.client import MqttClient
from ingest.gateway.run import build_rules
from ingest.gateway.server import Gateway
from ingest.gateway.stats import render
from ingest.registry import load_registry
from ingest.settings import GatewaySettings
from scripts.devstack import Server
from tests.ingest.gateway.helpers import now_utc, packet, registry

DEADLINE_S = 30.0


async def closed(reader: asyncio.StreamReader) -> bool:
    """True once the gateway has closed this connection."""
    try:
        return await asyncio.wait_for(reader.read(), DEADLINE_S) == b""
    except ConnectionError:
        return True


async def until(predicate, deadline_s: float = DEADLINE_S) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not predicate():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.01)


async def answered(reader: asyncio.StreamReader, qn: str) -> bool:
    data = b""
    while f"QN={qn}".encode() not in data:
        chunk = await asyncio.wait_for(reader.read(4096), DEADLINE_S)
        if not chunk:
            return False
        data += chunk
    return b"CN=9014" in data


def run_gateway(
    tmp_path: Path, mqtt_port: int, scenario, store: object = None, **limits: object
) -> Gateway:
    settings = GatewaySettings(
        registry=registry(tmp_path / "r.toml"), hj212_port=0, mqtt_port=mqtt_port, **limits
    )
    mqtt = MqttClient("gw-limits", "127.0.0.1", mqtt_port)
    rules = build_rules(settings, load_registry(settings.registry))
    gateway = Gateway(settings, rules, mqtt, store)  # type: ignore[arg-type]

    async def main() -> None:
        port = await gateway.start()
        try:
            await scenario(port, gateway)
        finally:
            await gateway.stop()

    mqtt.start()
    try:
        asyncio.run(main())
    finally:
        mqtt.stop()
    return gateway


def test_idle_slow_oversize_and_too_many_are_closed_while_a_good_logger_is_answered(
    tmp_path: Path, mosquitto: Server
) -> None:
    async def scenario(port: int, gateway: Gateway) -> None:
        good_r, good_w = await asyncio.open_connection("127.0.0.1", port)
        good_w.write(packet(now_utc(), qn="20260301080000001"))
        assert await answered(good_r, "20260301080000001")
        idle_r, _idle_w = await asyncio.open_connection("127.0.0.1", port)
        slow_r, slow_w = await asyncio.open_connection("127.0.0.1", port)
        slow_w.write(packet(now_utc())[:40])  # starts a packet, never finishes it
        _big_r, big_w = await asyncio.open_connection("127.0.0.1", port)
        await until(lambda: len(gateway.connections) == 4)
        # the per-address limit is 4: a fifth connection from 127.0.0.1 is refused
        extra_r, _extra_w = await asyncio.open_connection("127.0.0.1", port)
        assert await closed(extra_r)
        big_w.write(b"##9999QN=")
        await until(lambda: gateway.metrics()["closed_oversize"] == 1)
        await until(lambda: gateway.metrics()["closed_slow"] == 1)
        assert await closed(slow_r)
        # the good logger keeps talking; the idle one is closed
        for i in range(3):
            await asyncio.sleep(0.5)
            good_w.write(packet(now_utc(), qn=f"2026030108000100{i}", nmhc=10 + i))
            assert await answered(good_r, f"2026030108000100{i}")
        assert await closed(idle_r)
        good_w.close()

    gateway = run_gateway(
        tmp_path,
        mosquitto.port,
        scenario,
        hj212_idle_timeout_seconds=2.0,
        hj212_frame_timeout_seconds=1.0,
        hj212_max_data_length=2000,
        hj212_max_connections_per_address=4,
    )
    counts = gateway.metrics()
    assert counts["closed_too_many_per_address"] == 1
    assert counts["closed_oversize"] == 1
    assert counts["closed_slow"] == 1
    assert counts["closed_idle"] == 1
    assert counts["answers"] == 4
    text = render(counts, "gw")
    assert 'plantwatch_hj212_closed_idle_total{gateway="gw"} 1.0' in text


def test_total_connection_limit(tmp_path: Path, mosquitto: Server) -> None:
    async def scenario(port: int, gateway: Gateway) -> None:
        first = await asyncio.open_connection("127.0.0.1", port)
        second = await asyncio.open_connection("127.0.0.1", port)
        await until(lambda: len(gateway.connections) == 2)
        third_r, _ = await asyncio.open_connection("127.0.0.1", port)
        assert await closed(third_r)
        first[1].write(packet(now_utc(), qn="20260301080000009"))
        assert await answered(first[0], "20260301080000009")
        second[1].close()
        first[1].close()

    gateway = run_gateway(tmp_path, mosquitto.port, scenario, hj212_max_connections=2)
    assert gateway.metrics()["closed_too_many"] == 1
