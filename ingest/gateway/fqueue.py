"""A durable, ordered file queue of packets for store-and-forward (one per upstream).

`queue.log` holds records `LLLLLLLL TTTTTTTTTTTTT <packet>\\n` (8-digit length of the
packet, 13-digit epoch ms when it was queued); `cursor` holds the byte offset up to which
records are delivered. Appends and cursor moves are fsynced (the cursor is written to a
temporary file, fsynced, renamed over `cursor`, and the directory fsynced), so a SIGKILL or
power cut loses nothing acknowledged and delivers nothing twice that was committed. A torn
record at the tail (a crash mid-write, never acknowledged) is cut off when the queue opens.

Once everything is delivered and the log is past `COMPACT_BYTES`, it is renamed
`queue.prev` (replacing the one before) and a new log begins. The previous generation is
never sent again; it is kept so that `history()` still lists the packets queued lately
(the forwarder rebuilds its memory of them at start, to queue a logger's resend only once).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

LENGTH_DIGITS = 8
TIME_DIGITS = 13
PREFIX_BYTES = LENGTH_DIGITS + 1 + TIME_DIGITS + 1
COMPACT_BYTES = 8 << 20  # once everything is delivered, start a new log past this size


@dataclass(frozen=True, slots=True)
class Record:
    packet: bytes
    queued_ms: int
    end: int  # byte offset just after this record: the cursor once it is delivered


class FileQueue:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._directory = directory
        self._log_path = directory / "queue.log"
        self._prev_path = directory / "queue.prev"
        self._cursor_path = directory / "cursor"
        self._log = open(self._log_path, "a+b")  # noqa: SIM115 (held for the queue's life)
        _fsync_directory(directory)  # a log just created is there after a power cut
        self.size = _valid_size(self._log_path)
        if self.size != os.fstat(self._log.fileno()).st_size:
            self._log.truncate(self.size)
            os.fsync(self._log.fileno())
        saved = self._read_cursor()
        self.cursor = min(saved, self.size)
        if saved != self.cursor:
            # A crash while starting a new log leaves a cursor past its end: write it back
            # now, or records appended after this start would count as delivered later.
            self._write_cursor()

    def append(self, packets: list[bytes], now_ms: int) -> None:
        """Add packets at the end, durably (one fsync for the lot)."""
        stripped = [p.rstrip(b"\r\n") for p in packets]
        data = b"".join(b"%08d %013d %s\n" % (len(p), now_ms, p) for p in stripped)
        self._log.seek(0, os.SEEK_END)
        self._log.write(data)
        self._log.flush()
        os.fsync(self._log.fileno())
        self.size += len(data)

    def read(self, offset: int, max_records: int) -> list[Record]:
        """Up to `max_records` records starting at byte `offset`."""
        with open(self._log_path, "rb") as f:
            return list(itertools.islice(_records(f, offset, self.size), max_records))

    def history(self) -> Iterator[Record]:
        """Every record still on disk, oldest first: the previous log's, then this one's
        (delivered or not). `end` offsets of the previous log's records mean nothing."""
        if self._prev_path.exists():
            with open(self._prev_path, "rb") as f:
                yield from _records(f, 0, _valid_size(self._prev_path))
        with open(self._log_path, "rb") as f:
            yield from _records(f, 0, self.size)

    def commit(self, offset: int) -> None:
        """Everything before `offset` is delivered."""
        self.cursor = offset
        if self.cursor == self.size and self.size > COMPACT_BYTES:
            # Rename first: a crash before the cursor is rewritten leaves a cursor past the
            # end of the new (empty) log, which opening clamps and writes back.
            self._log.close()
            os.replace(self._log_path, self._prev_path)
            self._log = open(self._log_path, "a+b")  # noqa: SIM115
            _fsync_directory(self._directory)
            self.size = self.cursor = 0
        self._write_cursor()

    def pending_bytes(self) -> int:
        return self.size - self.cursor

    def oldest_queued_ms(self) -> int | None:
        records = self.read(self.cursor, 1)
        return records[0].queued_ms if records else None

    def close(self) -> None:
        self._log.close()

    def _write_cursor(self) -> None:
        tmp = self._cursor_path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(str(self.cursor))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._cursor_path)
        _fsync_directory(self._directory)  # the rename itself survives a power cut

    def _read_cursor(self) -> int:
        try:
            return int(self._cursor_path.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0


def _records(f: BinaryIO, offset: int, size: int) -> Iterator[Record]:
    """The whole records of an open log from byte `offset` up to `size`."""
    f.seek(offset)
    while offset < size:
        prefix = f.read(PREFIX_BYTES)
        length, queued = int(prefix[:LENGTH_DIGITS]), int(prefix[LENGTH_DIGITS + 1 : -1])
        packet = f.read(length)
        f.read(1)
        offset += PREFIX_BYTES + length + 1
        yield Record(packet, queued, offset)


def _valid_size(path: Path) -> int:
    """The length of the file's whole records (a torn tail is not counted)."""
    offset = 0
    with open(path, "rb") as f:
        while True:
            prefix = f.read(PREFIX_BYTES)
            if len(prefix) < PREFIX_BYTES or not prefix[:LENGTH_DIGITS].isdigit():
                return offset
            length = int(prefix[:LENGTH_DIGITS])
            body = f.read(length + 1)
            if len(body) < length + 1 or not body.endswith(b"\n"):
                return offset
            offset += PREFIX_BYTES + length + 1


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
