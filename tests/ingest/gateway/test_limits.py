"""Limits close one connection with a count, and the other loggers keep being served."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ingest.gateway.server import Gateway
from ingest.gateway.stats import render
from scripts.devstack import Server
from tests.ingest.gateway.helpers import answered, closed, now_utc, packet, run_gateway, until


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
