"""`python -m bench.hj212`: the HJ 212 TCP gateway under N simulated data loggers.

Each logger sends one CN 2051 minute packet per second (Flag=5) for the run's length
through `python -m ingest hj212-gateway` to Mosquitto, a collector and InfluxDB. Figures:
packets/s answered, packet -> CN 9014 latency (p50/p99, resends included), the gateway's
peak RSS; then the same load with the gateway SIGKILLed and restarted mid-run, counting
the points in InfluxDB against what was sent (loggers resend what was unanswered); then
the same load beside a hostile client sending `HOSTILE_BYTES_PER_S` of crafted garbage
(`##4090` candidates, the framer's worst case) and a password guesser (`GUESSES_PER_S`
wrong PWs for the loggers' MNs), each from its own loopback address, reconnecting
whenever the gateway closes it; their effect is the p99 next to the steady run's.
Results: `bench/results/hj212-<timestamp>.json` and `bench/results/hj212-latest.md`.

Half the loggers speak HJ 212-2017 (Flag=5, `BENCH...` MNs) and half HJ 212-2025 with
SM4 (Flag=9, 24-hex MNs, each with its own `hj212_sm4_key` in the registry; the CP of every
packet encrypted as the standard writes it, CRC and length over the plaintext), shared out
in turn (`--protocol 2017 --protocol 2025-sm4`, the default). Each run records the
machine's load (`uptime`) at its start and end beside its figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import select
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from bench.machine import describe
from bench.report import RESULTS_DIR
from bench.stack import Stack, progress, start_stack, stop_process
from ingest.gateway import protocol
from ingest.kernel import hj212, hj212_sm4
from ingest.kernel.store import InfluxStore
from scripts.devstack import free_port, port_open
from simulators.tcp_logger import LoggerProfile, TcpLoggers

TIMEZONE = "Asia/Shanghai"
DRAIN_SECONDS = 180.0
HOSTILE_BYTES_PER_S = 1 << 20
GUESSES_PER_S = 500
RUNS = ("steady", "sigkill", "hostile")
GARBAGE_SOURCE, GUESSER_SOURCE = "127.0.0.3", "127.0.0.2"  # other hosts than the loggers'


PROTOCOLS_DEFAULT = ("2017", "2025-sm4")


def protocol_of(i: int, protocols: tuple[str, ...]) -> str:
    """What logger i speaks: the protocols shared out in turn."""
    return protocols[i % len(protocols)]


def registry_text(n: int, protocols: tuple[str, ...] = ("2017",)) -> str:
    lines = ['[county]\nname = "bench"\ngas_share_goal = 0.5\n']
    for i in range(n):
        proto = protocol_of(i, protocols)
        key = f'  hj212_sm4_key = "{sm4_key(i).hex().upper()}"\n' if proto == "2025-sm4" else ""
        lines.append(
            f'[[plants]]\nid = "sl-{i:04d}"\nname = "bench {i}"\nsector = "synthetic_leather"\n'
            f'  [[plants.meters]]\n  id = "stack-1"\n  kind = "voc"\n'
            f'  hj212_mn = "{mn(i, proto)}"\n  hj212_pw = "{i:06d}"\n{key}'
        )
    return "\n".join(lines)


def mn(i: int, proto: str = "2017") -> str:
    """Logger i's MN: `BENCH...` for 2017, a 24-hex network code for 2025."""
    return f"BE0C{i:020X}" if proto.startswith("2025") else f"BENCH{i:019d}"


def sm4_key(i: int) -> bytes:
    """Logger i's SM4 key (16 bytes, distinct per logger)."""
    return i.to_bytes(4, "big") * 4


def _items(nmhc: str) -> dict[str, dict[str, str]]:
    return {"a24088": {"Avg": nmhc, "Flag": "N"}, "a00000": {"Avg": "5.2", "Flag": "N"}}


def encode_2017(i: int, qn: str, data_time: str, nmhc: str, pw: str | None = None) -> bytes:
    return hj212.encode_packet(
        qn=qn, cn=hj212.CN_MINUTE, mn=mn(i), pw=pw or f"{i:06d}", flag=protocol.FLAG_2017_ANSWER,
        data_time=data_time, items=_items(nmhc),
    )  # fmt: skip


