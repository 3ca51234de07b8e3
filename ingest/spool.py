"""A local, append-only, fsynced spool of line-protocol batches (SPEC section 5).

When InfluxDB cannot take a batch, the collector appends it here, fsyncs, and only then
acknowledges the MQTT messages; a replayer drains the spool to InfluxDB in order later.

On disk: a folder of segment files `segment-<12 digits>.spool`, oldest first. A record is

    length (4 bytes, big-endian) | crc32 (4) | appended_at epoch ms (8) | payload (length)

where the CRC covers the timestamp and the payload. The payload is a format byte `0x00`
followed by each line as `length (4 bytes, big-endian) | UTF-8 bytes`: lines are framed by
their length, never by a separator, so no byte inside a line can split it or forge another
one. (Payloads written before this framing are the lines joined by `\n` and never start
with `0x00`, since a line of line protocol starts with a measurement name; they are still
read.) Every append is fsynced before it returns. A process killed
mid-append leaves at most a torn last record in its segment: the reader detects it (short
or CRC mismatch), drops it and warns. Those messages were never acknowledged, so the
broker redelivers them. A restarted process never appends to an old segment; it opens a
new one, so a torn tail is always at the end of a closed segment.

An append either lands whole or not at all: `os.write` may write fewer bytes than asked
(a full disk, a signal), so the spool loops until every byte is written, then fsyncs. If the
file system refuses (ENOSPC, EDQUOT, EIO, ...) the segment is cut back to its length before
the append and the batch is refused with `SpoolFull`, exactly like the size bound: the
collector keeps running and does not acknowledge, and the broker keeps the readings. A
segment that cannot be cut back is closed, so its torn tail is at the end of a closed segment
and no later record is written behind it. `refusing` (the `spool_full` gauge) says so.

Replay reads whole closed segments and deletes a segment only after every record in it is
in InfluxDB; a crash mid-replay replays the segment again, which is harmless because a
point written twice stays one point.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.kernel.errors import PlantwatchError

log = logging.getLogger(__name__)

HEADER = struct.Struct(">IIQ")
LINE_LENGTH = struct.Struct(">I")
FRAMED = b"\x00"  # payload format byte: length-prefixed lines
SEGMENT_MAX_BYTES = 32 * 1024 * 1024
SEGMENT_GLOB = "segment-*.spool"
WARN_FRACTION = 0.8  # say so loudly from 80 % of the bound on
WARN_INTERVAL_SECONDS = 30.0


class SpoolFull(PlantwatchError):
    """The batch is not in the spool (its size bound, or the disk refused); do not acknowledge."""


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def write_all(fd: int, data: bytes, write: Callable[[int, memoryview], int] = os.write) -> None:
    """Write every byte of `data` to `fd`, looping over short writes; raise OSError if stuck.

    A write that makes no progress is a failure (ENOSPC), never a silent success.
    """
    view = memoryview(data)
    while view:
        written = write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, "write made no progress")
        view = view[written:]


@dataclass(frozen=True, slots=True)
class Record:
    """One spooled batch: where it is, when it was appended, and its lines."""

    segment: Path
    appended_at_ms: int
    lines: tuple[str, ...]


def encode_record(lines: Sequence[str], appended_at_ms: int) -> bytes:
    """The bytes of one record (header + payload)."""
    payload = FRAMED + b"".join(
        LINE_LENGTH.pack(len(data)) + data for data in (line.encode("utf-8") for line in lines)
    )
    stamp = struct.pack(">Q", appended_at_ms)
    crc = zlib.crc32(stamp + payload)
    return HEADER.pack(len(payload), crc, appended_at_ms) + payload


def read_records(data: bytes) -> tuple[list[tuple[int, tuple[str, ...]]], int]:
    """Decode records from a segment's bytes; returns them and the count of bytes dropped.

    Decoding stops at the first short or corrupt record: only the last record can be torn,
    because each append is fsynced before the next one starts.
    """
    out: list[tuple[int, tuple[str, ...]]] = []
    offset = 0
    while offset + HEADER.size <= len(data):
        length, crc, appended_at_ms = HEADER.unpack_from(data, offset)
        start = offset + HEADER.size
        payload = data[start : start + length]
        if len(payload) != length or zlib.crc32(data[offset + 8 : start] + payload) != crc:
            break
        out.append((appended_at_ms, decode_lines(payload)))
        offset = start + length
    return out, len(data) - offset


def decode_lines(payload: bytes) -> tuple[str, ...]:
    """The lines of one record's payload (length-prefixed, or the older `\n`-joined form)."""
    if not payload.startswith(FRAMED):
        return tuple(payload.decode("utf-8").split("\n"))
    lines = []
    offset = len(FRAMED)
    while offset < len(payload):
        (length,) = LINE_LENGTH.unpack_from(payload, offset)
        offset += LINE_LENGTH.size
        lines.append(payload[offset : offset + length].decode("utf-8"))
        offset += length
    return tuple(lines)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """The spool folder; `append` is called by the collector, `drain` by the replayer."""

    def __init__(
        self, directory: Path, max_bytes: int, write: Callable[[int, memoryview], int] = os.write
    ) -> None:
        """`write` is `os.write` (a test passes one that writes short or fails)."""
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._current: Path | None = None
        self._fd: int | None = None
        self._last_warning = 0.0
        existing = self._segments()
        self._next_index = 1 + (int(existing[-1].stem.split("-")[1]) if existing else 0)
        self._bytes = sum(p.stat().st_size for p in existing)
        self._oldest_ms: int | None = None
        # True from a refused append (bound or disk) until the next one that lands.
        self.refusing = False
        self._write = write

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def is_empty(self) -> bool:
        return self._bytes == 0

    def oldest_appended_ms(self) -> int | None:
        """When the oldest record still waiting was appended (None if the spool is empty)."""
        if self.is_empty():
            return None
        if self._oldest_ms is None:
            segments = self._segments()
            if segments:
                with segments[0].open("rb") as fh:
                    head = fh.read(HEADER.size)
                if len(head) == HEADER.size:
                    self._oldest_ms = HEADER.unpack(head)[2]
        return self._oldest_ms

    def append(self, lines: Sequence[str]) -> int:
        """Append one batch and fsync it; raises `SpoolFull` rather than exceed the bound."""
        now_ms = int(time.time() * 1000)
        record = encode_record(lines, now_ms)
        with self._lock:
            if self._bytes + len(record) > self.max_bytes:
                self.refusing = True
                self._warn_full(len(record))
                raise SpoolFull(
                    f"spool {self.directory} holds {self._bytes} bytes; a {len(record)}-byte "
                    f"batch would pass its bound of {self.max_bytes}"
                )
            size = self._append_durably(record)
            self.refusing = False
            self._bytes += len(record)
            if self._oldest_ms is None:
                self._oldest_ms = now_ms
            if self._bytes >= WARN_FRACTION * self.max_bytes:
                self._warn_full(0)
            if size >= SEGMENT_MAX_BYTES:
                self._close_current()
        return len(record)

    def _append_durably(self, record: bytes) -> int:
        """Every byte written and fsynced (the segment's new size), or the segment as it was
        and `SpoolFull` raised."""
        start: int | None = None
        try:
            fd = self._open_current()
            start = os.fstat(fd).st_size
            write_all(fd, record, self._write)
            os.fsync(fd)
            return start + len(record)
        except OSError as exc:
            self.refusing = True
            self._undo(start)
            disk_full = exc.errno in DISK_FULL_ERRNOS
            log.error(
                "SPOOL FULL: the disk refused a batch; not acknowledging it, the broker keeps "
                "the readings"
                if disk_full
                else "SPOOL WRITE FAILED: not acknowledging the batch",
                extra={"spool_dir": str(self.directory), "error": str(exc)},
            )
            raise SpoolFull(f"spool {self.directory} could not store the batch: {exc}") from exc

    def _undo(self, start: int | None) -> None:
        # Cut the segment back to before the failed append; if even that fails, close it so
        # the torn bytes stay a torn tail and nothing is ever written behind them.
        if self._fd is None:
            return
        try:
            if start is not None:
                os.ftruncate(self._fd, start)
                os.fsync(self._fd)
                return
        except OSError as exc:
            log.error("could not cut back the spool segment", extra={"error": str(exc)})
        self._close_current()

    def closed_segments(self) -> list[Path]:
        """Segments nobody appends to any more, oldest first; closes the current one."""
        with self._lock:
            self._close_current()
            return self._segments()

    def records(self, segment: Path) -> Iterator[Record]:
        """The intact records of a closed segment, in order; a torn tail is dropped loudly."""
        data = segment.read_bytes()
        records, dropped = read_records(data)
        if dropped:
            log.warning(
                "spool segment has a torn last record; dropping it (never acknowledged, "
                "the broker redelivers it)",
                extra={"segment": str(segment), "dropped_bytes": dropped},
            )
        for appended_at_ms, lines in records:
            yield Record(segment, appended_at_ms, lines)

    def remove(self, segment: Path) -> None:
        """Delete a fully replayed segment."""
        with self._lock:
            size = segment.stat().st_size
            segment.unlink()
            _fsync_dir(self.directory)
            self._bytes = max(0, self._bytes - size)
            self._oldest_ms = None

    def close(self) -> None:
        with self._lock:
            self._close_current()

    def _segments(self) -> list[Path]:
        return sorted(self.directory.glob(SEGMENT_GLOB))

    def _open_current(self) -> int:
        if self._fd is None:
            self._current = self.directory / f"segment-{self._next_index:012d}.spool"
            self._next_index += 1
            self._fd = os.open(self._current, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            _fsync_dir(self.directory)  # the new file's name must survive a crash too
        return self._fd

    def _close_current(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._current = None

    def _warn_full(self, incoming: int) -> None:
        now = time.monotonic()
        if now - self._last_warning < WARN_INTERVAL_SECONDS and incoming == 0:
            return
        self._last_warning = now
        log.error(
            "SPOOL NEARLY FULL: InfluxDB has been unreachable; when the bound is reached the "
            "collector stops acknowledging and the broker must hold the readings",
            extra={
                "spool_dir": str(self.directory),
                "spool_bytes": self._bytes,
                "spool_max_bytes": self.max_bytes,
                "used_pct": round(100 * self._bytes / self.max_bytes, 1),
            },
        )
