"""The HJ 212 bench's loggers: half speak HJ 212-2025 with SM4 as the standard writes it."""

from __future__ import annotations

import tomllib

from bench import hj212 as bench
from ingest.kernel import hj212, hj212_sm4
from ingest.kernel.registry import parse_registry

PROTOCOLS = ("2017", "2025-sm4")


def test_half_the_registry_is_2025_loggers_with_their_own_keys() -> None:
    registry = parse_registry(tomllib.loads(bench.registry_text(4, PROTOCOLS)))
    meters = [plant.meters[0] for plant in registry.plants]
    assert [bool(hj212.MN_2025.match(m.hj212_mn or "")) for m in meters] == [False, True] * 2
    assert [m.sm4_keys for m in meters] == [(), (bench.sm4_key(1),), (), (bench.sm4_key(3),)]
    assert set(bench.stacks_of(4, PROTOCOLS)) == {m.hj212_mn for m in meters}
    assert set(bench.profiles_of(4, PROTOCOLS)) == {meters[1].hj212_mn, meters[3].hj212_mn}


def test_a_2025_packet_is_sealed_with_its_loggers_key_crc_over_the_plaintext() -> None:
    raw = bench.encode_2025_sm4(3, "20260301080000001", "20260301080000", "12.5")
    assert hj212_sm4.is_encrypted(raw)
    plain, _ = hj212_sm4.open_packet(raw, [bench.sm4_key(3)])
    packet = hj212.decode_packet(plain)  # length field and CRC are the plaintext's
    assert (packet.mn, packet.header["Flag"], packet.items["a24088"]["Avg"]) == (
        bench.mn(3, "2025-sm4"), "9", "12.5",
    )  # fmt: skip
    guess = bench.guesses(4, bench.datetime(2026, 3, 1, tzinfo=bench.UTC), PROTOCOLS)
    sent = [guess(n) for n in range(8)]
    assert any(hj212_sm4.is_encrypted(g) for g in sent)  # the guesser speaks each logger's tongue
