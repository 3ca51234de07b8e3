"""Pace a back-fill by what the collector has taken, so the broker never holds a month.

`make run` back-fills a month (2 million readings) faster than one collector stores it. What
the collector has not acknowledged stays in Mosquitto's store, and Mosquitto, for durable
acknowledgements, rewrites its whole store after every loop pass that changed it (about
4 ms per MB, fsync included). A pass reads at most one packet from each connection, so 89
plants back-filling add up to 89 messages a pass while the collector's one connection
removes one: the store grows, every pass gets slower, and at 406 MB the gateway's barriers
timed out and the TCP loggers' data fell two hours behind (docs/decisions.md, "the broker
under a back-fill"). The simulator therefore publishes at most `window` readings (about 200
messages, a few MB of store) ahead of the collectors' counters (their `/metrics`, summed over
the partitions of `make cluster`), looked at before every message. A collector that does not move for `stall_seconds` (InfluxDB away, the
collector stopped) releases the pace.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from ingest.metrics import read_exposition

log = logging.getLogger(__name__)

DEFAULT_WINDOW_READINGS = 20_000
# What the broker's store may hold (bytes, its `$SYS` figure through the collector's gauge):
# a save of 4 MB takes about 16 ms, so the collector's one acknowledgement a pass keeps up.
DEFAULT_MAX_STORE_BYTES = 4 * 1024 * 1024
STALL_SECONDS = 60.0
POLL_SECONDS = 0.5
# What the collector has taken off the broker: stored, resent identically, or kept as revisions.
HANDLED = ("points_written", "duplicates", "revisions")


def handled_readings(metrics_text: str) -> int:
    """Readings the collector has taken, summed over every collector in the exposition."""
    samples = read_exposition(metrics_text)
    return int(sum(v for name in HANDLED for v in samples.get(name, ())))


def store_bytes(metrics_text: str) -> int | None:
    """The most any collector heard the broker's store holds (None: not heard yet)."""
    heard = read_exposition(metrics_text).get("broker_queued_bytes", [])
    return int(max(heard)) if heard and max(heard) >= 0 else None


@dataclass(frozen=True, slots=True)
class Look:
    handled: int
    store_bytes: int | None


class CollectorPace:
    """Blocks a publisher while it is more than `window` readings ahead of the collector or
    the broker's store holds more than `max_store_bytes`."""

    def __init__(
        self,
        urls: Sequence[str],
        window: int = DEFAULT_WINDOW_READINGS,
        max_store_bytes: int = DEFAULT_MAX_STORE_BYTES,
        *,
        stall_seconds: float = STALL_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        fetch: Callable[[str], str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.urls, self.window, self.max_store_bytes = list(urls), window, max_store_bytes
        self.stall_seconds, self.poll_seconds = stall_seconds, poll_seconds
        self.fetch = fetch or (lambda u: httpx.get(u, timeout=2.0).text)
        self.clock = clock
        self._base: int | None = None  # the collector's count when pacing began
        self._last: Look | None = None
        self._looked_at = float("-inf")

    def _look(self) -> Look | None:
        self._looked_at = self.clock()
        try:  # every collector's page: each takes its partition of the plants
            text = "\n".join(self.fetch(url) for url in self.urls)
        except httpx.HTTPError:
            return None
        return Look(handled_readings(text), store_bytes(text))

    def _held(self, published: int) -> bool:
        assert self._base is not None and self._last is not None
        ahead = published - (self._last.handled - self._base)
        full = self._last.store_bytes is not None and self._last.store_bytes > self.max_store_bytes
        return ahead > self.window or full

    def wait(self, published: int, stop: threading.Event) -> None:
        """Return once `published` is within the window and the broker's store is small.

        Asked before every message: it looks at the collector at most every `poll_seconds`.
        """
        recent = self._last is not None and self.clock() - self._looked_at < self.poll_seconds
        if recent and not self._held(published):
            return
        moved_at = self.clock()
        looked = False
        while not stop.is_set():
            if looked:
                stop.wait(self.poll_seconds)
            looked = True
            look = self._look()
            if look is None:
                return  # no collector to pace by (not started yet, another setup): publish
            if self._base is None:
                self._base = look.handled
            if look != self._last:
                self._last, moved_at = look, self.clock()
            if not self._held(published):
                return
            if self.clock() - moved_at > self.stall_seconds:
                log.warning(
                    "neither the collector nor the broker's store has moved; publishing on",
                    extra={"published": published, "store_bytes": look.store_bytes},
                )
                return
