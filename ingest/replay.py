"""The replayer: drains the spool into the store, oldest record first, with backoff and jitter.

Runs on its own thread beside the collector's main loop. A record is retried until the store
takes it; a record the store refuses outright (4xx) is written line by line and each refused
line becomes a `store_rejected` dead letter, so one bad line never blocks the spool.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Callable, Sequence

from ingest.kernel.engines import StoreEngine
from ingest.kernel.errors import StoreRejected, StoreUnavailable
from ingest.kernel.lineproto import parse_line
from ingest.metrics import Counters
from ingest.spool import Record, Spool

log = logging.getLogger(__name__)

RETRY_MIN_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
IDLE_POLL_SECONDS = 0.2


def backoff_seconds(
    attempt: int, low: float = RETRY_MIN_SECONDS, high: float = RETRY_MAX_SECONDS
) -> float:
    """Exponential backoff with full jitter in [d/2, d], d = min(high, low * 2**attempt)."""
    delay = min(high, low * 2**attempt)
    return random.uniform(delay / 2, delay)


class Replayer:
    """Drains a spool into a store until `stop` is set."""

    def __init__(
        self,
        spool: Spool,
        store: StoreEngine,
        counters: Counters,
        stop: threading.Event,
        dead_letter: Callable[[str, str, str], str],
        write: Callable[[Sequence[str]], None],
    ) -> None:
        self.spool = spool
        self.store = store
        self.counters = counters
        self.stop = stop
        # (plant, reason, line) -> a dead-letter line for a line the store refused
        self.dead_letter = dead_letter
        # The collector's record keeper (`RecordKeeper.write_lines`): a replayed reading
        # takes the first-write rule of whichever engine, as a live one does. No plain-write
        # fallback: on ClickHouse it would add a row per resend that no check prevented.
        self.write = write
        self._thread = threading.Thread(target=self.run, name="replayer", daemon=True)

    def start(self) -> Replayer:
        self._thread.start()
        return self

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def run(self) -> None:
        """Replay until stopped; a segment is deleted only once all of it is in the store."""
        while not self.stop.is_set():
            if self.spool.is_empty():
                self.stop.wait(IDLE_POLL_SECONDS)
                continue
            for segment in self.spool.closed_segments():
                for record in self.spool.records(segment):
                    if not self._replay(record):
                        return  # stopping: the segment stays and is replayed next start
                self.spool.remove(segment)
                log.info("spool segment replayed", extra={"segment": segment.name})

    def _replay(self, record: Record) -> bool:
        attempt = 0
        while not self.stop.is_set():
            try:
                written = self._write(record)
            except StoreUnavailable as exc:
                self.counters.add(write_failures=1)
                delay = backoff_seconds(attempt)
                attempt += 1
                log.warning(
                    "replay waits for the store",
                    extra={"error": str(exc), "retry_in_s": round(delay, 2)},
                )
                if self.stop.wait(delay):
                    return False
                self._create_database()
                continue
            self.counters.add(replayed=written, points_written=written)
            return True
        return False

    def _write(self, record: Record) -> int:
        try:
            self.write(record.lines)
            return len(record.lines)
        except StoreRejected as exc:
            log.warning("spooled batch rejected, replaying line by line", extra={"error": str(exc)})
        written = 0
        for line in record.lines:
            try:
                self.write([line])
                written += 1
            except StoreRejected as exc:
                point = parse_line(line)
                plant = point.tags.get("plant", "") if point is not None else ""
                self.write([self.dead_letter(plant, str(exc), line)])
                self.counters.add(refused=1)
        return written

    def _create_database(self) -> None:
        with contextlib.suppress(StoreUnavailable, StoreRejected):
            self.store.create_database()  # if still down, the next attempt tells
