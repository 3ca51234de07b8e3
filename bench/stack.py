"""Private Mosquitto and InfluxDB servers for a benchmark run, and the processes under test.

Servers come from `scripts/devstack.py` (own config, data folder and free ports). The
processes under test are started as a user starts them (`python -m ingest`, `python -m api`)
with `PLANTWATCH_*` variables, so the benchmark keeps measuring whatever those entry points
become.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ingest.kernel.clickhouse import ClickHouseStore, HttpRunner, Layout
from scripts.devstack import Server, influxd_server, mosquitto_server

ROOT = Path(__file__).resolve().parents[1]
SUBSCRIBE_WAIT_SECONDS = 30.0
PROCESS_STOP_SECONDS = 20.0
_STARTED = time.monotonic()


def progress(message: str) -> None:
    """One progress line on stderr, stamped with seconds since the run began."""
    print(f"[bench {time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass
class Stack:
    """A private broker and time-series server in `workdir`."""

    workdir: Path
    influxd: Server
    mosquitto: Server
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def influx_url(self) -> str:
        return f"http://127.0.0.1:{self.influxd.port}"

    @property
    def mqtt_port(self) -> int:
        return self.mosquitto.port

    def env(self, database: str, registry: Path, **extra: str) -> dict[str, str]:
        """The environment of a plantwatch process pointed at this stack."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLANTWATCH_")}
        env.update(
            {
                "PLANTWATCH_REGISTRY": str(registry),
                "PLANTWATCH_MQTT_HOST": "127.0.0.1",
                "PLANTWATCH_MQTT_PORT": str(self.mqtt_port),
                "PLANTWATCH_INFLUX_URL": self.influx_url,
                "PLANTWATCH_INFLUX_DB": database,
                "PLANTWATCH_LOG_LEVEL": "WARNING",
                "PLANTWATCH_SPOOL_DIR": str(self.workdir / f"spool-{database}"),
                "PLANTWATCH_DATABASE_URL": f"sqlite:///{self.workdir / 'api.db'}",
            }
        )
        env.update(extra)
        return env

    def spawn(self, args: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        """Start `python <args>` from the repository root; output goes to a log file."""
        with (self.workdir / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, *args], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        self.processes.append(proc)
        return proc

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def wait_subscribed(
        self, client_ids: Iterable[str], timeout: float = SUBSCRIBE_WAIT_SECONDS
    ) -> bool:
        """Wait until the broker logged a subscription by each client id."""
        wanted = set(client_ids)
        log_path = self.workdir / "mosquitto" / "mosquitto.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = log_path.read_text(errors="replace") if log_path.exists() else ""
            seen = {cid for cid in wanted if f": {cid} 1 " in text or f": {cid} 0 " in text}
            if seen == wanted:
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        for proc in reversed(self.processes):
            stop_process(proc)
        self.mosquitto.stop()
        self.influxd.stop()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU a running process has used (Linux `/proc`), None if unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # fields[11], fields[12]: utime, stime (after the command name; state is fields[0])
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_process(proc: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(PROCESS_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def start_stack(workdir: Path) -> Stack:
    """Start InfluxDB and Mosquitto on free ports with their data in `workdir`."""
    influxd = influxd_server(workdir / "influxd")
    # Periodic saves, as the throughput figures were taken; bench/pathsafe.py measures what
    # saving after every change (the shipped default since issue 23) costs.
    mosquitto = mosquitto_server(workdir / "mosquitto", durable_acks=False)
    # Subscriptions are logged so the harness knows when a collector is listening.
    with (workdir / "mosquitto" / "mosquitto.conf").open("a") as conf:
        conf.write("log_type subscribe\n")
    influxd.start()
    try:
        mosquitto.start()
    except Exception:
        influxd.stop()
        raise
    return Stack(workdir, influxd, mosquitto)


CLICKHOUSE_TIMEOUT_SECONDS = 300.0  # a catch-up roll of a province on a loaded machine


def clickhouse_env(url: str, database: str) -> dict[str, str]:
    """The settings that point a plantwatch process at a ClickHouse database instead of the
    stack's InfluxDB (`PLANTWATCH_STORE`, ingest/kernel/engines.py)."""
    return {
        "PLANTWATCH_STORE": "clickhouse",
        "PLANTWATCH_CLICKHOUSE_URL": url,
        "PLANTWATCH_CLICKHOUSE_DB": database,
        "PLANTWATCH_CLICKHOUSE_TIMEOUT_SECONDS": str(int(CLICKHOUSE_TIMEOUT_SECONDS)),
    }


def clickhouse_store(url: str, database: str) -> ClickHouseStore:
    """A bench's own handle on a ClickHouse database (one node, over HTTP)."""
    return ClickHouseStore(
        HttpRunner(url, timeout_seconds=CLICKHOUSE_TIMEOUT_SECONDS), Layout(database)
    )


def wait_http_ok(url: str, timeout: float = 30.0) -> bool:
    """Poll `url` until it answers below 500."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False
