"""Split HJ 212 packets (Flag D bit, PNUM/PNO) joined back into one. Pure, no I/O.

A logger whose data segment would pass 1,024 characters sends it in PNUM packets numbered
PNO 1..PNUM, each with its own header, CRC and the same QN. A part that carries its own
`DataTime` is a reading of its own and goes on at once (InfluxDB merges the fields of the
parts' points, which share their time: docs/protocol.md). A part without one cannot be
read alone: the gateway holds it until every part of its (MN, QN, CN) has been seen, then
hands on one packet: the first held part's header without PNUM/PNO and with the D bit
cleared, the group's `DataTime`, and the held parts' CP areas joined with `;` in PNO order.
Parts of an encrypted packet are decrypted with the stack's key and the joined packet
encrypted again with it, so the collector reads it as any packet of that stack. Nothing
held is answered before the joined packet is stored; a logger that gets no answer sends
its parts again. Held parts are bounded (`max_groups` packets of at most `MAX_PARTS`
parts, oldest dropped first).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ingest.kernel import hj212, hj212_sm4
from ingest.kernel.errors import RefusedReading

MAX_GROUPS = 1000
MAX_PARTS = 64  # more parts than a logger ever splits into: read as single packets
MAX_JOINED_LENGTH = 9999  # what the 4-digit length field can say

KeysOf = Callable[[str], Sequence[bytes] | None]


@dataclass
class _Group:
    seen: set[int] = field(default_factory=set)
    data_time: str | None = None
    held: dict[int, hj212.Packet] = field(default_factory=dict)


class Joiner:
    """Feed every framed packet; a split one comes back whole once its last part is in."""

    def __init__(self, keys_of: KeysOf, max_groups: int = MAX_GROUPS) -> None:
        self.keys_of = keys_of
        self.max_groups = max_groups
        self._groups: OrderedDict[tuple[str, str, str], _Group] = OrderedDict()
        self.dropped_groups = 0

    @property
    def held(self) -> int:
        """Parts waiting for the rest of their packet."""
        return sum(len(group.held) for group in self._groups.values())

    def add(self, raw: bytes) -> bytes | None:
        """`raw` itself (not split, a part with its own DataTime, or not readable: the checks
        say why), None while held, or the joined packet once the last part is in."""
        if b"PNUM=" not in raw:
            return raw
        try:
            plain, sealed = hj212_sm4.unseal(raw, self.keys_of)
            packet = hj212.decode_packet(plain)
        except RefusedReading:
            return raw
        split = packet.split
        if split is None:
            return raw
        total, number = split
        if not 1 <= number <= total <= MAX_PARTS:
            return raw
        key = (packet.mn, packet.qn, packet.cn)
        group = self._groups.setdefault(key, _Group())
        self._groups.move_to_end(key)
        group.seen.add(number)
        if packet.data_time is None:
            group.held[number] = packet
        else:
            group.data_time = group.data_time or packet.data_time
        while len(self._groups) > self.max_groups:
            self._groups.popitem(last=False)
            self.dropped_groups += 1
        if len(group.seen) < total:
            return None if packet.data_time is None else raw
        del self._groups[key]
        if not group.held:
            return raw
        if packet.data_time is not None:
            group.held[number] = packet  # the last part carries the time for the held ones
        parts = [group.held[i] for i in sorted(group.held)]
        joined = join(parts, None if packet.data_time is not None else group.data_time)
        if joined is None:
            return raw
        keys = self.keys_of(packet.mn) if sealed else None
        return hj212_sm4.encrypt_packet(joined, keys[0]) if keys else joined


def join(parts: Sequence[hj212.Packet], data_time: str | None = None) -> bytes | None:
    """One packet of the parts (PNO order), with `data_time` first in its CP when given;
    None if it would not fit a length field."""
    first = parts[0]
    header = {k: v for k, v in first.header.items() if k not in ("PNUM", "PNO")}
    flag = first.flag
    if flag is not None:
        header["Flag"] = str(flag & ~hj212.FLAG_SPLIT_BIT)
    areas = [f"DataTime={data_time}"] if data_time else []
    cp = ";".join(areas + [p.cp for p in parts if p.cp])
    segment = (";".join(f"{k}={v}" for k, v in header.items()) + f";CP=&&{cp}&&").encode()
    if len(segment) > MAX_JOINED_LENGTH:
        return None
    return (
        hj212.HEADER
        + f"{len(segment):04d}".encode()
        + segment
        + f"{hj212.crc16(segment):04X}".encode()
        + hj212.TRAILER
    )