def encode_2025_sm4(i: int, qn: str, data_time: str, nmhc: str, pw: str | None = None) -> bytes:
    """An HJ 212-2025 minute packet (Flag=9) with its CP SM4-encrypted by logger i's key."""
    plain = hj212.encode_packet(
        qn=qn, cn=hj212.CN_MINUTE, mn=mn(i, "2025-sm4"), pw=pw or f"{i:06d}",
        flag=protocol.flag_of(hj212.VERSION_2025, answer=True), data_time=data_time,
        items=_items(nmhc),
    )  # fmt: skip
    return hj212_sm4.encrypt_packet(plain, sm4_key(i))


class Encoder(Protocol):
    def __call__(
        self, i: int, qn: str, data_time: str, nmhc: str, pw: str | None = None
    ) -> bytes: ...


# protocol name -> encoder of logger i's packet (the registry and MN must suit it too)
ENCODERS: dict[str, Encoder] = {"2017": encode_2017, "2025-sm4": encode_2025_sm4}


def stacks_of(n: int, protocols: tuple[str, ...]) -> dict[str, str]:
    """MN -> PW of the n loggers."""
    return {mn(i, protocol_of(i, protocols)): f"{i:06d}" for i in range(n)}


def profiles_of(n: int, protocols: tuple[str, ...]) -> dict[str, LoggerProfile]:
    """MN -> the simulated logger's profile (2025 with its key for the SM4 half)."""
    return {
        mn(i, "2025-sm4"): LoggerProfile(hj212.VERSION_2025, sm4_key(i))
        for i in range(n)
        if protocol_of(i, protocols) == "2025-sm4"
    }


def uptime() -> str:
    """`uptime`'s load averages, recorded beside each figure (the machine is shared)."""
    one, five, fifteen = os.getloadavg()
    return f"load average: {one:.2f}, {five:.2f}, {fifteen:.2f}"


def prepared(
    i: int, seconds: int, base: datetime, run: int, protocols: tuple[str, ...] = ("2017",)
) -> list[tuple[str, bytes]]:
    """Logger i's packets, ready to send: distinct QNs and minutes in the past."""
    encode = ENCODERS[protocol_of(i, protocols)]
    out = []
    for k in range(seconds):
        local = base + timedelta(minutes=k, hours=8)
        qn = f"{run}{i:05d}{k:05d}".ljust(17, "0")
        data = encode(i, qn, local.strftime("%Y%m%d%H%M%S"), f"{10 + (i + k) % 7}.5")
        out.append((qn, data))
    return out


class Hostile(threading.Thread):
    """Sends `make()` chunks at `chunks_per_s` from `source`, reconnecting when closed."""

    def __init__(
        self, port: int, source: str, make: Callable[[int], bytes], chunks_per_s: float
    ) -> None:
        super().__init__(daemon=True)
        self.port, self.source, self.make = port, source, make
        self.interval_s = 1.0 / chunks_per_s
        self.sent_bytes = self.chunks = self.connections = self.answers = 0
        self.stop = threading.Event()

    def run(self) -> None:
        next_at = time.monotonic()
        sock: socket.socket | None = None
        while not self.stop.is_set():
            try:
                if sock is None:
                    sock = socket.create_connection(
                        ("127.0.0.1", self.port), timeout=2, source_address=(self.source, 0)
                    )
                    self.connections += 1
                data = self.make(self.chunks)
                sock.sendall(data)
                self.sent_bytes += len(data)
                self.chunks += 1
                if select.select([sock], [], [], 0)[0]:  # what the gateway said, if anything
                    answer = sock.recv(65536)
                    if not answer:
                        raise ConnectionError("closed by the gateway")
                    self.answers += answer.count(b"CN=9014")
            except OSError:
                if sock is not None:
                    sock.close()
                sock = None
            next_at += self.interval_s
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
            else:
                next_at = time.monotonic()
        if sock is not None:
            sock.close()


