"""Incremental HJ 212 framing of a TCP byte stream. Pure: bytes in, events out, no I/O.

A TCP stream does not keep packet boundaries: one packet may arrive over many reads,
several in one read, with line noise between them or without the trailing CRLF. The
framer looks for `##`, reads the 4-digit length, waits for the data segment and the CRC,
and checks the CRC (the codec's own `crc16`) before it calls the bytes a packet. A
candidate whose CRC fails is not trusted to have told its own length, so the framer
steps over one byte of its `##` and searches again: a genuine packet hiding behind a bogus
header is still found.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.hj212 import HEADER, MAX_DATA_LENGTH, crc16

HEADER_BYTES = 6  # "##" + 4 decimal digits
CRC_BYTES = 4
_SKIPPABLE = b"\r\n \t\x00"  # what may sit between packets without counting as garbage


@dataclass(frozen=True, slots=True)
class Frame:
    """A complete packet whose length and CRC check out (no CRLF)."""

    raw: bytes


@dataclass(frozen=True, slots=True)
class Garbage:
    """Bytes that were not part of any packet, with why."""

    data: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class Oversize:
    """A header announcing a data segment longer than allowed; the connection should close."""

    length: int


Event = Frame | Garbage | Oversize


class Framer:
    """Feed it what a socket read returned; it returns the events completed so far."""

    def __init__(self, max_data_length: int = MAX_DATA_LENGTH) -> None:
        self.max_data_length = max_data_length
        self._buffer = bytearray()

    @property
    def pending_bytes(self) -> int:
        """Bytes held waiting for the rest of a packet (0: between packets)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Event]:
        self._buffer += data
        events: list[Event] = []
        while True:
            event = self._next()
            if event is None:
                return events
            events.append(event)
            if isinstance(event, Oversize):
                return events

    def _next(self) -> Event | None:
        buf = self._buffer
        skip = len(buf) - len(buf.lstrip(_SKIPPABLE))
        if skip:
            del buf[:skip]  # CRLF and padding between packets are not garbage
        start = buf.find(HEADER)
        if start < 0:
            # Keep a trailing '#': it may be the first half of the next header.
            keep = 1 if buf.endswith(b"#") else 0
            return self._drop(len(buf) - keep, "no '##' header")
        if start > 0:
            return self._drop(start, "bytes before '##'")
        if len(buf) < HEADER_BYTES:
            return None
        length_text = bytes(buf[2:6])
        if not length_text.isdigit():
            return self._drop(1, f"length field {length_text!r} is not 4 decimal digits")
        length = int(length_text)
        if length > self.max_data_length:
            self._buffer.clear()
            return Oversize(length)
        end = HEADER_BYTES + length + CRC_BYTES
        if len(buf) < end:
            return None
        segment = bytes(buf[HEADER_BYTES : HEADER_BYTES + length])
        crc_text = bytes(buf[HEADER_BYTES + length : end])
        if not _crc_matches(segment, crc_text):
            return self._drop(1, f"CRC {crc_text!r} does not match the data segment")
        raw = bytes(buf[:end])
        del buf[:end]
        return Frame(raw)

    def _drop(self, count: int, reason: str) -> Event | None:
        if count <= 0:
            return None
        dropped = bytes(self._buffer[:count])
        del self._buffer[:count]
        return Garbage(dropped, reason)


def _crc_matches(segment: bytes, crc_text: bytes) -> bool:
    try:
        return int(crc_text, 16) == crc16(segment) and len(crc_text.strip()) == CRC_BYTES
    except ValueError:
        return False
