"""Behind a balancer (PROXY v1 header, `hj212_proxy_from`) every limit and lock is the
logger's own address, and nobody else can name an address. In-process gateway, real
Mosquitto; 127.0.0.x addresses stand for other hosts, 127.0.0.5 for the balancer."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ingest.gateway.server import Gateway
from scripts.devstack import Server
from tests.ingest.gateway.helpers import (
    Lines,
    answered,
    closed,
    connect,
    now_utc,
    packet,
    run_gateway,
    silent,
    until,
)

BALANCER = "127.0.0.5"


def header(source: str, port: int = 40000) -> bytes:
    return f"PROXY TCP4 {source} 127.0.0.1 {port} 9212\r\n".encode()


async def through_balancer(
    port: int, source: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A logger at `source`, as the balancer passes it on (header first)."""
    reader, writer = await connect(port, BALANCER)
    writer.write(header(source))
    return reader, writer


def test_limits_and_locks_count_the_logger_behind_the_balancer(
    tmp_path: Path, mosquitto: Server
) -> None:
    store = Lines()

    async def scenario(port: int, gateway: Gateway) -> None:
        t = now_utc()
        # the stack's logger, and two more hosts: all come from the balancer's address
        logger_r, logger_w = await through_balancer(port, "203.0.113.7")
        logger_w.write(packet(t, qn="20260301080000001"))
        assert await answered(logger_r, "20260301080000001")
        first = await through_balancer(port, "198.51.100.1")
        second = await through_balancer(port, "198.51.100.1")
        await until(lambda: len(gateway.connections) == 3)
        assert {c.address for c in gateway.connections} == {"203.0.113.7", "198.51.100.1"}
        # the per-address limit (2) is the named host's, not the balancer's
        third_r, _ = await through_balancer(port, "198.51.100.1")
        assert await closed(third_r)
        other_r, other_w = await through_balancer(port, "198.51.100.2")
        await until(lambda: len(gateway.connections) == 4)
        # a guesser behind the balancer locks its own address out, nobody else's
        guess_r, guess_w = await through_balancer(port, "192.0.2.66")
        for i in range(5):
            guess_w.write(packet(t, qn=f"2026030108000010{i}", pw=f"{i:06d}"))
        assert await closed(guess_r)
        again_r, again_w = await through_balancer(port, "192.0.2.66")
        again_w.write(packet(t, qn="20260301080000199"))  # the right PW, too late
        assert await silent(again_r)  # its address stays locked
        logger_w.write(packet(t, qn="20260301080000002", nmhc=13))
        assert await answered(logger_r, "20260301080000002")
        await until(lambda: any("logger_auth_failures" in line for line in store.lines))
        for _, writer in (first, second, (other_r, other_w), (logger_r, logger_w)):
            writer.close()
        again_w.close()

    gateway = run_gateway(
        tmp_path,
        mosquitto.port,
        scenario,
        store=store,
        hj212_proxy_from=[BALANCER],
        hj212_max_connections_per_address=2,
    )
    counts = gateway.metrics()
    assert counts["closed_too_many_per_address"] == 1
    assert counts["answers"] == 2
    assert counts["closed_bad_proxy_header"] == 0
    # the lock event names the guesser's address, not the balancer's
    event = next(line for line in store.lines if "logger_auth_failures" in line)
    assert "192.0.2.66" in event and BALANCER not in event


def test_a_balancer_connection_without_a_header_is_closed_and_others_are_served(
    tmp_path: Path, mosquitto: Server
) -> None:
    async def scenario(port: int, gateway: Gateway) -> None:
        t = now_utc()
        # a packet where the header should be, a broken header, a spoofed family
        for first in (
            packet(t, qn="20260301080000009"),
            b"PROXY TCP4 1.2.3\r\n",
            b"PROXY UDP4 x\r\n",
        ):
            reader, writer = await connect(port, BALANCER)
            writer.write(first)
            assert await closed(reader)
        logger_r, logger_w = await through_balancer(port, "203.0.113.7")
        logger_w.write(packet(t, qn="20260301080000001"))
        assert await answered(logger_r, "20260301080000001")
        logger_w.close()

    gateway = run_gateway(tmp_path, mosquitto.port, scenario, hj212_proxy_from=[BALANCER])
    counts = gateway.metrics()
    assert counts["closed_bad_proxy_header"] == 3
    assert counts["answers"] == 1


def test_a_header_from_anyone_but_the_balancer_is_not_believed(
    tmp_path: Path, mosquitto: Server
) -> None:
    """A logger claiming another host's address keeps its own (and its lock)."""

    async def scenario(port: int, gateway: Gateway) -> None:
        t = now_utc()
        reader, writer = await connect(port, "127.0.0.7")
        writer.write(header("203.0.113.7") + packet(t, qn="20260301080000001"))
        # the line is noise before the packet's `##`; the packet itself is answered
        assert await answered(reader, "20260301080000001")
        assert [c.address for c in gateway.connections] == ["127.0.0.7"]
        # and a second connection from 127.0.0.7 is over its limit of 1, header or not
        extra_r, extra_w = await connect(port, "127.0.0.7")
        extra_w.write(header("198.51.100.1"))
        assert await closed(extra_r)
        assert await silent(reader)
        writer.close()

    gateway = run_gateway(
        tmp_path,
        mosquitto.port,
        scenario,
        hj212_proxy_from=[BALANCER],
        hj212_max_connections_per_address=1,
    )
    assert gateway.metrics()["closed_too_many_per_address"] == 1
