"""(h) Power monitoring (SPEC 13): the out-of-sync pass over 1,000 lines; the 15-minute means' cost.

1. The pure pass the alert engine and the lines endpoints run: 1,000 lines (one production
   and one treatment meter each) over a day of quarter hours, through `line_buckets`,
   `periods` and the `treatment_not_running` rule. Target ≤ 1 s.
2. What the power "rollup" costs: the 15-minute means are `mean(power_kw) GROUP BY time(15m)`
   asked of InfluxDB at read time (docs/decisions.md). Minute `power_kw` of `meters` meters
   over `days` is written to the private InfluxDB, then timed: one meter-month, all meters
   at once (per meter-month), and the register fallback (`energy_kwh` only, the consumption
   rule per quarter hour in Python) for one meter-month.

`python -m bench.power` runs it alone (starts its own InfluxDB); `python -m bench --only power`
runs it with the others.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from api.alerts.rules import treatment_not_running
from api.power import queries
from api.power.rules import (
    BUCKET_MS,
    MeterPower,
    bucket_grid,
    bucket_power_from_energy,
    line_buckets,
    periods,
)
from bench.stack import Stack, progress, start_stack
from ingest.kernel.store import InfluxStore

DATABASE = "bench_power"
BATCH_LINES = 20_000
TARGET_PASS_MS = 1000.0
LINES = 1000


def pass_over_lines(lines: int, repeats: int) -> dict[str, Any]:
    """The pure out-of-sync pass over `lines` lines, a day of quarter hours each."""
    rng = np.random.default_rng(2026)
    now = datetime(2026, 12, 8, 4, tzinfo=UTC)
    grid = bucket_grid(
        int((now - timedelta(days=1)).timestamp() * 1000), int(now.timestamp() * 1000)
    )
    n = grid.size
    data = []
    for i in range(lines):
        prod = 100 * rng.uniform(0.0, 1.0, n)
        fan = 10 * np.where(rng.random(n) < 0.05, 0.05, rng.uniform(0.3, 1.0, n))
        data.append(
            (
                f"p-{i:04d}",
                [
                    MeterPower("prod-1", "production", prod, 100.0),
                    MeterPower("rto-1", "treatment", fan, 10.0),
                ],
            )
        )
    timings = []
    found = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        judged = [line_buckets(plant, "line-1", grid, meters) for plant, meters in data]
        found = sum(len(periods(j.grid_ms, j.out_of_sync)) for j in judged)
        treatment_not_running(judged, now)
        timings.append((time.perf_counter() - t0) * 1000)
    median = float(np.median(timings))
    return {
        "lines": lines,
        "quarter_hours_per_line": int(n),
        "out_of_sync_periods": found,
        "pass_ms_median": round(median, 1),
        "pass_ms_best": round(min(timings), 1),
        "pass_target_ms": TARGET_PASS_MS,
        "pass_vs_target": round(median / TARGET_PASS_MS, 3),
    }


def means_cost(stack: Stack, meters: int, days: float, repeats: int) -> dict[str, Any]:
    """Write minute power of `meters` meters over `days`, then time the 15-minute means."""
    store = InfluxStore(stack.influx_url, DATABASE)
    store.create_database()
    end = datetime(2026, 12, 1, tzinfo=UTC)
    start = end - timedelta(days=days)
    start_ms = int(start.timestamp() * 1000)
    minutes = int(days * 1440)
    rng = np.random.default_rng(7)
    t0 = time.monotonic()
    for m in range(meters):
        kw = 50 + 20 * rng.standard_normal(minutes).cumsum() / np.sqrt(minutes)
        energy = 1e5 + np.cumsum(np.abs(kw)) / 60
        lines = [
            f"electricity,meter=prod-1,plant=p-{m:03d} power_kw={abs(kw[i]):.2f},"
            f'power_kw_flag="N",energy_kwh={energy[i]:.3f} {start_ms + i * 60_000}'
            for i in range(minutes)
        ]
        for k in range(0, len(lines), BATCH_LINES):
            store.write_lines(lines[k : k + BATCH_LINES])
    write_s = time.monotonic() - t0
    progress(f"power: wrote {meters * minutes} minute readings in {write_s:.1f}s")
    month = days / 30.0

    def timed(call: Any) -> float:
        samples = []
        for _ in range(repeats):
            t1 = time.perf_counter()
            call()
            samples.append((time.perf_counter() - t1) * 1000)
        return float(np.median(samples))

    one_ms = timed(lambda: queries.bucket_means(store, ["p-000"], start, end))
    all_ms = timed(lambda: queries.bucket_means(store, None, start, end))
    raw = queries.energy_readings(store, ["p-000"], start, end, timedelta(hours=24))
    ts, kwh = raw[("p-000", "prod-1")]
    grid = bucket_grid(start_ms, int(end.timestamp() * 1000))
    read_ms = timed(
        lambda: queries.energy_readings(store, ["p-000"], start, end, timedelta(hours=24))
    )
    rule_ms = timed(lambda: bucket_power_from_energy(ts, kwh, grid, 1e5, 24 * 3_600_000))
    store.close()
    return {
        "meters": meters,
        "days": days,
        "readings_per_meter": minutes,
        "quarter_hours_per_meter": int(days * 86_400_000 // BUCKET_MS),
        "write_seconds": round(write_s, 1),
        "means_one_meter_ms_per_meter_month": round(one_ms / month, 1),
        "means_all_meters_ms": round(all_ms, 1),
        "means_all_meters_ms_per_meter_month": round(all_ms / meters / month, 1),
        "register_fallback_read_ms_per_meter_month": round(read_ms / month, 1),
        "register_fallback_rule_ms_per_meter_month": round(rule_ms / month, 1),
    }


def run(stack: Stack, meters: int, days: float, repeats: int) -> dict[str, Any]:
    out = {"pass": pass_over_lines(LINES, repeats)}
    progress(f"power: out-of-sync pass over {LINES} lines {out['pass']['pass_ms_median']} ms")
    out["means"] = means_cost(stack, meters, days, repeats)
    return out


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="plantwatch-bench-power-") as tmp:
        stack = start_stack(Path(tmp))
        try:
            print(json.dumps(run(stack, 10, 30.0, 5), indent=2))
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
