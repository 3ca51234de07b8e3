"""Self-monitoring: exposition format, the ingest_stats point, the HTTP endpoint."""

from __future__ import annotations

import socket
import struct
import threading

from ingest.metrics import Counters, MetricsServer, exposition, read_exposition, stats_line
from tests.support import http_get

VALUES = {
    "received": 12,
    "points_written": 30,
    "refused": 1,
    "spooled": 5,
    "replayed": 5,
    "write_failures": 2,
    "spool_bytes": 0,
    "lag_seconds": 0.25,
}


def test_counters_add_and_snapshot() -> None:
    counters = Counters()
    counters.add(received=2, spooled=3)
    counters.add(received=1)
    snap = counters.snapshot()
    assert snap["received"] == 3 and snap["spooled"] == 3 and snap["points_written"] == 0
    assert "_lock" not in snap


def test_exposition_format() -> None:
    text = exposition(VALUES, 'c-1"x')
    assert "# TYPE plantwatch_ingest_received_total counter\n" in text
    assert 'plantwatch_ingest_received_total{collector="c-1\\"x"} 12.0\n' in text
    assert 'plantwatch_ingest_lag_seconds{collector="c-1\\"x"} 0.25\n' in text
    assert "# TYPE plantwatch_ingest_spool_bytes gauge" in text


def test_stats_line_has_the_dashboard_fields() -> None:
    # No `i` suffix: every field is a float in InfluxDB, as the data model promises.
    line = stats_line(VALUES, "collector-1", 1_772_323_200_000)
    assert line == (
        "ingest_stats,collector=collector-1 lag_seconds=0.25,points_written=30,"
        "received=12,refused=1,replayed=5,spool_bytes=0,spooled=5 1772323200000"
    )


def test_http_endpoint() -> None:
    server = MetricsServer("127.0.0.1", 0, lambda: exposition(VALUES, "c"))
    server.start()
    try:
        resp = http_get(f"http://127.0.0.1:{server.port}/metrics")
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert 'plantwatch_ingest_refused_total{collector="c"} 1.0' in resp.text
        assert http_get(f"http://127.0.0.1:{server.port}/other").status_code == 404
    finally:
        server.stop()


def test_read_exposition_is_the_inverse_of_exposition_over_several_collectors() -> None:
    text = exposition(VALUES, "c-1") + exposition({"received": 3, "lag_seconds": -1}, "c-2")
    assert read_exposition(text) == {
        "received": [12.0, 3.0],  # a counter's `_total` taken off
        "points_written": [30.0],
        "refused": [1.0],
        "spooled": [5.0],
        "replayed": [5.0],
        "write_failures": [2.0],
        "spool_bytes": [0.0],
        "lag_seconds": [0.25, -1.0],
    }
    assert read_exposition('other_metric 1\nplantwatch_ingest_x{a="b"} not-a-number\n') == {}


def test_a_client_hanging_up_mid_answer_leaves_no_traceback(capfd) -> None:
    """A balancer's health check closes once it has the status line (make cluster checks
    every gateway twice a second): before, each left a ConnectionResetError traceback."""
    served = threading.Event()

    def render() -> str:
        served.set()
        return "x" * (8 << 20)  # more than the socket buffers: the write meets the reset

    server = MetricsServer("127.0.0.1", 0, render).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            assert served.wait(10)
            sock.recv(100)  # the status line, then hang up with a reset
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        assert http_get(f"http://127.0.0.1:{server.port}/metrics").status_code == 200
    finally:
        server.stop()
    assert "Traceback" not in capfd.readouterr().err
