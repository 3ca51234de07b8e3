"""First write is the record (SPEC section 14): what the check costs the collector.

One collector takes the same fresh readings four times, each into its own database, in
the order off, on, on, off (so drift of a shared machine and InfluxDB's own background
work weigh on both alike): with the record keeper's check (`PLANTWATCH_FIRST_WRITE_CHECK`,
the default: the recent index, one batched read-back per batch it cannot answer) and
without it (plain writes, as before). The ratio of the mean sustained readings/s, on/off,
is the cost; the collector's CPU per reading (on/off) says the same less disturbed by
whatever else the machine runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import collector
from bench.publishers import PublisherFiles
from bench.stack import Stack, progress

ORDER = (("off", "false"), ("on", "true"), ("on", "true"), ("off", "false"))


def run(
    stack: Stack, registry: Path, prepared: PublisherFiles, max_seconds: float
) -> dict[str, Any]:
    """Sustained readings/s of one collector with first-write checking off and on."""
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for index, (name, value) in enumerate(ORDER, start=1):
        runs[name].append(
            collector.run(
                stack,
                registry,
                prepared,
                1,
                max_seconds,
                f"check_{name}_{index}",
                PLANTWATCH_FIRST_WRITE_CHECK=value,
            )
        )
    rates = {
        name: [r["sustained_per_s"] for r in results if r.get("sustained_per_s")]
        for name, results in runs.items()
    }
    means = {name: sum(v) / len(v) if len(v) == 2 else None for name, v in rates.items()}
    ratio = round(means["on"] / means["off"], 3) if means["on"] and means["off"] else None
    cpu = {
        name: [r["cpu_us_per_reading"] for r in results if r.get("cpu_us_per_reading")]
        for name, results in runs.items()
    }
    cpu_means = {name: sum(v) / len(v) if len(v) == 2 else None for name, v in cpu.items()}
    cpu_ratio = (
        round(cpu_means["on"] / cpu_means["off"], 3)
        if cpu_means["on"] and cpu_means["off"]
        else None
    )
    progress(
        f"first-write check: throughput on/off = {ratio} ({rates}); "
        f"collector CPU per reading on/off = {cpu_ratio} ({cpu} µs)"
    )
    return {
        "what": "python -m ingest x1, the same fresh readings with first-write checking off "
        "and on (ingest/keeper.py), runs in the order off, on, on, off",
        "sustained_per_s": rates,
        "mean_sustained_per_s": {k: round(v) if v else None for k, v in means.items()},
        "ratio_on_off": ratio,
        "cpu_us_per_reading": cpu,
        "cpu_ratio_on_off": cpu_ratio,
        "runs": runs,
    }
