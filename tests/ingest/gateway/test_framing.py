"""The pure framer: literal tables and every split point of real packets."""

from __future__ import annotations

import random

import pytest

from ingest.gateway.framing import Frame, Framer, Garbage, Oversize
from ingest.hj212 import frame
from tests.ingest.gateway.packets import (
    ANSWER_9014_LOWERCASE_CRC,
    HOUR_2061,
    MINUTE_2051,
    REAL_PACKETS,
    REALTIME_2011_EMPTY,
)

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
