"""Issue 23 figures: HTTP push beside an oversized pusher, and what durable broker saves cost.

`python -m bench.pathsafe [--seconds 20] [--api-source DIR]` (a short run; results in
bench/results/pathsafe-<time>.json and .md):

(a) HTTP push p99: the API under uvicorn on a private Mosquitto; 50 honest plants each push
    one small reading at a time for `--seconds`, once alone and once beside one plant that
    pushes valid readings in bodies over 328 KB, in a loop. `--api-source` runs the API from another checkout (for
    example the commit before issue 23) to show the before.
(b) Broker durability cost: QoS 1 publishes per second into Mosquitto saving every 5 s (the
    old `autosave_interval 5`) and saving after every change (`autosave_on_changes`), with
    the consumer connected, and with it away (its queue growing: every save rewrites it);
    plus one push's acknowledgement latency with and without the barrier.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.stack import ROOT, progress, stop_process, wait_http_ok
from bench.stats import percentiles_ms, ratio
from bench.workload import county_firms, readings_message, readings_topic, registry_toml
from ingest.client import Inbound, MqttClient
from scripts.devstack import Server, mosquitto_server, port_open

RESULTS = ROOT / "bench" / "results"
HONEST_PLANTS = 50
OVERSIZED_BYTES = 328_000
ADMIN_KEY = "bench-admin-key"


# This bench's servers listen in the port range given to issue 23's work on a shared machine.
PORTS = iter(range(24100, 25000))


def free_port() -> int:
    """The next port of PORTS that nothing listens on."""
    for port in PORTS:
        if not port_open(port):
            return port
    raise RuntimeError("no free port left in 24100-24999")


def broker(workdir: Path, durable: bool) -> Server:
    """A private Mosquitto, with the shipped durable saves or the old 5-second ones."""
    return mosquitto_server(workdir, free_port(), durable_acks=durable).start()


# --- (a) HTTP push beside an oversized pusher ---------------------------------------------


def start_api(
    workdir: Path, mqtt_port: int, source: Path | None
) -> tuple[subprocess.Popen[bytes], str]:
    firms = county_firms(HONEST_PLANTS + 1)
    registry = workdir / "registry.toml"
    registry.write_text(registry_toml(firms), encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        "PLANTWATCH_REGISTRY": str(registry),
        "PLANTWATCH_MQTT_PORT": str(mqtt_port),
        "PLANTWATCH_INFLUX_URL": f"http://127.0.0.1:{free_port()}",  # pushes never read it
        "PLANTWATCH_ADMIN_KEY": ADMIN_KEY,
        "PLANTWATCH_API_PORT": str(port),
        "PLANTWATCH_DATABASE_URL": f"sqlite:///{workdir}/api.db",
        "PLANTWATCH_ALERT_ENGINE_ENABLED": "false",
        "PLANTWATCH_ROLLUP_ENABLED": "false",
        "PLANTWATCH_REPORTS_JOB_ENABLED": "false",
        "PLANTWATCH_LOG_LEVEL": "WARNING",
        "PLANTWATCH_PUSH_TIMEOUT_SECONDS": "5",
    }
    if source is not None:
        env["PYTHONPATH"] = str(source)
    log = (workdir / "api.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(source or ROOT),
    )
    base = f"http://127.0.0.1:{port}"
    if not wait_http_ok(f"{base}/healthz", 60):
        stop_process(proc)
        raise RuntimeError(f"API did not start; see {workdir / 'api.log'}")
    return proc, base


async def push_load(base: str, seconds: float, oversized: bool) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    firms = county_firms(HONEST_PLANTS + 1)
    honest, attacker = firms[:HONEST_PLANTS], firms[HONEST_PLANTS]
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    attacker_statuses: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    now_ms = int(time.time() * 1000)
    # Valid readings (the collector would take them), over the broker's packet limit.
    count = 100
    big = readings_message(now_ms - 3_600_000, 1.0, count=count, step_ms=1)
    while len(big) < OVERSIZED_BYTES:
        count = int(count * 1.1)
        big = readings_message(now_ms - 3_600_000, 1.0, count=count, step_ms=1)

    async def plant(client: httpx.AsyncClient, plant: str, i0: int) -> None:
        i = 0
        while time.monotonic() < deadline:
            # Recent, one a second per plant (never in the future), increasing registers.
            body = readings_message(now_ms - 3_000_000 + i * 1000 + i0, 10.0 + i)
            start = time.monotonic()
            try:
                resp = await client.post(
                    f"{base}/api/v1/plants/{plant}/meters/gas-1/readings",
                    content=body,
                    headers=headers,
                )
                code = str(resp.status_code)
            except httpx.HTTPError as exc:
                code = type(exc).__name__
            latencies.append(time.monotonic() - start)
            statuses[code] = statuses.get(code, 0) + 1
            i += 1

    async def attack(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            try:
                resp = await client.post(
                    f"{base}/api/v1/plants/{attacker.plant}/meters/gas-1/readings",
                    content=big,
                    headers=headers,
                )
                code = str(resp.status_code)
            except httpx.HTTPError as exc:
                code = type(exc).__name__
            attacker_statuses[code] = attacker_statuses.get(code, 0) + 1

    limits = httpx.Limits(max_connections=HONEST_PLANTS + 5)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        tasks = [plant(client, f.plant, n) for n, f in enumerate(honest)]
        if oversized:
            tasks.append(attack(client))
        await asyncio.gather(*tasks)
    return {
        "honest_plants": HONEST_PLANTS,
        "oversized_plant": oversized,
        "seconds": seconds,
        "honest_latency": percentiles_ms(latencies),
        "honest_statuses": statuses,
        "honest_accepted_per_s": round(statuses.get("202", 0) / seconds, 1),
        "oversized_statuses": attacker_statuses,
    }


def push_bench(workdir: Path, seconds: float, source: Path | None) -> dict[str, Any]:
    out: dict[str, Any] = {"api_source": str(source) if source else "this checkout"}
    for oversized in (False, True):
        name = "beside_oversized" if oversized else "alone"
        mq = broker(workdir / f"push-{name}-mqtt", durable=True)
        api_dir = workdir / f"push-{name}-api"
        api_dir.mkdir(parents=True, exist_ok=True)
        proc, base = start_api(api_dir, mq.port, source)
        try:
            progress(f"push p99: 50 honest plants {name} for {seconds:.0f}s")
            out[name] = asyncio.run(push_load(base, seconds, oversized))
        finally:
            stop_process(proc)
            mq.stop()
    out["p99_ratio_beside_vs_alone"] = ratio(
        out["beside_oversized"]["honest_latency"].get("p99_ms"),
        out["alone"]["honest_latency"].get("p99_ms"),
    )
    return out


# --- (b) the cost of saving after every change ----------------------------------------------

TOPIC = readings_topic("ss-001", "gas-1")


def publish_rate(port: int, messages: int) -> float:
    """QoS 1 messages per second from one paho client (1000 in flight) until all PUBACKed."""
    pub = MqttClient(f"bench-pub-{uuid.uuid4().hex[:6]}", "127.0.0.1", port, max_inflight=1000)
    pub.start()
    payload = readings_message(1_772_323_200_000, 1.0)
    start = time.monotonic()
    for _ in range(messages):
        pub.publish(TOPIC, payload)
    ok = pub.wait_published(messages, 600)
    elapsed = time.monotonic() - start
    pub.stop()
    return messages / elapsed if ok else 0.0


def ack_latencies(port: int, count: int, barrier: bool) -> dict[str, Any]:
    """One push at a time: PUBACK (and the barrier's PUBACK) latency."""
    pub = MqttClient(
        f"bench-ack-{uuid.uuid4().hex[:6]}",
        "127.0.0.1",
        port,
        sync_topic="plantwatch/sync/bench" if barrier else None,
    )
    pub.start()
    payload = readings_message(1_772_323_200_000, 1.0)
    samples = []
    for _ in range(count):
        start = time.monotonic()
        info = pub.publish(TOPIC, payload)
        info.wait_for_publish(10)
        if barrier:
            pub.barrier(10)
        samples.append(time.monotonic() - start)
    pub.stop()
    return percentiles_ms(samples)


def consumer(port: int, away: bool) -> MqttClient:
    inbox: queue.Queue[Inbound] = queue.Queue()
    sub = MqttClient(
        f"bench-consumer-{uuid.uuid4().hex[:6]}",
        "127.0.0.1",
        port,
        clean_session=False,
        on_message=inbox.put,
        subscriptions=[(TOPIC, 1)],
    )
    sub.start()
    sub.publish(TOPIC, b"marker").wait_for_publish(10)
    inbox.get(timeout=10)
    if away:
        sub.stop()
    return sub


def durability_bench(workdir: Path, messages: int, away_messages: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for durable in (False, True):
        name = "save_every_change" if durable else "save_every_5s"
        for away in (False, True):
            server = broker(workdir / f"dur-{name}-{'away' if away else 'online'}", durable)
            try:
                sub = consumer(server.port, away)
                n = away_messages if away else messages
                progress(f"durability: {name}, consumer {'away' if away else 'online'}, {n} msgs")
                rate = publish_rate(server.port, n)
                out[f"{name}_{'away' if away else 'online'}_msgs_per_s"] = round(rate)
                if not away:
                    out[f"{name}_ack_latency"] = ack_latencies(server.port, 300, barrier=False)
                    out[f"{name}_ack_with_barrier_latency"] = ack_latencies(
                        server.port, 300, barrier=True
                    )
                    sub.stop()
            finally:
                server.stop()
    for where in ("online", "away"):
        out[f"throughput_ratio_{where}_durable_vs_5s"] = ratio(
            out[f"save_every_change_{where}_msgs_per_s"], out[f"save_every_5s_{where}_msgs_per_s"]
        )
    return out


def markdown(result: dict[str, Any]) -> str:
    push, dur = result.get("push", {}), result.get("durability", {})
    lines = [f"# Issue 23 bench ({result['started']}, {result['machine']})", ""]
    if push:
        lines += ["## HTTP push, 50 honest plants (one small reading each, one at a time)", ""]
        lines.append("| run | p50 ms | p99 ms | max ms | 202/s | statuses | oversized plant |")
        lines.append("|---|---|---|---|---|---|---|")
        for name in ("alone", "beside_oversized"):
            r = push.get(name)
            if r:
                lat = r["honest_latency"]
                lines.append(
                    f"| {name} | {lat.get('p50_ms')} | {lat.get('p99_ms')} | {lat.get('max_ms')} "
                    f"| {r['honest_accepted_per_s']} | {r['honest_statuses']} "
                    f"| {r['oversized_statuses'] or '-'} |"
                )
        lines += ["", f"p99 beside / alone: {push.get('p99_ratio_beside_vs_alone')}", ""]
    if dur:
        lines += ["## Broker durability cost (QoS 1, one paho publisher, 1000 in flight)", ""]
        lines.append("| broker saves | consumer online msg/s | consumer away msg/s |")
        lines.append("|---|---|---|")
        for name in ("save_every_5s", "save_every_change"):
            lines.append(
                f"| {name} | {dur.get(name + '_online_msgs_per_s')} "
                f"| {dur.get(name + '_away_msgs_per_s')} |"
            )
        lines += [
            "",
            f"ratio durable/5 s: online {dur.get('throughput_ratio_online_durable_vs_5s')}, "
            f"away {dur.get('throughput_ratio_away_durable_vs_5s')}",
            "",
            "| one push at a time | p50 ms | p99 ms |",
            "|---|---|---|",
        ]
        for name in ("save_every_5s", "save_every_change"):
            for kind in ("ack", "ack_with_barrier"):
                lat = dur.get(f"{name}_{kind}_latency", {})
                lines.append(f"| {name}, {kind} | {lat.get('p50_ms')} | {lat.get('p99_ms')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pathsafe", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--away-messages", type=int, default=5_000)
    parser.add_argument("--api-source", type=Path)
    parser.add_argument("--only", choices=("push", "durability"))
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench-pathsafe")
    args = parser.parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = args.workdir / stamp
    workdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "started": stamp,
        "machine": f"{os.cpu_count()} cores, shared with other test runs",
    }
    if args.only in (None, "push"):
        result["push"] = push_bench(workdir, args.seconds, args.api_source)
    if args.only in (None, "durability"):
        result["durability"] = durability_bench(workdir, args.messages, args.away_messages)
    RESULTS.mkdir(parents=True, exist_ok=True)
    tag = "-before" if args.api_source else ""
    (RESULTS / f"pathsafe{tag}-{stamp}.json").write_text(json.dumps(result, indent=2))
    (RESULTS / f"pathsafe{tag}-{stamp}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
