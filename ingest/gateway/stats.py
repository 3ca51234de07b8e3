"""The gateway's counters and gauges, served like the collector's (`ingest/metrics.py`)."""

from __future__ import annotations

import logging
import threading
from collections import Counter

from ingest.metrics import exposition

log = logging.getLogger(__name__)

# A repeated event (a late PUBACK per packet under a backlog) is logged at most this often.
REPEAT_LOG_SECONDS = 60.0
PEERS_NAMED = 5  # peers a summary names; the rest only counted

# name -> (Prometheus type, help): `plantwatch_hj212_<name>[_total]{gateway="..."}`
GATEWAY_METRICS: dict[str, tuple[str, str]] = {
    "connections_accepted": ("counter", "TCP connections accepted from data loggers"),
    "connections_open": ("gauge", "TCP connections open now"),
    "closed_idle": ("counter", "connections closed after the idle timeout"),
    "closed_slow": ("counter", "connections closed: a packet did not complete in time"),
    "closed_stalled": (
        "counter",
        "connections closed: not read for the idle timeout, their packets awaiting the broker",
    ),
    "closed_oversize": ("counter", "connections closed: a header announced an oversized packet"),
    "closed_too_many": ("counter", "connections refused: too many in all"),
    "closed_too_many_per_address": ("counter", "connections refused: too many from one address"),
    "closed_bad_proxy_header": (
        "counter",
        "balancer connections closed: no valid PROXY header (hj212_proxy_from)",
    ),
    "closed_not_reading": ("counter", "connections closed: the logger does not read its answers"),
    "closed_bad_frames": ("counter", "connections closed after too many bad frames or garbage"),
    "closed_noisy_address": (
        "counter",
        "connections refused at once: their address keeps being closed for bad frames",
    ),
    "closed_locked_out": ("counter", "connections closed: their address was locked out"),
    "auth_failures": ("counter", "packets with a wrong PW (or undecryptable) for a known MN"),
    "lockouts": ("counter", "lockouts begun (per MN or per address) after repeated failures"),
    "refused_locked_out": ("counter", "packets refused because their MN or address is locked"),
    "refusals_not_kept": ("counter", "refusals only counted (over the per-minute sample)"),
    "dead_letters_written": ("counter", "dead letters and gateway events written to the store"),
    "dead_letters_dropped": ("counter", "dead letters dropped: the writer's queue was full"),
    "packets": ("counter", "packets framed with a valid length and CRC"),
    "garbage_bytes": ("counter", "bytes between packets that belonged to no packet"),
    "published": ("counter", "packets published to MQTT and acknowledged by the broker"),
    "answers": ("counter", "CN 9014 answers sent (each after the broker's PUBACK)"),
    "refused": ("counter", "packets refused (dead letter, no answer)"),
    "resends_joined": (
        "counter",
        "resends of a packet still awaiting its PUBACK (not published again)",
    ),
    "resends_answered": (
        "counter",
        "resends of a packet answered lately, answered again at once (not published again)",
    ),
    "deferred": ("counter", "packets left unanswered because the broker was unreachable"),
    "answer_timeouts": (
        "counter",
        "publishes whose PUBACK came later than the answer timeout (answered when it comes)",
    ),
    "reads_paused": (
        "counter",
        "times a connection was not read: its packets awaiting the broker were at the bound",
    ),
    "pending_answers": ("gauge", "packets waiting for the broker's PUBACK"),
    "commands_sent": ("counter", "commands sent to loggers (CN 1011/1012/2051/2061)"),
    "command_answers": ("counter", "answers (9011/9012/1011) received from loggers"),
    "commands_not_queued": (
        "counter",
        "commands not queued: one for that logger and CN is pending already",
    ),
    "command_timeouts": ("counter", "command attempts that timed out"),
    "forwarded": ("counter", "packets delivered to upstream platforms (their 9014 received)"),
    "forward_queue_bytes": ("gauge", "bytes of packets waiting to be forwarded upstream"),
    "forward_lag_seconds": ("gauge", "age of the oldest packet not yet forwarded upstream"),
    "forward_queue_fill": ("gauge", "fullest forward queue, fraction of its maximum (alarm 0.8)"),
    "forward_queue_full": ("counter", "packets left unanswered: the forward queue was full"),
    "forward_quarantined": ("counter", "queued packets set aside unsent (forward quarantine)"),
    "forward_odd_answers": ("counter", "frames from an upstream that were not HJ 212 (skipped)"),
    "forward_session_errors": ("counter", "upstream sessions ended by an unexpected error"),
    "split_parts_held": (
        "counter",
        "parts of split packets (PNUM/PNO) held until the rest of their packet arrives",
    ),
}


class Tally:
    """Thread-safe counters (paho's thread and the event loop both count)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, value: int = 1) -> None:
        if name not in GATEWAY_METRICS:
            raise KeyError(f"unknown gateway metric {name!r}")
        with self._lock:
            self._counts[name] += value

    def get(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {name: float(self._counts[name]) for name in GATEWAY_METRICS}


def render(values: dict[str, float], gateway_id: str) -> str:
    """Prometheus text of the gateway's metrics."""
    return exposition(values, gateway_id, GATEWAY_METRICS, "plantwatch_hj212", "gateway")


class RepeatLog:
    """One warning per interval for an event that can come thousands of times a minute.

    The first event is logged at once; the ones after it within `interval_seconds` are
    counted with their peers and logged as one line when the next event comes after the
    interval, or at `flush`. The event's counter in the `Tally` counts every one.
    """

    def __init__(self, message: str, interval_seconds: float = REPEAT_LOG_SECONDS) -> None:
        self.message = message
        self.interval_seconds = interval_seconds
        self._count = 0
        self._peers: Counter[str] = Counter()
        self._logged_at: float | None = None

    def note(self, peer: str, now: float) -> None:
        self._count += 1
        self._peers[peer] += 1
        if self._logged_at is None or now - self._logged_at >= self.interval_seconds:
            self._logged_at = now
            self.flush()

    def flush(self) -> None:
        if not self._count:
            return
        log.warning(
            self.message,
            extra={
                "count": self._count,
                "peers": len(self._peers),
                "top_peers": dict(self._peers.most_common(PEERS_NAMED)),
            },
        )
        self._count = 0
        self._peers.clear()
