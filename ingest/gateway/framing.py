"""Incremental HJ 212 framing of a TCP byte stream. Pure: bytes in, events out, no I/O.

A TCP stream does not keep packet boundaries: one packet may arrive over many reads,
several in one read, with line noise between them or without the trailing CRLF. The
framer looks for `##`, reads the 4-digit length, waits for the data segment and the CRC,
and checks the CRC (the codec's own `crc16`) before it calls the bytes a packet. A
candidate that fails is not trusted to have told its own length, so the framer jumps to
the next plausible `##` (4 digits and a field name's first letter) after its first byte: a genuine packet hiding behind a bogus header is still
found. Each such bad candidate is counted (`Framer.bad_frames`) for the connection's owner.

HJ 212-2025 packets whose CP is SM4-encrypted (`CP=&&{0xE4,...}tail&&CRC`) carry the
*plaintext* length and a CRC over the plaintext (`ingest/kernel/hj212_sm4.py`), so their end is
found by the shape of the ciphertext, `}`, a tail under 16 characters, `&&` and 4 hex
digits; they come out as `Frame(raw, encrypted=True)` for the checks to decrypt.

The CRC is pure Python, so what reaches it is screened with C-speed tests first: the data
segment must end with `&&` (every packet's CP does) and hold no other `##` (a packet's
text never does). A stream of crafted `##4090` headers therefore costs at most one CRC
over each byte received, not one per candidate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.kernel.hj212 import HEADER, MAX_DATA_LENGTH, crc16

HEADER_BYTES = 6  # "##" + 4 decimal digits
CRC_BYTES = 4
_SKIPPABLE = b"\r\n \t\x00"  # what may sit between packets without counting as garbage
_CP_OPEN = b"CP=&&"
_CIPHER_OPEN = b"{0x"
_CIPHER_BYTES = re.compile(rb"\{0x[0-9A-Fa-f]{2}(?:,0x[0-9A-Fa-f]{2})*\}")
_HEX4 = re.compile(rb"[0-9A-Fa-f]{4}")
# A header worth a look: `##`, 4 digits and the first letter of a field name (`QN=`, `ST=`);
# or one cut off by the end of what has arrived.
_VIABLE_HEADER = re.compile(rb"##(?:\d{4}[A-Za-z]|\d{0,4}\Z)")
MAX_PLAIN_TAIL = 15  # an encrypted CP's plain tail is shorter than one 16-byte block


@dataclass(frozen=True, slots=True)
class Frame:
    """A complete packet whose length and CRC check out (no CRLF)."""

    raw: bytes
    encrypted: bool = False  # CP in SM4 ciphertext: length and CRC checked once decrypted


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
        self._pos = 0  # bytes before it are consumed (dropped at the end of `feed`)
        self.bad_frames = 0  # candidates that were no packet (bad length, CRC, shape)

    @property
    def pending_bytes(self) -> int:
        """Bytes held waiting for the rest of a packet (0: between packets)."""
        return len(self._buffer) - self._pos

    def feed(self, data: bytes) -> list[Event]:
        self._buffer += data
        events: list[Event] = []
        junk: list[bytes] = []  # garbage in a row comes out as one event
        reason = ""
        try:
            while True:
                event = self._next()
                if isinstance(event, Garbage):
                    reason = reason or event.reason
                    junk.append(event.data)
                    continue
                if junk:
                    events.append(Garbage(b"".join(junk), reason))
                    junk, reason = [], ""
                if event is None:
                    return events
                events.append(event)
                if isinstance(event, Oversize):
                    return events
        finally:
            # Consumed bytes leave once per read, not once per event: a read full of
            # bogus headers must not cost a copy of the buffer for each of them.
            del self._buffer[: self._pos]
            self._pos = 0

    def _next(self) -> Event | None:
        buf, p = self._buffer, self._pos
        size = len(buf)
        while p < size and buf[p] in _SKIPPABLE:
            p += 1  # CRLF and padding between packets are not garbage
        self._pos = p
        start = buf.find(HEADER, p)
        if start < 0:
            # Keep a trailing '#': it may be the first half of the next header.
            keep = 1 if buf.endswith(b"#") else 0
            return self._drop(size - p - keep, "no '##' header")
        if start > p:
            return self._drop(start - p, "bytes before '##'")
        if size - p < HEADER_BYTES:
            return None
        length_text = bytes(buf[p + 2 : p + 6])
        if not length_text.isdigit():
            return self._bad(f"length field {length_text!r} is not 4 decimal digits")
        if size - p > HEADER_BYTES and not buf[p + HEADER_BYTES : p + HEADER_BYTES + 1].isalpha():
            return self._bad("no header field after the length")
        length = int(length_text)
        if length > self.max_data_length:
            self._buffer.clear()
            self._pos = 0
            return Oversize(length)
        segment_start = p + HEADER_BYTES
        segment_end = segment_start + length
        if buf.find(HEADER, p + 1, segment_end) >= 0:
            # No packet's text holds `##`: another header inside means this one lied.
            return self._bad("another '##' inside the announced data segment")
        cp = buf.find(_CP_OPEN, segment_start, segment_end)
        if cp >= 0:
            mark = cp + len(_CP_OPEN)
            if size < mark + len(_CIPHER_OPEN):
                return None  # not yet known whether the CP is encrypted
            if buf[mark : mark + len(_CIPHER_OPEN)] == _CIPHER_OPEN:
                return self._encrypted(mark, length)
        end = segment_end + CRC_BYTES
        if size < end:
            return None
        if buf[segment_end - 2 : segment_end] != b"&&":
            return self._bad("data segment does not end in '&&'")
        segment = bytes(buf[segment_start:segment_end])
        crc_text = bytes(buf[segment_end:end])
        if not _crc_matches(segment, crc_text):
            return self._bad(f"CRC {crc_text!r} does not match the data segment")
        return self._take(end, encrypted=False)

    def _encrypted(self, mark: int, length: int) -> Event | None:
        """An SM4 CP from `mark` (`{0x..`): `}`, a plain tail, `&&`, 4 hex digits of CRC."""
        buf = self._buffer
        # The ciphertext holds at most `length` bytes, written 5 characters each.
        limit = mark + 5 * length + 2
        close = buf.find(b"}", mark, limit)
        if close < 0:
            if len(buf) >= limit or buf.find(HEADER, mark) >= 0:
                return self._bad("encrypted CP without its closing '}'")
            return None
        amp = buf.find(b"&&", close + 1, close + 3 + MAX_PLAIN_TAIL)
        if amp < 0:
            if len(buf) >= close + 3 + MAX_PLAIN_TAIL:
                return self._bad("encrypted CP not followed by '&&' within 16 characters")
            return None
        end = amp + 2 + CRC_BYTES
        if len(buf) < end:
            return None
        if not _HEX4.fullmatch(buf, amp + 2, end) or not _CIPHER_BYTES.fullmatch(
            buf, mark, close + 1
        ):
            return self._bad("encrypted CP is not {0xHH,...} followed by '&&' and a CRC")
        return self._take(end, encrypted=True)

    def _take(self, end: int, encrypted: bool) -> Frame:
        raw = bytes(self._buffer[self._pos : end])
        self._pos = end
        return Frame(raw, encrypted)

    def _bad(self, reason: str) -> Event | None:
        """A candidate that is no packet: skip to the next plausible `##` after its first byte."""
        self.bad_frames += 1
        buf, p = self._buffer, self._pos
        found = _VIABLE_HEADER.search(buf, p + 1)
        following = found.start() if found else -1
        if following < 0:
            following = len(buf) - (1 if buf.endswith(b"#") else 0)
        return self._drop(max(1, following - p), reason)

    def _drop(self, count: int, reason: str) -> Event | None:
        if count <= 0:
            return None
        dropped = bytes(self._buffer[self._pos : self._pos + count])
        self._pos += count
        return Garbage(dropped, reason)


def _crc_matches(segment: bytes, crc_text: bytes) -> bool:
    try:
        return int(crc_text, 16) == crc16(segment) and len(crc_text.strip()) == CRC_BYTES
    except ValueError:
        return False
