"""(g) VOC compliance: 25 stacks × 31 days of minute data, rolled up, then answered.

Minute data (CN 2051, `voc_minute`) for every stack is written straight to the private
InfluxDB, the hourly rollup (`voc_hourly`) is run over it once, and then timed: compliance
of every stack over the whole period (`api.voc.service.compliance`, what the endpoints and
the county emission totals use) and the alert engine's VOC pass (spike, hourly exceedance,
dark-after-exceedance, stuck, offline) over all stacks. Targets: ≤ 500 ms and ≤ 1 s.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from api.alerts.engine import Evaluator
from api.alerts.projection import HistoryProjection
from api.fuel.service import FuelCore
from api.settings import AlertRules, ApiSettings
from api.voc.rollup import voc_job
from api.voc.service import compliance
from bench.stack import Stack, progress
from ingest.kernel.registry import load_registry
from ingest.kernel.store import InfluxStore

DATABASE = "bench_voc"
BATCH_LINES = 20_000
POLLUTANTS = ("nmhc_mgm3", "dmf_mgm3", "benzene_mgm3", "toluene_mgm3", "xylene_mgm3")
TARGET_COMPLIANCE_MS = 500.0
TARGET_ALERT_PASS_MS = 1000.0


def registry_toml(stacks: int) -> str:
    lines = ['[county]\nname = "bench"\n']
    for i in range(1, stacks + 1):
        lines.append(
            f'[[plants]]\nid = "sl-{i:03d}"\nsector = "synthetic_leather"\n'
            f'  [[plants.meters]]\n  id = "stack-1"\n  kind = "voc"\n'
            f'  hj212_mn = "BENCH{i:03d}"\n'
        )
    return "\n".join(lines)


def minute_lines(plant: str, start_ms: int, minutes: int, rng: np.random.Generator) -> list[str]:
    """One `voc_minute` point per minute, all values flagged N, a little noise."""
    base = rng.uniform(5, 30, len(POLLUTANTS))
    flow = rng.uniform(15_000, 60_000)
    values = base * np.exp(rng.normal(0, 0.1, (minutes, len(POLLUTANTS))))
    flows = flow * (0.97 + 0.03 * rng.standard_normal(minutes))
    out = []
    for i in range(minutes):
        fields = ",".join(f'{p}={values[i, k]:.3f},{p}_flag="N"' for k, p in enumerate(POLLUTANTS))
        out.append(
            f"voc_minute,meter=stack-1,plant={plant} {fields},flow_m3h={flows[i]:.1f},"
            f'flow_m3h_flag="N" {start_ms + i * 60_000}'
        )
    return out


def run(stack: Stack, workdir: Path, stacks: int, days: float, repeats: int) -> dict[str, Any]:
    registry_path = workdir / "voc-registry.toml"
    registry_path.write_text(registry_toml(stacks), encoding="utf-8")
    registry = load_registry(registry_path)
    store = InfluxStore(stack.influx_url, DATABASE)
    store.create_database()
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    start_ms = int(start.timestamp() * 1000)
    minutes = int(days * 1440)
    rng = np.random.default_rng(2026)
    t0 = time.monotonic()
    for plant in registry.plants:
        lines = minute_lines(plant.id, start_ms, minutes, rng)
        for k in range(0, len(lines), BATCH_LINES):
            store.write_lines(lines[k : k + BATCH_LINES])
    write_s = time.monotonic() - t0
    progress(f"voc: wrote {stacks * minutes} minutes in {write_s:.1f}s; rolling up")
    job = voc_job(store, registry, clock=lambda: end, pause_seconds=0.0)
    t0 = time.monotonic()
    job.run_pass()
    rollup_s = time.monotonic() - t0
    plants = list(registry.plants)
    now = end + timedelta(minutes=5)
    timings = []
    for _ in range(repeats):
        t0 = time.monotonic()
        result = compliance(store, plants, start, end, now)
        timings.append((time.monotonic() - t0) * 1000)
    valid = sum(p.counts()["valid"] for s in result for p in s.pollutants)
    core = FuelCore.from_settings(
        ApiSettings(registry=registry_path, influx_url=stack.influx_url, influx_db=DATABASE),
        store,
        registry,
    )
    evaluator = Evaluator(store, registry, AlertRules(), core, HistoryProjection(core, registry))
    alert_ms = []
    for _ in range(repeats):
        t0 = time.monotonic()
        evaluator.fast(now)
        alert_ms.append((time.monotonic() - t0) * 1000)
    store.close()
    best, median = min(timings), float(np.median(timings))
    return {
        "stacks": stacks,
        "days": days,
        "minutes_per_pollutant": stacks * minutes,
        "write_seconds": round(write_s, 1),
        "rollup_seconds": round(rollup_s, 1),
        "compliance_ms_median": round(median, 1),
        "compliance_ms_best": round(best, 1),
        "compliance_target_ms": TARGET_COMPLIANCE_MS,
        "compliance_vs_target": round(median / TARGET_COMPLIANCE_MS, 2),
        "valid_pollutant_hours": valid,
        "alert_pass_ms_median": round(float(np.median(alert_ms)), 1),
        "alert_pass_target_ms": TARGET_ALERT_PASS_MS,
        "alert_pass_vs_target": round(float(np.median(alert_ms)) / TARGET_ALERT_PASS_MS, 2),
    }
