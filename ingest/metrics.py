"""A collector's self-monitoring: counters, Prometheus text exposition, `ingest_stats` points.

Counters are cumulative since the process started (Prometheus style); `spool_bytes` and
`lag_seconds` are gauges. The same numbers are served at `http://<host>:<metrics_port>/metrics`
and written every `stats_interval_seconds` to the store as one `ingest_stats` point tagged
with the collector id (docs/data-model.md).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ingest.kernel.lineproto import Point, encode

log = logging.getLogger(__name__)

STATS_MEASUREMENT = "ingest_stats"
# name -> (Prometheus type, help); the InfluxDB field names are the same names.
METRICS: dict[str, tuple[str, str]] = {
    "received": ("counter", "MQTT messages received"),
    "points_written": ("counter", "points written to InfluxDB (directly or from the spool)"),
    "refused": ("counter", "messages refused (kept as dead letters)"),
    "partially_refused": (
        "counter",
        "JSON messages kept in part: invalid values or dropped readings (dead letter too)",
    ),
    "spooled": ("counter", "points appended to the local spool while InfluxDB was unavailable"),
    "replayed": ("counter", "points replayed from the spool into InfluxDB"),
    "write_failures": ("counter", "InfluxDB write attempts that failed"),
    "duplicates": ("counter", "values resent identically to their record (nothing written)"),
    "revisions": ("counter", "different values for recorded readings, kept as revisions"),
    "spool_bytes": ("gauge", "bytes waiting in the local spool"),
    "spool_full": (
        "gauge",
        "1 while the spool refuses batches (its bound or a full disk): nothing is acknowledged",
    ),
    "broker_queued_messages": (
        "gauge",
        "messages the broker's store holds ($SYS; -1 until heard); each client may queue "
        "MAX_QUEUED_MESSAGES",
    ),
    "broker_queued_bytes": ("gauge", "bytes the broker's store holds ($SYS; -1 until heard)"),
    "broker_queue_alarm": (
        "gauge",
        "1 from half a client's queue limit on: the broker drops readings past the limit",
    ),
    "lag_seconds": ("gauge", "age of the oldest received reading not yet in InfluxDB"),
    "subscribed": ("gauge", "1 once the broker acknowledged the subscriptions (it queues for us)"),
}
STATS_FIELDS = (
    "received",
    "points_written",
    "refused",
    "spooled",
    "replayed",
    "spool_bytes",
    "lag_seconds",
)


@dataclass
class Counters:
    """Thread-safe counters shared by the collector's threads."""

    received: int = 0
    points_written: int = 0
    refused: int = 0
    partially_refused: int = 0
    spooled: int = 0
    replayed: int = 0
    write_failures: int = 0
    duplicates: int = 0
    revisions: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **increments: int) -> None:
        """Add to one or more counters atomically."""
        with self._lock:
            for name, value in increments.items():
                setattr(self, name, getattr(self, name) + value)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_lock"}


def exposition(
    values: Mapping[str, float],
    collector: str,
    metrics: Mapping[str, tuple[str, str]] = METRICS,
    prefix: str = "plantwatch_ingest",
    label_name: str = "collector",
) -> str:
    """Prometheus text exposition format (version 0.0.4) of a process's metrics."""
    label = collector.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    out = []
    for name, (kind, help_text) in metrics.items():
        if name not in values:
            continue
        metric = f"{prefix}_{name}" + ("_total" if kind == "counter" else "")
        out.append(f"# HELP {metric} {help_text}")
        out.append(f"# TYPE {metric} {kind}")
        out.append(f'{metric}{{{label_name}="{label}"}} {float(values[name])!r}')
    return "\n".join(out) + "\n"


def read_exposition(text: str, prefix: str = "plantwatch_ingest") -> dict[str, list[float]]:
    """The samples of `exposition`'s metrics in a scrape (several collectors' pages may be
    joined), by metric name as in METRICS (a counter's `_total` taken off)."""
    out: dict[str, list[float]] = {}
    for line in text.splitlines():
        if not line.startswith(prefix + "_"):
            continue
        metric, _, value = line.rpartition(" ")
        name = metric.split("{", 1)[0][len(prefix) + 1 :].removesuffix("_total")
        try:
            number = float(value)
        except ValueError:
            continue
        out.setdefault(name, []).append(number)
    return out


def stats_point(values: Mapping[str, float], collector: str, ts_ms: int) -> Point:
    """One `ingest_stats` point; every field a float, like every other numeric field."""
    return Point(
        STATS_MEASUREMENT,
        {"collector": collector},
        {name: float(values[name]) for name in STATS_FIELDS},
        ts_ms,
    )


def stats_line(values: Mapping[str, float], collector: str, ts_ms: int) -> str:
    """`stats_point` as line protocol."""
    return encode(stats_point(values, collector, ts_ms))


class _QuietServer(ThreadingHTTPServer):
    """A scraper or a balancer's health check that hangs up mid-answer is not an error
    (HAProxy closes once it has the status line): no traceback on stderr for it."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class MetricsServer:
    """A tiny HTTP server answering `GET /metrics` from a snapshot callable."""

    def __init__(self, host: str, port: int, render: Callable[[], str]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics is served here")
                    return
                body = render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # scrapes every few seconds must not flood the log

        self._server = _QuietServer((host, port), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics", daemon=True
        )

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
