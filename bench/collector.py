"""(d) The plantwatch collector end to end at QoS 1: throughput with 1..N collectors.

Collectors are started as an operator starts them (`python -m ingest`) in the default
scale-out mode: collector i of N takes partition i/N of the plants over plain persistent
subscriptions (`PLANTWATCH_COLLECTOR_PARTITION`), with distinct collector ids. The fast
publishers (simulated plants) publish; the harness counts the points that landed in InfluxDB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.landed import figures, watch
from bench.mqtt import clear_session
from bench.publishers import PublisherFiles, start_publishers
from bench.stack import Stack, cpu_seconds, progress, stop_process
from ingest.kernel.store import InfluxStore
from ingest.partition import plant_bucket


def run(
    stack: Stack,
    registry: Path,
    prepared: PublisherFiles,
    collectors: int,
    max_seconds: float,
    variant: str = "",
    **env: str,
) -> dict[str, Any]:
    """Readings/s landed by `collectors` plantwatch collectors from the fast publishers.

    `variant` names a run with extra collector settings `env` (its own database).
    """
    per = prepared.readings_per_message
    label = f"collector x{collectors}" + (f", {per} readings/message" if per > 1 else "")
    label += f", {variant}" if variant else ""
    progress(f"{label}: {prepared.total:,} messages")
    database = f"bench_collectors_{collectors}_{per}" + (f"_{variant}" if variant else "")
    group = f"bench-{database}"
    ids = [f"{group}-{i}" for i in range(1, collectors + 1)]
    procs = [
        stack.spawn(
            ["-m", "ingest"],
            stack.env(
                database,
                registry,
                PLANTWATCH_COLLECTOR_ID=cid,
                PLANTWATCH_COLLECTOR_PARTITION=f"{i}/{collectors}",
                PLANTWATCH_SPOOL_DIR=str(stack.workdir / f"spool-{cid}"),
                **env,
            ),
            cid,
        )
        for i, cid in enumerate(ids, start=1)
    ]
    shares = partition_shares(prepared, collectors)
    try:
        if not stack.wait_subscribed(ids):
            return {"error": f"collectors did not subscribe: {stack.log_tail(ids[0])}"}
        with InfluxStore(stack.influx_url, database) as store:
            pubs = start_publishers(stack.mqtt_port, prepared)
            samples, _ = watch(
                store,
                prepared.readings,
                max_seconds,
                label,
                lambda: all(p.poll() is None for p in procs),
            )
            pubs.finish()
    finally:
        # CPU per reading weighs the collector's own work, whatever else the machine runs.
        used = [cpu_seconds(p.pid) for p in procs]
        exit_codes = [stop_process(p) for p in procs]
        for cid in ids:
            clear_session(cid, stack.mqtt_port)
    result = figures(samples, prepared.readings)
    result["publish_seconds"] = round(pubs.seconds, 2) if pubs.seconds else None
    if all(u is not None for u in used) and result["landed"]:
        total = sum(u for u in used if u is not None)
        result["collector_cpu_seconds"] = round(total, 2)
        result["cpu_us_per_reading"] = round(total / result["landed"] * 1e6, 1)
    if any(code not in (0, -15) for code in exit_codes):
        result["collector_exit_codes"] = exit_codes
        result["log_tail"] = stack.log_tail(ids[0])
    progress(f"{label}: {result['sustained_per_s'] or 0:,} readings/s")
    return {
        "what": f"python -m ingest x{collectors}, partitions i/{collectors} over plain "
        "subscriptions, QoS 1, ack after write",
        "collectors": collectors,
        "messages_per_partition": shares,
        "messages": prepared.total,
        "readings_per_message": per,
        **result,
    }


def partition_shares(prepared: PublisherFiles, collectors: int) -> list[int]:
    """How many of the run's messages each partition's collector takes (plants hash unevenly)."""
    shares = [0] * collectors
    for topic, path in prepared.files:
        plant = topic.split("/")[2]
        shares[plant_bucket(plant, collectors) - 1] += sum(1 for _ in path.open("rb"))
    return shares
