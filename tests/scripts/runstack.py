"""`make run` (scripts/run.py) driven by a test: its own var/, free ports, a tiny county.

A test starts the whole stack as an operator does, waits for its banner, reads figures
through the API, and stops it with SIGINT (Ctrl-C) or SIGKILL (a power cut: every process
of the stack, the servers too).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from scripts.devstack import free_port
from tests.support import ROOT, child_env, http_get, http_post, wait_until

ADMIN_KEY = "day-two-admin-key"
UP_TIMEOUT_SECONDS = 150.0
BANNER = "plantwatch is up"
# Each raw measurement and the value every one of its readings carries.
RAW_MEASUREMENTS = {
    "gas": "volume_m3",
    "coal": "mass_kg",
    "voc": "dmf_mgm3",
    "electricity": "energy_kwh",
}


def tiny_registry(path: Path) -> Path:
    """Two stainless-steel firms, one leather plant's stack, one electricity meter."""
    subprocess.run(
        [sys.executable, "-m", "simulators", "registry", "--out", str(path),
         "--stainless", "2", "--leather", "1", "--other", "1"],
        check=True, cwd=ROOT, env=child_env({}), capture_output=True,
    )  # fmt: skip
    return path


@dataclass
class RunStack:
    """One var/ and its ports; `start` runs `python -m scripts.run` (or `module`) on them."""

    var: Path
    registry: Path
    backfill_days: float = 2.0
    module: str = "scripts.run"  # or scripts.cluster (`make cluster`)
    ports: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    output: Path | None = None

    def __post_init__(self) -> None:
        names = ("INFLUX", "INFLUX_RPC", "MQTT", "API", "METRICS", "HJ212")
        self.ports = self.ports or {name: free_port() for name in names}

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['API']}"

    @property
    def influx(self) -> str:
        return f"http://127.0.0.1:{self.ports['INFLUX']}"

    def env(self, simulator: str) -> dict[str, str]:
        return child_env(
            {
                "PLANTWATCH_RUN_VAR": str(self.var),
                "PLANTWATCH_RUN_INFLUX_PORT": str(self.ports["INFLUX"]),
                "PLANTWATCH_RUN_INFLUX_RPC_PORT": str(self.ports["INFLUX_RPC"]),
                "PLANTWATCH_RUN_MQTT_PORT": str(self.ports["MQTT"]),
                "PLANTWATCH_API_PORT": str(self.ports["API"]),
                "PLANTWATCH_RUN_METRICS_PORT": str(self.ports["METRICS"]),
                "PLANTWATCH_HJ212_PORT": str(self.ports["HJ212"]),
                "PLANTWATCH_REGISTRY": str(self.registry),
                # a simulated registry: its stacks have no hj212_pw (issue 22's check)
                "PLANTWATCH_HJ212_ALLOW_NO_PW": "true",
                "PLANTWATCH_ADMIN_KEY": ADMIN_KEY,
                "PLANTWATCH_RUN_SIMULATOR": simulator,
                "PLANTWATCH_RUN_BACKFILL_DAYS": str(self.backfill_days),
                # No fast catch-up after the backfill: live play at the wall clock's pace.
                "PLANTWATCH_RUN_SPEED": "1",
            }
        )

    def start(self, simulator: str = "live", wait: bool = True) -> float:
        """Start the stack; with `wait`, return the seconds until its banner."""
        self.output = self.var.parent / f"run-{time.monotonic_ns()}.log"
        (self.var / "logs" / "simulator.log").unlink(missing_ok=True)  # this start's only
        began = time.monotonic()
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=self.env(simulator),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: SIGKILL reaches every child
            )
        if wait:
            self.wait_up()
        return time.monotonic() - began

    def log(self) -> str:
        return self.output.read_text(errors="replace") if self.output else ""

    def wait_up(self) -> None:
        assert self.proc is not None
        up = wait_until(
            lambda: BANNER in self.log() or self.proc is None or self.proc.poll() is not None,
            UP_TIMEOUT_SECONDS,
            0.1,
        )
        assert up and BANNER in self.log(), self.diagnosis()

    def interrupt(self) -> float:
        """Ctrl-C; the seconds `make run` says its stop took (it prints `stopped in N s`)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(60)
        said = re.search(r"stopped in ([0-9.]+)s", self.log())
        assert said is not None, self.diagnosis()
        return float(said.group(1))

    def kill_all(self) -> None:
        """A power cut: SIGKILL run.py, its children and its servers at once."""
        assert self.proc is not None
        pids = [self.proc.pid, *self._servers()]
        os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in pids[1:]:
            os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)
        for pid in pids[1:]:
            wait_until(lambda pid=pid: not Path(f"/proc/{pid}").exists(), 10.0, 0.05)

    def _servers(self) -> Iterator[int]:
        """influxd and mosquitto of this var/ (their config files are under it)."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(self.var) in cmdline and ("influxd" in cmdline or "mosquitto" in cmdline):
                yield int(entry.name)

    def stop(self) -> None:
        """Teardown: whatever still runs is interrupted, then killed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill_all()

    def diagnosis(self) -> str:
        logs = self.var / "logs"
        tails = [
            f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
            for p in sorted(logs.glob("*.log"))
        ] if logs.exists() else []  # fmt: skip
        return f"run.py output:\n{self.log()[-3000:]}\n" + "\n".join(tails)

    # --- reading the county back ----------------------------------------------------------

    def get(self, path: str, key: str = ADMIN_KEY, **params: Any) -> httpx.Response:
        return http_get(
            f"{self.api}{path}",
            params=params,
            headers={"Authorization": f"Bearer {key}"},
            timeout=60.0,
        )

    def simulator_done(self) -> bool:
        return "simulator: published" in _read(self.var / "logs" / "simulator.log")

    def raw_counts(self) -> dict[str, int]:
        """Readings stored per raw measurement (the stack's: minutes with a DMF value)."""
        counts: dict[str, int] = {}
        for name, value in RAW_MEASUREMENTS.items():
            resp = http_get(
                f"{self.influx}/query",
                params={"db": "plantwatch", "q": f'SELECT count("{value}") FROM "{name}"'},
                timeout=30.0,
            )
            resp.raise_for_status()
            series = resp.json()["results"][0].get("series", [])
            counts[name] = sum(int(s["values"][0][1]) for s in series)
        return counts

    def figures(self, at: datetime) -> dict[str, Any]:
        """The KPI at `at`, the leather plant's VOC for the day before it, the alert list."""
        kpi = self.get("/api/v1/kpi/gas-share", at=at.isoformat(), window_days=2)
        voc = self.get(
            "/api/v1/plants/sl-001/voc/emissions",
            start=(at - timedelta(days=1)).isoformat(),
            end=at.isoformat(),
            period="day",
        )
        alerts = self.get("/api/v1/alerts", limit=1000)
        for resp in (kpi, voc, alerts):
            assert resp.status_code == 200, resp.text
        return {"kpi": kpi.json(), "voc": voc.json(), "alerts": alerts.json()}

    def collector(self) -> dict[str, float]:
        """The collector's gauges and counters (empty while it is starting)."""
        try:
            text = http_get(f"http://127.0.0.1:{self.ports['METRICS']}/metrics", timeout=5).text
        except httpx.HTTPError:
            return {}
        return {
            line.split("{")[0].removeprefix("plantwatch_ingest_"): float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("plantwatch_ingest_")
        }

    def caught_up(self) -> bool:
        """The collector is subscribed and holds nothing it has not written."""
        gauges = self.collector()
        return gauges.get("subscribed") == 1.0 and gauges.get("lag_seconds") == 0.0

    def settled_figures(self, at: datetime, timeout: float = 90.0) -> dict[str, Any]:
        """Figures once the collector has caught up and two readings a moment apart agree."""
        last: dict[str, Any] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.caught_up():
                time.sleep(0.2)
                continue
            received = self.collector().get("received_total")
            now = {"raw": self.raw_counts(), **self.figures(at), "received": received}
            if now == last:
                del now["received"]  # a counter of this run, not a figure of the county
                return now
            last = now
            time.sleep(1.0)
        raise AssertionError(f"figures still changing after {timeout}s: {last}")


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def new_officer_key(stack: RunStack) -> str:
    """A new officer key, made over HTTP with the admin key."""
    resp = http_post(
        f"{stack.api}/api/v1/keys",
        json={"name": "officer on day two", "role": "officer"},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=30.0,
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["key"])
