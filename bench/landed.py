"""Counting what landed in InfluxDB while a consumer works, and the rates it implies."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.stack import progress
from bench.stats import sustained_rate
from ingest.kernel.errors import StoreError
from ingest.kernel.store import InfluxStore

POLL_SECONDS = 0.25
STALL_SECONDS = 30.0


def count_points(store: InfluxStore, measurement: str = "gas", field: str = "volume_m3") -> int:
    """Points of one field in the store's database (0 if none yet)."""
    try:
        series = store.query(f'SELECT count("{field}") FROM "{measurement}"')
    except StoreError:
        return 0
    return int(series[0].values[0][1]) if series and series[0].values else 0


def watch(
    store: InfluxStore,
    total: int,
    max_seconds: float,
    label: str,
    still_running: Callable[[], bool] = lambda: True,
) -> tuple[list[tuple[float, int]], float]:
    """Poll the count until `total` landed, it stalls, or time is up; returns (samples, start)."""
    start = time.monotonic()
    samples: list[tuple[float, int]] = [(0.0, 0)]
    last_change = start
    last_report = start
    while True:
        time.sleep(POLL_SECONDS)
        now = time.monotonic()
        n = count_points(store)
        if n != samples[-1][1]:
            last_change = now
        samples.append((now - start, n))
        if now - last_report >= 5.0:
            progress(f"{label}: {n:,}/{total:,} landed")
            last_report = now
        if n >= total or now - start > max_seconds or now - last_change > STALL_SECONDS:
            break
        if not still_running():
            break
    return samples, start


def figures(samples: list[tuple[float, int]], total: int) -> dict[str, Any]:
    """Landed count, overall and sustained (10 %..90 %) points/s."""
    landed = samples[-1][1]
    elapsed = next((t for t, n in samples if n >= total), samples[-1][0])
    sustained = sustained_rate(samples, landed)
    return {
        "landed": landed,
        "complete": landed >= total,
        "seconds_to_all_landed": round(elapsed, 2) if landed >= total else None,
        "overall_per_s": round(landed / elapsed) if elapsed else None,
        "sustained_per_s": round(sustained) if sustained else None,
    }