def garbage(chunk_bytes: int = 64 << 10) -> Callable[[int], bytes]:
    """`##4090` again and again: every `##` is a candidate whose CRC the framer must check."""
    data = (b"##4090" * (chunk_bytes // 6 + 1))[:chunk_bytes]
    return lambda _n: data


def guesses(
    loggers_n: int, base: datetime, protocols: tuple[str, ...] = ("2017",)
) -> Callable[[int], bytes]:
    """A wrong PW for one of the loggers' MNs each time (a guesser walking the PW space).

    Against an SM4 logger the guesser is given its key (the worst case: a leaked key), so
    each guess costs the gateway a decryption before the PW is even compared."""
    rnd = random.Random(7)
    local = (base + timedelta(hours=8)).strftime("%Y%m%d%H%M%S")

    def make(n: int) -> bytes:
        i = rnd.randrange(loggers_n)
        pw = f"{(i + 1 + n) % 1_000_000:06d}"
        encode = ENCODERS[protocol_of(i, protocols)]
        return encode(i, f"9{n:016d}", local, "1.0", pw) if pw != f"{i:06d}" else b""

    return make


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (its share, whatever the machine's load)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def attack(
    port: int, kind: str, loggers_n: int, base_iso: str, seconds: float, out: Any,
    protocols: tuple[str, ...] = ("2017",),
) -> None:  # fmt: skip
    """One hostile client for `seconds`, in its own process (the loggers' GIL stays theirs)."""
    if kind == "garbage":
        make = garbage()
        hostile = Hostile(port, GARBAGE_SOURCE, make, HOSTILE_BYTES_PER_S / len(make(0)))
    else:
        hostile = Hostile(
            port, GUESSER_SOURCE, guesses(loggers_n, datetime.fromisoformat(base_iso), protocols),
            GUESSES_PER_S,
        )  # fmt: skip
    hostile.start()
    hostile.stop.wait(seconds)
    hostile.stop.set()
    hostile.join()
    out.put(
        (kind, {"bytes": hostile.sent_bytes, "chunks": hostile.chunks,
                "connections": hostile.connections, "answers": hostile.answers})
    )  # fmt: skip


def run_load(
    stack: Stack,
    workdir: Path,
    loggers_n: int,
    seconds: int,
    run: int,
    kill_at: float | None,
    hostile: bool = False,
    protocols: tuple[str, ...] = PROTOCOLS_DEFAULT,
) -> dict[str, Any]:
    database = f"hj212_bench_{run}"
    registry = workdir / "hj212-registry.toml"
    registry.write_text(registry_text(loggers_n, protocols), encoding="utf-8")
    load_at_start = uptime()
    port = free_port()
    env = stack.env(
        database, registry, PLANTWATCH_HJ212_PORT=str(port), PLANTWATCH_SHARE_GROUP="",
        PLANTWATCH_COLLECTOR_ID=f"bench-hj212-{run}",
        PLANTWATCH_HJ212_MAX_CONNECTIONS_PER_ADDRESS=str(loggers_n + 10),
        PLANTWATCH_DATABASE_URL=f"sqlite:///{workdir / f'hj212-{run}.db'}",
    )  # fmt: skip
    with InfluxStore(stack.influx_url, database) as store:
        store.create_database()
    collector = stack.spawn(["-m", "ingest"], env, f"hj212-collector-{run}")
    gateway = stack.spawn(["-m", "ingest", "hj212-gateway"], env, f"hj212-gateway-{run}")
    deadline = time.monotonic() + 30
    while not port_open(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    base = (datetime.now(UTC) - timedelta(minutes=seconds + 30)).replace(second=0, microsecond=0)
    progress(f"hj212 run {run}: preparing {loggers_n * seconds} packets")
    packets = [prepared(i, seconds, base, run, protocols) for i in range(loggers_n)]
    stacks = stacks_of(loggers_n, protocols)
    sim = TcpLoggers(
        "127.0.0.1", port, stacks, TIMEZONE, resend_seconds=10.0,
        profiles=profiles_of(loggers_n, protocols),
    ).start()  # fmt: skip
    loggers = list(sim.loggers.values())
    progress(f"hj212 run {run}: connecting {loggers_n} loggers")
    deadline = time.monotonic() + 60
    while sum(lg.connected.is_set() for lg in loggers) < loggers_n and time.monotonic() < deadline:
        time.sleep(0.2)
    connected = sum(lg.connected.is_set() for lg in loggers)
    peak_rss = [rss_mb(gateway.pid)]
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.wait(0.5):
            peak_rss.append(rss_mb(gateway.pid))

    threading.Thread(target=sample, daemon=True).start()

    async def pace() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for k in range(seconds):
            for i, lg in enumerate(loggers):
                at = start + k + i / loggers_n
                delay = at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                qn, raw = packets[i][k]
                lg.send_prepared(qn, raw)

    spawn = multiprocessing.get_context("spawn")
    attacks_out = spawn.Queue()
    attackers = [
        spawn.Process(
            target=attack,
            args=(port, kind, loggers_n, base.isoformat(), seconds, attacks_out, protocols),
        )
        for kind in (("garbage", "guesser") if hostile else ())
    ]
    for attacker in attackers:
        attacker.start()
    progress(f"hj212 run {run}: {connected} loggers sending for {seconds}s")
    began = time.monotonic()
    paced = asyncio.run_coroutine_threadsafe(pace(), sim.loop)
    killed = False
    gateway_cpu_before_kill = 0.0
    while not paced.done():
        if kill_at is not None and not killed and time.monotonic() - began >= kill_at:
            progress(f"hj212 run {run}: SIGKILL of the gateway")
            gateway_cpu_before_kill = cpu_seconds(gateway.pid)
            gateway.kill()
            gateway.wait()
            gateway = stack.spawn(["-m", "ingest", "hj212-gateway"], env, f"hj212-gateway-{run}")
            killed = True
        time.sleep(0.1)
    send_seconds = time.monotonic() - began
    load_after_send = uptime()
    attacks = dict(attacks_out.get(timeout=30) for _ in attackers)
    for attacker in attackers:
        attacker.join(10)
    answered_in_time = sim.latencies.answered
    drain = time.monotonic() + DRAIN_SECONDS
    while sim.unanswered() and time.monotonic() < drain:
        time.sleep(0.2)
    total_seconds = time.monotonic() - began
    stop_sampling.set()
    sent = loggers_n * seconds
    with InfluxStore(stack.influx_url, database) as store:
        stored = 0
        landed = time.monotonic() + 60
        while time.monotonic() < landed:
            series = store.query("SELECT count(nmhc_mgm3) FROM voc_minute")
            stored = int(series[0].values[0][1]) if series and series[0].values else 0
            if stored >= sent:
                break
            time.sleep(0.5)
    latencies = list(sim.latencies.seconds)
    unanswered = sim.unanswered()
    gateway_cpu = gateway_cpu_before_kill + cpu_seconds(gateway.pid)
    collector_cpu = cpu_seconds(collector.pid)
    sim.stop()
    stop_process(gateway)
    stop_process(collector)
    return {
        "loggers": loggers_n,
        "loggers_connected": connected,
        "seconds": seconds,
        "packets_sent": sent,
        "packets_answered": sim.latencies.answered,
        "unanswered_at_end": unanswered,
        "answered_per_s_during_send": round(answered_in_time / send_seconds, 1),
        "answered_per_s_overall": round(sim.latencies.answered / total_seconds, 1),
        "send_seconds": round(send_seconds, 1),
        "latency_p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "latency_mean_ms": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
        "resent": sim.latencies.resent,
        "gateway_peak_rss_mb": round(max(peak_rss), 1),
        # CPU per packet sent (resends and the loggers' command answers included)
        "gateway_cpu_ms_per_packet": round(gateway_cpu * 1000 / sent, 3),
        "collector_cpu_ms_per_packet": round(collector_cpu * 1000 / sent, 3),
        "points_in_influxdb": stored,
        "lost": sent - stored,
        "stored_per_answered": round(stored / sim.latencies.answered, 4)
        if sim.latencies.answered
        else None,
        "load_at_start": load_at_start,
        "load_after_send": load_after_send,
        "gateway_sigkilled_at_s": kill_at,
        "protocols": list(protocols),
        **(
            {
                "garbage_bytes_per_s": round(attacks["garbage"]["bytes"] / seconds),
                "garbage_connections": attacks["garbage"]["connections"],
                "guesses_sent": attacks["guesser"]["chunks"],
                "guesses_per_s": round(attacks["guesser"]["chunks"] / seconds),
                "guesser_connections": attacks["guesser"]["connections"],
                "guesses_answered": attacks["guesser"]["answers"],
            }
            if attacks
            else {}
        ),
    }


def markdown(results: dict[str, Any]) -> str:
    rows = [
        "# HJ 212 gateway benchmark",
        "",
        f"Started {results['started']}; `python -m bench.hj212 {' '.join(results['argv'])}`.",
        "",
        "| run | loggers | packets | answered | stored | answered/s (send phase) | p50 | p99 "
        "| peak RSS | gateway CPU/packet | resent | lost | load at start / after the send phase |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["runs"].items():
        rows.append(
            f"| {name} | {r['loggers_connected']}/{r['loggers']} | {r['packets_sent']:,} | "
            f"{r['packets_answered']:,} | {r['points_in_influxdb']:,} | "
            f"{r['answered_per_s_during_send']:,} | {r['latency_p50_ms']} ms | "
            f"{r['latency_p99_ms']} ms | {r['gateway_peak_rss_mb']} MB | "
            f"{r.get('gateway_cpu_ms_per_packet')} ms | {r['resent']:,} | "
            f"{r['lost']} | {r.get('load_at_start', '')} / {r.get('load_after_send', '')} |"
        )
    steady, hostile = results["runs"].get("steady"), results["runs"].get("hostile")
    if steady and hostile and steady["latency_p99_ms"]:
        rows += [
            "",
            f"Hostile clients' effect: p99 {hostile['latency_p99_ms']} ms vs "
            f"{steady['latency_p99_ms']} ms steady (x"
            f"{hostile['latency_p99_ms'] / steady['latency_p99_ms']:.2f}), p50 x"
            f"{hostile['latency_p50_ms'] / max(steady['latency_p50_ms'], 0.1):.2f}.",
        ]
    if hostile:
        rows += [
            "",
            f"Hostile run: garbage at {hostile['garbage_bytes_per_s']:,} B/s over "
            f"{hostile['garbage_connections']:,} connections (each closed after a few bad "
            f"frames), {hostile['guesses_per_s']:,} wrong-PW guesses/s over "
            f"{hostile['guesser_connections']:,} connections, "
            f"{hostile['guesses_answered']} answered.",
        ]
    m = results["machine"]
    rows += [
        "",
        f"Machine: {m.get('cpu_model')} x{m.get('cpu_cores')}, load at start "
        f"{m.get('load_average_at_start')}. The loggers, Mosquitto, InfluxDB, the collector "
        "and the gateway share these cores.",
        "",
        *[f"- {note}" for note in results["notes"]],
    ]
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hj212", description=__doc__)
    parser.add_argument("--loggers", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=60, help="send phase of each run")
    parser.add_argument(
        "--runs", nargs="+", choices=RUNS, default=list(RUNS), help="which runs (default all)"
    )
    parser.add_argument(
        "--protocol", action="append", choices=sorted(ENCODERS), dest="protocols",
        help="what the loggers speak, shared out in turn (default 2017 and 2025-sm4)",
    )  # fmt: skip
    parser.add_argument("--note", action="append", default=[])
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "argv": sys.argv[1:] if argv is None else argv,
        "machine": describe(),
        "notes": list(args.note),
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="plantwatch-hj212-") as tmp:
        workdir = Path(tmp)
        stack = start_stack(workdir)
        try:
            protocols = tuple(args.protocols or PROTOCOLS_DEFAULT)
            if "steady" in args.runs:
                results["runs"]["steady"] = run_load(
                    stack, workdir, args.loggers, args.seconds, 1, None, protocols=protocols
                )
            if "sigkill" in args.runs:
                results["runs"]["sigkill"] = run_load(
                    stack, workdir, args.loggers, args.seconds, 2, args.seconds / 2,
                    protocols=protocols,
                )  # fmt: skip
            if "hostile" in args.runs:
                results["runs"]["hostile"] = run_load(
                    stack, workdir, args.loggers, args.seconds, 3, None, hostile=True,
                    protocols=protocols,
                )  # fmt: skip
        finally:
            stack.stop()
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    (args.results_dir / f"hj212-{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.results_dir / "hj212-latest.md").write_text(markdown(results))
    print(json.dumps(results["runs"], indent=2))
    print(f"results: {args.results_dir / f'hj212-{stamp}.json'} and hj212-latest.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
