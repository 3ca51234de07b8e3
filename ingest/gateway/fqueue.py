"""A durable, ordered file queue of packets for store-and-forward (one per upstream).

`queue.log` holds records `LLLLLLLL TTTTTTTTTTTTT <packet>\\n` (8-digit length of the
packet, 13-digit epoch ms when it was queued); `cursor` holds the byte offset up to which
records are delivered. Appends and cursor moves are fsynced, so a SIGKILL or power cut
loses nothing acknowledged and delivers nothing twice that was committed. A torn record at
the tail (a crash mid-write, never acknowledged) is cut off when the queue opens.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

LENGTH_DIGITS = 8
TIME_DIGITS = 13
PREFIX_BYTES = LENGTH_DIGITS + 1 + TIME_DIGITS + 1
COMPACT_BYTES = 1 << 20  # once everything is delivered, start the file again past this size


@dataclass(frozen=True, slots=True)
class Record:
    packet: bytes
    queued_ms: int
    end: int  # byte offset just after this record: the cursor once it is delivered


class FileQueue:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._log_path = directory / "queue.log"
        self._cursor_path = directory / "cursor"
        self._log = open(self._log_path, "a+b")  # noqa: SIM115 (held for the queue's life)
        self.size = self._valid_size()
        if self.size != os.fstat(self._log.fileno()).st_size:
            self._log.truncate(self.size)
            os.fsync(self._log.fileno())
        self.cursor = min(self._read_cursor(), self.size)

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
        out: list[Record] = []
        with open(self._log_path, "rb") as f:
            f.seek(offset)
            while len(out) < max_records and offset < self.size:
                prefix = f.read(PREFIX_BYTES)
                length, queued = int(prefix[:LENGTH_DIGITS]), int(prefix[LENGTH_DIGITS + 1 : -1])
                packet = f.read(length)
                f.read(1)
                offset += PREFIX_BYTES + length + 1
                out.append(Record(packet, queued, offset))
        return out

    def commit(self, offset: int) -> None:
        """Everything before `offset` is delivered."""
        self.cursor = offset
        if self.cursor == self.size and self.size > COMPACT_BYTES:
            # Truncate first: a crash before the cursor is rewritten leaves a cursor past
            # the end, which opening clamps to the (empty) file.
            self._log.truncate(0)
            os.fsync(self._log.fileno())
            self.size = self.cursor = 0
        tmp = self._cursor_path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(str(self.cursor))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._cursor_path)

    def pending_bytes(self) -> int:
        return self.size - self.cursor

    def oldest_queued_ms(self) -> int | None:
        records = self.read(self.cursor, 1)
        return records[0].queued_ms if records else None

    def close(self) -> None:
        self._log.close()

    def _read_cursor(self) -> int:
        try:
            return int(self._cursor_path.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _valid_size(self) -> int:
        """The length of the file's whole records (a torn tail is not counted)."""
        offset = 0
        with open(self._log_path, "rb") as f:
            while True:
                prefix = f.read(PREFIX_BYTES)
                if len(prefix) < PREFIX_BYTES or not prefix[:LENGTH_DIGITS].isdigit():
                    return offset
                length = int(prefix[:LENGTH_DIGITS])
                body = f.read(length + 1)
                if len(body) < length + 1 or not body.endswith(b"\n"):
                    return offset
                offset += PREFIX_BYTES + length + 1
