"""Day two: `make run` stopped (Ctrl-C) or cut off (SIGKILL) starts again on the same var/.

The whole stack runs as an operator runs it (scripts/run.py: InfluxDB, Mosquitto with its
dynamic-security accounts, collector, HJ 212 gateway, API, simulator) on a tiny county with
a two-day backfill. Figures read before a stop are read again after the next start.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.scripts.runstack import RunStack, new_officer_key, tiny_registry
from tests.support import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.integration]

STOP_BUDGET_SECONDS = 10.0


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[RunStack]:
    run = RunStack(tmp_path / "var", tiny_registry(tmp_path / "registry.toml"))
    yield run
    run.stop()


def an_hour_ago() -> datetime:
    """A fixed instant inside the backfill, so live play after it changes no figure."""
    return (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)


def test_ctrl_c_then_start_again_keeps_figures_alerts_and_keys(stack: RunStack) -> None:
    first_start = stack.start()
    assert wait_until(stack.simulator_done, 60.0), stack.diagnosis()
    at = an_hour_ago()
    before = stack.settled_figures(at)
    assert before["raw"]["gas"] > 0 and before["raw"]["voc"] > 0
    officer = new_officer_key(stack)

    stop_seconds = stack.interrupt()
    assert stop_seconds < STOP_BUDGET_SECONDS, stack.diagnosis()

    restart = stack.start(simulator="off")
    after = stack.settled_figures(at)
    assert after == before
    assert stack.get("/api/v1/kpi/gas-share", key=officer).status_code == 200
    print(f"first start {first_start:.1f}s, stop {stop_seconds:.1f}s, restart {restart:.1f}s")


def test_sigkill_mid_backfill_then_start_again_loses_nothing_acknowledged(
    stack: RunStack,
) -> None:
    days = 8
    stack.backfill_days = days  # long enough to be cut off in the middle of it
    stack.start(wait=False)
    # Cut the power the moment the simulator has its backfill acknowledged by the broker,
    # while the collector is still writing it (it lags behind on a busy machine).
    assert wait_until(stack.simulator_done, 120.0, 0.05), stack.diagnosis()
    stored_at_kill = stack.raw_counts()
    stack.kill_all()

    # `make run` again, as the operator does after a power cut: the simulated county's
    # backfill is published again and the store keeps each reading once.
    restart = stack.start()
    assert wait_until(stack.simulator_done, 120.0, 0.1), stack.diagnosis()
    after = stack.settled_figures(an_hour_ago())
    # Nothing InfluxDB had stored is lost, and the backfill is whole: every 15-minute fuel
    # reading and every one-minute stack reading of its days.
    firms, stacks = 2, 1
    assert all(after["raw"][m] >= n for m, n in stored_at_kill.items())
    assert after["raw"]["gas"] >= firms * 96 * days, (stored_at_kill, after["raw"])
    assert after["raw"]["coal"] >= firms * 96 * days
    assert after["raw"]["voc"] >= stacks * 1440 * days
    stop_seconds = stack.interrupt()
    assert stop_seconds < STOP_BUDGET_SECONDS, stack.diagnosis()
    print(f"stored at the kill {stored_at_kill}, restart {restart:.1f}s, stop {stop_seconds:.1f}s")


def _stored(stack: RunStack) -> int:
    try:
        return sum(stack.raw_counts().values())
    except (httpx.HTTPError, KeyError):
        return 0  # InfluxDB starting, or the database not created yet
