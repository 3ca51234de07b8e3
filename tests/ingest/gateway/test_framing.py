"""The pure framer: literal tables and every split point of real packets."""

from __future__ import annotations

import random

import pytest

from ingest.gateway import framing
from ingest.gateway.framing import Frame, Framer, Garbage, Oversize
from ingest.kernel.hj212 import frame
from tests.ingest.gateway.packets import (
    ANSWER_9014_LOWERCASE_CRC,
    HOUR_2061,
    MINUTE_2051,
    REAL_PACKETS,
    REALTIME_2011_EMPTY,
)
from tests.ingest.support import A2_SEALED_13_BLOCKS, A2_SEALED_TAIL

CRLF = b"\r\n"
SMALL = frame("QN=1;ST=31;CN=2011;PW=1;MN=M1;Flag=5;CP=&&DataTime=20260301080000&&")


def frames_of(chunks: list[bytes], max_data_length: int = 4096) -> tuple[list[bytes], bytes]:
    framer = Framer(max_data_length)
    got, garbage = [], b""
    for chunk in chunks:
        for event in framer.feed(chunk):
            if isinstance(event, Frame):
                got.append(event.raw)
            elif isinstance(event, Garbage):
                garbage += event.data
    return got, garbage


@pytest.mark.parametrize(
    ("stream", "frames", "garbage"),
    [
        (SMALL, [SMALL.rstrip()], b""),
        (SMALL + SMALL, [SMALL.rstrip()] * 2, b""),
        (HOUR_2061 + HOUR_2061, [HOUR_2061] * 2, b""),  # glued, no CRLF, as seen in the field
        (b"noise" + SMALL, [SMALL.rstrip()], b"noise"),
        (SMALL + b"\xffjunk" + SMALL, [SMALL.rstrip()] * 2, b"\xffjunk"),
        (b"##ab" + SMALL, [SMALL.rstrip()], b"##ab"),  # a header that is no header
        (b"\r\n\r\n" + SMALL + b"\r\n", [SMALL.rstrip()], b""),  # line ends are not garbage
        (ANSWER_9014_LOWERCASE_CRC, [ANSWER_9014_LOWERCASE_CRC], b""),
        (SMALL[:-6] + b"FFFF\r\n", [], SMALL[:2]),  # bad CRC: no frame
        # A bogus header swallowing a real packet: the CRC fails, the real one is found.
        (b"##0030" + SMALL, [SMALL.rstrip()], b"##"),
    ],
)
def test_frames_from_literal_streams(stream: bytes, frames: list[bytes], garbage: bytes) -> None:
    got, dropped = frames_of([stream])
    assert got == frames
    assert dropped.startswith(garbage)


def test_oversize_header_is_reported_not_buffered() -> None:
    framer = Framer(max_data_length=100)
    events = framer.feed(b"##0900QN=" + b"x" * 50)
    assert events == [Oversize(900)]
    assert framer.pending_bytes == 0


def test_waits_for_the_rest_of_a_packet() -> None:
    framer = Framer()
    assert framer.feed(HOUR_2061[:500]) == []
    assert framer.pending_bytes == 500
    assert framer.feed(HOUR_2061[500:]) == [Frame(HOUR_2061)]
    assert framer.pending_bytes == 0


@pytest.mark.parametrize("packet", REAL_PACKETS, ids=["2061", "2051", "2011", "9014"])
def test_every_split_point_of_real_packets(packet: bytes) -> None:
    stream = packet + CRLF
    for cut in range(1, len(stream)):
        got, garbage = frames_of([stream[:cut], stream[cut:]])
        assert got == [packet], f"split at {cut}"
        assert garbage == b""


def test_every_split_point_of_two_glued_packets_with_garbage() -> None:
    stream = MINUTE_2051 + b"&&junk##x" + REALTIME_2011_EMPTY + CRLF + HOUR_2061
    for cut in range(1, len(stream)):
        got, _ = frames_of([stream[:cut], stream[cut:]])
        assert got == [MINUTE_2051, REALTIME_2011_EMPTY, HOUR_2061], f"split at {cut}"


def test_random_segmentations_of_a_long_stream() -> None:
    rng = random.Random(212)
    packets = [rng.choice(REAL_PACKETS) for _ in range(60)]
    pieces = []
    for packet in packets:
        pieces.append(packet + rng.choice([b"", CRLF, b"\n", b"garbage", b"#", b"##"]))
    stream = b"".join(pieces)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(1, 200)))
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        got, _ = frames_of(chunks)
        assert got == packets


# -- HJ 212-2025: encrypted packets and crafted headers ---------------------------------


@pytest.mark.parametrize("sealed", [A2_SEALED_13_BLOCKS, A2_SEALED_TAIL], ids=["blocks", "tail"])
def test_encrypted_packets_are_framed_whatever_their_length_field_says(sealed: bytes) -> None:
    # the length field gives the plaintext's length: far short of the bytes on the wire
    stream = b"noise" + sealed + CRLF + SMALL
    for cut in range(1, len(stream)):
        framer = Framer(4096)
        events = framer.feed(stream[:cut]) + framer.feed(stream[cut:])
        frames = [e for e in events if isinstance(e, Frame)]
        assert frames == [Frame(sealed, encrypted=True), Frame(SMALL.rstrip())], f"cut {cut}"


@pytest.mark.parametrize(
    "bad",
    [
        A2_SEALED_TAIL.replace(b"0x3E,", b"0x3G,"),  # not hex
        A2_SEALED_TAIL.replace(b"}g=N&&B541", b"}g=N&&B54"),  # no CRC before the next packet
        A2_SEALED_TAIL.replace(b"}g=N", b"}" + b"x" * 20),  # a tail longer than a block
    ],
)
def test_a_malformed_encrypted_packet_is_skipped_to_the_next_header(bad: bytes) -> None:
    framer = Framer(4096)
    events = framer.feed(bad + SMALL)
    assert [e for e in events if isinstance(e, Frame)] == [Frame(SMALL.rstrip())]
    assert framer.bad_frames == 1


def test_crafted_headers_cost_no_crc_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """`##4090` candidates used to cost a pure-Python CRC of 4 KB per byte they moved."""
    calls = []
    real = framing.crc16
    monkeypatch.setattr(framing, "crc16", lambda data: calls.append(len(data)) or real(data))
    framer = Framer(4096)
    events = framer.feed(b"##4090" * 2000 + SMALL)  # no header field: one skip over all
    assert [e for e in events if isinstance(e, Frame)] == [Frame(SMALL.rstrip())]
    assert len(calls) == 1 and framer.bad_frames == 1
    calls.clear()
    events = framer.feed(b"##4090QN=" * 2000 + SMALL)  # each holds the next '##'
    assert [e for e in events if isinstance(e, Frame)] == [Frame(SMALL.rstrip())]
    assert len(calls) == 1 and framer.bad_frames == 1 + 2000
    calls.clear()
    # Candidates that pass every cheap test cost one CRC over the bytes they hold, no more.
    lure = b"##4090" + b"A" * 4088 + b"&&" + b"ZZZZ"
    framer.feed(lure * 20)
    assert sum(calls) <= 20 * 4090
    assert len([e for e in framer.feed(SMALL) if isinstance(e, Frame)]) == 1


def test_garbage_in_a_row_is_one_event() -> None:
    events = Framer(4096).feed(b"##ab##cd##12x" + b"junk" * 10 + SMALL)
    assert [type(e) for e in events] == [Garbage, Frame]
