"""(b) InfluxDB's ceiling: batched, gzipped line-protocol writes through `InfluxStore`."""

from __future__ import annotations

import time
from typing import Any

from bench.stack import Stack, progress
from bench.workload import ceiling_lines
from ingest.kernel.store import InfluxStore

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: a fixed, past day


def run(stack: Stack, points: int, batch_points: int, max_seconds: float) -> dict[str, Any]:
    """Points/s written by one client in `batch_points` batches (lines prepared beforehand)."""
    progress(f"influxdb ceiling: {points:,} points in batches of {batch_points:,}")
    lines = ceiling_lines(points, START_MS)
    written = 0
    with InfluxStore(stack.influx_url, "bench_influx_ceiling", timeout_seconds=60.0) as store:
        store.create_database()
        start = time.monotonic()
        for offset in range(0, points, batch_points):
            store.write_lines(lines[offset : offset + batch_points])
            written += len(lines[offset : offset + batch_points])
            if time.monotonic() - start > max_seconds:
                break
        elapsed = time.monotonic() - start
    rate = written / elapsed
    progress(f"influxdb ceiling: {rate:,.0f} points/s")
    return {
        "what": "InfluxStore.write_lines, gzip, one writer, lines encoded beforehand",
        "points": written,
        "batch_points": batch_points,
        "seconds": round(elapsed, 3),
        "points_per_s": round(rate),
    }
