"""Refused packets cost less than packets: counted always, kept as dead letters by sample.

Every refusal is counted (`refused`). Of the refusals of one source (its MN, else its
address) and one reason, at most `KEEP_PER_MINUTE` a minute become dead letters (and a
message on the plant's `rejected` topic); the rest are only counted (`refusals_not_kept`).
What is kept goes to the store in batches from one thread through a bounded queue: a flood of
refusals can neither grow memory nor occupy more than one writer (`dead_letters_dropped`
counts what a full queue turned away). The gateway's own events (`hj212_event` points,
e.g. a lockout) take the same writer. A batch the store cannot take now (away, or on
ClickHouse 18.16 a quorum insert of another writer still pending: one at a time per table)
is tried again a few times with backoff before it is logged as lost.
"""

from __future__ import annotations

import logging
import queue
import re
import threading

from ingest.gateway.stats import Tally
from ingest.kernel.errors import StoreUnavailable
from ingest.kernel.store import Store
from ingest.replay import backoff_seconds

log = logging.getLogger(__name__)

KEEP_PER_MINUTE = 5
MAX_SOURCES = 10_000  # (source, reason) pairs tracked per minute at most
MAX_QUEUED_LINES = 10_000
BATCH_LINES = 1_000
# Tries of one batch while the store answers "not now" (backoff 0.1 s doubling, up to ~6 s).
WRITE_ATTEMPTS = 7
_PW_FIELD = re.compile(rb"PW=[^;&]*")
REDACTED = b"PW=******"


def redacted(raw: bytes) -> bytes:
    """The packet as kept in a dead letter: its PW hidden (a refused guess may be right)."""
    return _PW_FIELD.sub(REDACTED, raw)


class RefusalSampler:
    """Which refusals to keep: the first `keep_per_minute` per (source, reason) a minute. Pure."""

    def __init__(self, keep_per_minute: int = KEEP_PER_MINUTE, max_sources: int = MAX_SOURCES):
        self.keep_per_minute = keep_per_minute
        self.max_sources = max_sources
        self._minute = -1
        self._counts: dict[tuple[str, str], int] = {}

    def keep(self, source: str, reason_code: str, now_s: float) -> bool:
        minute = int(now_s // 60)
        if minute != self._minute:
            self._minute, self._counts = minute, {}
        key = (source, reason_code)
        seen = self._counts.get(key, 0)
        if seen == 0 and len(self._counts) >= self.max_sources:
            return False  # a flood from ever new sources: counted, not kept
        self._counts[key] = seen + 1
        return seen < self.keep_per_minute


class LineWriter:
    """Writes line-protocol lines to the store in batches, from one thread, bounded."""

    def __init__(self, store: Store, tally: Tally, max_lines: int = MAX_QUEUED_LINES):
        self.store = store
        self.tally = tally
        self._lines: queue.Queue[str | None] = queue.Queue(max_lines)
        self._closing = threading.Event()  # no more waiting between tries
        self._thread = threading.Thread(target=self._run, name="hj212-dead-letters", daemon=True)
        self._thread.start()

    def put(self, line: str) -> None:
        try:
            self._lines.put_nowait(line)
        except queue.Full:
            self.tally.add("dead_letters_dropped")

    def close(self) -> None:
        self._closing.set()
        self._lines.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._lines.get()
            if first is None:
                return
            batch, stop = [first], False
            while len(batch) < BATCH_LINES:
                try:
                    more = self._lines.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[str]) -> None:
        for attempt in range(WRITE_ATTEMPTS):
            try:
                self.store.write_lines(batch)
                self.tally.add("dead_letters_written", len(batch))
                return
            except StoreUnavailable as exc:
                error: Exception = exc
                last = attempt == WRITE_ATTEMPTS - 1
                if last or self._closing.wait(backoff_seconds(attempt, 0.1, 4.0)):
                    break
            except Exception as exc:
                error = exc
                break
        log.error(
            "dead letters not written",
            extra={"error": str(error), "lines": len(batch), "first": batch[0][:300]},
        )
