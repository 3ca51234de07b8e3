"""`make cluster` on ClickHouse (scripts/cluster.py, issue 26 item 3), run as an operator runs it.

Three NATS nodes, ZooKeeper and three ClickHouse replicas (insert quorum 2), two collectors,
two HJ 212 gateways and two API processes behind HAProxy, PostgreSQL and the simulator, on a
tiny county with a one-day backfill (opt-in: `PLANTWATCH_TEST_MAKE_CLUSTER=1`). Through the
balancer the page's KPI becomes real (from readings the collectors wrote to ClickHouse and
the API processes rolled up), a refused HJ 212 packet becomes a dead letter in ClickHouse
(written by a gateway), and Ctrl-C stops every process and server of the cluster.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.kernel.clickhouse import ClickHouseStore, HttpRunner, Layout
from scripts.chstack import CLUSTER_NAME
from scripts.devstack import free_port, port_open
from tests.ingest.gateway.helpers import Logger, dead_letter_codes, packet
from tests.scripts.runstack import RunStack, tiny_registry
from tests.support import wait_until

# Opt-in, as the soak test: seventeen processes and servers (three NATS nodes, ZooKeeper, three
# ClickHouse replicas ...) on the machine's two cores: 94 s at a load average of 5-11, 160 s at ~30;
# the lane's tests cover its parts (tests/ingest/gateway/test_gateway_clickhouse.py, the
# replica-kill test, tests/scripts/test_balancer_api.py).
MAKE_CLUSTER_ENABLED = os.environ.get("PLANTWATCH_TEST_MAKE_CLUSTER") == "1"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(not MAKE_CLUSTER_ENABLED, reason="opt-in: PLANTWATCH_TEST_MAKE_CLUSTER=1"),
]

KPI_TIMEOUT_SECONDS = 120.0
# Each base port has the cluster's other ports just above it (scripts/cluster.py).
PORTS_ABOVE = 12


def free_base(taken: set[int]) -> int:
    """A free port with `PORTS_ABOVE` free ports after it, none of them in `taken` (which
    it joins)."""
    for _ in range(200):
        port = free_port()
        block = set(range(port, port + PORTS_ABOVE + 1))
        if max(block) < 65536 and not block & taken and not any(map(port_open, block)):
            taken |= block
            return port
    raise AssertionError("no free block of ports")


@dataclass
class ClusterStack(RunStack):
    """`python -m scripts.cluster` on its own var/ and ports."""

    module: str = "scripts.cluster"

    def __post_init__(self) -> None:
        names = ("INFLUX", "INFLUX_RPC", "MQTT", "API", "METRICS", "HJ212", "CLICKHOUSE")
        taken: set[int] = set()
        self.ports = {name: free_base(taken) for name in names}

    def env(self, simulator: str) -> dict[str, str]:
        return super().env(simulator) | {
            "PLANTWATCH_RUN_CLICKHOUSE_PORT": str(self.ports["CLICKHOUSE"])
        }

    @property
    def clickhouse(self) -> ClickHouseStore:
        url = f"http://127.0.0.1:{self.ports['CLICKHOUSE']}"
        return ClickHouseStore(HttpRunner(url), Layout("plantwatch", CLUSTER_NAME, 2))

    def diagnosis(self) -> str:
        logs = self.var / "cluster" / "logs"
        tails = [
            f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
            for p in sorted(logs.glob("*.log"))
        ] if logs.exists() else []  # fmt: skip
        return f"cluster.py output:\n{self.log()[-3000:]}\n" + "\n".join(tails)

    def children(self) -> set[int]:
        """The processes cluster.py started (services and servers alike)."""
        assert self.proc is not None
        return {pid for pid, parent in _processes() if parent == self.proc.pid}


def _processes() -> Iterator[tuple[int, int]]:
    """(pid, parent pid) of every live process; a zombie (exited, not reaped) is not live."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            yield int(entry.name), int(parent)


def alive(pids: set[int]) -> set[int]:
    return {pid for pid, _ in _processes() if pid in pids}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[ClusterStack]:
    cluster = ClusterStack(tmp_path / "var", tiny_registry(tmp_path / "registry.toml"), 1.0)
    yield cluster
    cluster.stop()


def real_kpi(stack: ClusterStack, at: datetime) -> dict[str, Any] | None:
    """The KPI through the balancer once every firm has a status from its readings."""
    resp = stack.get("/api/v1/kpi/gas-share", at=at.isoformat(), window_days=1)
    if resp.status_code != 200:
        return None
    kpi: dict[str, Any] = resp.json()
    known = kpi["firms"] > 0 and kpi["counts"].get("unknown", 0) == 0
    return kpi if known and kpi["share"] is not None and kpi["data_through"] else None


def test_make_cluster_on_clickhouse_serves_the_kpi_and_keeps_dead_letters(
    stack: ClusterStack,
) -> None:
    began = time.monotonic()
    stack.start()
    up = time.monotonic() - began
    banner = stack.log()
    assert "store           ClickHouse" in banner and "3 replicas" in banner, banner
    ready = stack.get("/readyz").json()
    assert ready["checks"] == {"clickhouse": True, "mqtt": True}, ready

    at = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    kpi: dict[str, Any] | None = None

    def became_real() -> bool:
        nonlocal kpi
        kpi = real_kpi(stack, at)
        return kpi is not None

    assert wait_until(became_real, KPI_TIMEOUT_SECONDS, 1.0), stack.diagnosis()
    assert kpi is not None
    first_kpi = time.monotonic() - began
    assert kpi["firms"] == 2 and kpi["totals"], kpi

    # A packet from an unknown logger, through the balancer to a gateway: refused, kept.
    logger = Logger(stack.ports["HJ212"])
    try:
        logger.send(packet(datetime.now(UTC), mn="NOT-REGISTERED"))
        with stack.clickhouse as store:
            assert wait_until(lambda: "unknown_source" in dead_letter_codes(store), 30.0), (
                stack.diagnosis()
            )
    finally:
        logger.close()

    # Ctrl-C stops every process and server it started (each API process and gateway too).
    children = stack.children()
    assert len(children) >= 13, children  # 6 services, 3 NATS nodes, ZooKeeper, 3 replicas, ...
    assert stack.proc is not None
    stack.proc.send_signal(signal.SIGINT)
    assert stack.proc.wait(90) == 0, stack.diagnosis()
    assert wait_until(lambda: not alive(children), 15.0), alive(children)
    print(f"banner after {up:.1f}s, first real KPI after {first_kpi:.1f}s")
