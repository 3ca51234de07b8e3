"""A gateway nothing can abuse (issue 22, security review): a password guesser, a flood of
refusals and a stream of bogus frames, each beside a logger that keeps being answered.
In-process gateway, real Mosquitto; a recording store stands in for InfluxDB."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ingest.gateway.server import Gateway
from scripts.devstack import Server
from tests.ingest.gateway.helpers import (
    MN,
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


def test_a_password_guesser_is_locked_out_and_never_told_a_right_guess(
    tmp_path: Path, mosquitto: Server
) -> None:
    """Failed before the fix: guesses were unlimited and a right one was answered 9014."""
    store = Lines()

    async def scenario(port: int, gateway: Gateway) -> None:
        t = now_utc()
        logger_r, logger_w = await connect(port, "127.0.0.1")
        logger_w.write(packet(t, qn="20260301080000001"))
        assert await answered(logger_r, "20260301080000001")
        guess_r, guess_w = await connect(port, "127.0.0.2")
        for i in range(5):
            guess_w.write(packet(t, qn=f"2026030108000010{i}", pw=f"{i:06d}"))
        assert await closed(guess_r)  # the address is locked: its connection is closed
        again_r, again_w = await connect(port, "127.0.0.2")
        again_w.write(packet(t, qn="20260301080000199"))  # the right PW, too late
        assert await silent(again_r)
        # the MN is locked too: from a third address even the right PW gets no answer
        other_r, other_w = await connect(port, "127.0.0.3")
        other_w.write(packet(t, qn="20260301080000200"))
        assert await silent(other_r)
        # the stack's own logger is not shut out by someone guessing its PW
        logger_w.write(packet(t, qn="20260301080000002", nmhc=13))
        assert await answered(logger_r, "20260301080000002")
        await until(lambda: any("logger_auth_failures" in line for line in store.lines))
        for writer in (logger_w, other_w, again_w):
            writer.close()

    gateway = run_gateway(tmp_path, mosquitto.port, scenario, store=store)
    counts = gateway.metrics()
    assert counts["auth_failures"] == 5
    assert counts["lockouts"] == 2  # the address and the MN
    assert counts["refused_locked_out"] == 2
    assert counts["closed_locked_out"] == 1
    letters = [line for line in store.lines if "wrong_password" in line or "locked_out" in line]
    assert letters and all("PW=******" in line for line in letters)
    assert not any(f"PW={i:06d}" in line for line in letters for i in range(5))
    assert not any("PW=pw0001" in line for line in store.lines)  # the right one, too late
    event = next(line for line in store.lines if "logger_auth_failures" in line)
    assert "plant=sl-001" in event and "127.0.0.2" in event and "scope=" not in event.split()[0]


def test_a_flood_of_refusals_is_counted_and_only_sampled_into_dead_letters(
    tmp_path: Path, mosquitto: Server
) -> None:
    """Failed before the fix: each refusal was one InfluxDB write (20,000 packets left
    19,933 writes queued on an unbounded executor)."""
    store = Lines()
    flood = 300

    async def scenario(port: int, gateway: Gateway) -> None:
        t = now_utc()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"".join(packet(t, mn="UNKNOWNMN00000001", qn=f"{i}") for i in range(flood)))
        await until(lambda: gateway.metrics()["refused"] == flood)
        writer.write(packet(t, qn="20260301080000001"))  # a packet of its own still goes
        assert await answered(reader, "20260301080000001")
        await until(lambda: gateway.metrics()["dead_letters_written"] >= 5)
        writer.close()

    gateway = run_gateway(tmp_path, mosquitto.port, scenario, store=store)
    counts = gateway.metrics()
    assert counts["refusals_not_kept"] == flood - 5
    assert len([line for line in store.lines if "unknown_source" in line]) == 5
    assert store.writes <= 5


def test_a_connection_sending_bogus_frames_is_closed(tmp_path: Path, mosquitto: Server) -> None:
    """Failed before the fix: a stream of `##4090` candidates was read (and CRC-checked)
    for as long as the sender liked, and it could come back at once."""
    bogus = b"##4090" + b"x" * 4090 + b"0000"

    async def scenario(port: int, gateway: Gateway) -> None:
        good_r, good_w = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(5):  # it reconnects each time it is closed
            bad_r, bad_w = await connect(port, "127.0.0.4")
            bad_w.write(bogus * 50)
            assert await closed(bad_r)
        # five closes: the address is not let in for a while (closed before it sends)
        again_r, _ = await connect(port, "127.0.0.4")
        assert await closed(again_r)
        good_w.write(packet(now_utc(), qn="20260301080000001"))
        assert await answered(good_r, "20260301080000001")
        good_w.close()

    gateway = run_gateway(tmp_path, mosquitto.port, scenario)
    counts = gateway.metrics()
    assert counts["closed_bad_frames"] == 5
    assert counts["closed_noisy_address"] == 1
    # each closed after a few CRCs, not after every candidate of what it sent
    assert counts["garbage_bytes"] < 5 * 40_000


def test_packets_of_the_right_mn_are_answered_with_their_own_qn_only(
    tmp_path: Path, mosquitto: Server
) -> None:
    """A refused packet's QN is never echoed: a wrong PW gets no 9014 at all."""

    async def scenario(port: int, gateway: Gateway) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(packet(now_utc(), qn="20260301080000666", pw="000000"))
        writer.write(packet(now_utc(), qn="20260301080000001"))
        data = b""
        while b"20260301080000001" not in data:
            data += await asyncio.wait_for(reader.read(4096), 30)
        assert b"20260301080000666" not in data and MN.encode() in data
        writer.close()

    run_gateway(tmp_path, mosquitto.port, scenario)
