"""Split packets (PNUM/PNO) joined back into one: literal parts, no network."""

from __future__ import annotations

from datetime import UTC, datetime

from ingest.gateway.split import MAX_PARTS, Joiner
from ingest.kernel import hj212, hj212_sm4
from ingest.kernel.pipeline import Accepted, handle_message
from tests.ingest import hj2025 as v2025

NOW = datetime(2026, 3, 1, tzinfo=UTC)
HEAD = f"QN=20260301080000000;ST=31;CN=2051;PW=123456;MN={v2025.MN};Flag=11"
CPS = ("DataTime=20260301075900;a24088-Avg=12.5,a24088-Flag=N", "a25002-Avg=0.4,a25002-Flag=N")


def part(number: int, total: int = 2, cp: str | None = None) -> bytes:
    body = CPS[number - 1] if cp is None else cp
    return hj212.frame(f"{HEAD};PNUM={total};PNO={number};CP=&&{body}&&").rstrip(b"\r\n")


def keys_of(mn: str) -> tuple[bytes, ...] | None:
    return (v2025.KEY,) if mn == v2025.MN else None


def test_parts_in_any_order_come_out_as_one_encrypted_packet_of_the_stack() -> None:
    joiner = Joiner(keys_of)
    second = hj212_sm4.encrypt_packet(part(2), v2025.KEY)
    assert joiner.add(second) is None and joiner.held == 1
    joined = joiner.add(hj212_sm4.encrypt_packet(part(1), v2025.KEY))
    assert joined is not None and joiner.held == 0
    plain, _ = hj212_sm4.open_packet(joined, [v2025.KEY])
    packet = hj212.decode_packet(plain)
    assert packet.split is None and packet.header["Flag"] == "9" and "PNUM" not in packet.header
    assert packet.cp == ";".join(CPS)
    outcome = handle_message(v2025.rules(), "plantwatch/plants/sl-025/hj212", joined, NOW)
    assert isinstance(outcome, Accepted), outcome
    assert outcome.readings[0].values == {"nmhc_mgm3": 12.5, "benzene_mgm3": 0.4}


def test_unsplit_and_unreadable_packets_pass_through() -> None:
    joiner = Joiner(keys_of)
    assert joiner.add(v2025.A2_SEALED_TAIL) == v2025.A2_SEALED_TAIL
    broken = part(1)[:-4] + b"0000"
    assert joiner.add(broken) == broken  # the checks refuse it with its reason
    too_many = part(1, total=MAX_PARTS + 1)
    assert joiner.add(too_many) == too_many


def test_held_parts_are_bounded() -> None:
    joiner = Joiner(keys_of, max_groups=2)
    for qn in ("1", "2", "3"):
        raw = hj212.frame(f"QN={qn};ST=31;CN=2051;MN={v2025.MN};Flag=10;PNUM=2;PNO=1;CP=&&&&")
        assert joiner.add(raw) is None
    assert joiner.held == 2 and joiner.dropped_groups == 1


def test_a_part_with_its_own_time_goes_on_at_once_the_rest_joins_it_later() -> None:
    joiner = Joiner(keys_of)
    first = part(1)
    assert joiner.add(first) == first  # a reading of its own: stored and answered as before
    joined = joiner.add(part(2))
    assert joined is not None
    packet = hj212.decode_packet(joined)
    assert packet.cp == "DataTime=20260301075900;" + CPS[1]
