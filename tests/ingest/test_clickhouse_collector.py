"""A real collector on ClickHouse (PLANTWATCH_STORE=clickhouse): MQTT in, rows out, each
reading once whatever is killed (issue 26, SPEC 5 and 14).

A private Mosquitto and a private ClickHouse server (Debian's 18.16, `make deps-cluster`) on
free ports; the publisher and the per-reading values of tests/ingest/faults.py (reading i
is minute i and carries 1000 + i). Counted per reading: rows per (plant, time) of
`volume_m3`, every one 1, each value its own.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.devstack import free_port
from tests.ingest.clickhouse_support import (
    MESSAGES,
    RATE_PER_SECOND,
    assert_each_reading_once,
    clickhouse_stack,
    rows_per_reading,
)
from tests.ingest.faults import (
    Collector,
    Publisher,
    registry_text,
)
from tests.support import Process, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_collector_sigkilled_mid_stream_and_restarted(
    tmp_path: Path, spawn: Callable[..., Process]
) -> None:
    with clickhouse_stack(tmp_path) as stack:
        first = Collector(spawn, stack).start()  # type: ignore[arg-type]
        publisher = Publisher(stack.mosquitto.port, MESSAGES, RATE_PER_SECOND).start()
        publisher.wait_queued(0.4)
        assert wait_until(lambda: len(rows_per_reading(stack.url)) > 0, 20), first.log()
        assert first.process is not None
        first.process.kill()  # SIGKILL: whatever was not acknowledged is redelivered
        publisher.wait_queued(0.6)
        second = Collector(spawn, stack).start()  # type: ignore[arg-type]
        sent = publisher.finish()
        assert_each_reading_once(stack.url, sent, first.log, second.log)
        assert second.metric("received") > 0  # the rest came through the restarted one


def test_clickhouse_sigkilled_mid_stream_and_restarted(
    tmp_path: Path, spawn: Callable[..., Process]
) -> None:
    """The store killed: the collector spools, and replays as rows once it is back."""
    with clickhouse_stack(tmp_path) as stack:
        collector = Collector(spawn, stack).start()  # type: ignore[arg-type]
        publisher = Publisher(stack.mosquitto.port, MESSAGES, RATE_PER_SECOND).start()
        publisher.wait_queued(0.3)
        stack.clickhouse.kill()  # SIGKILL
        assert wait_until(lambda: collector.metric("spooled") > 0, 20), collector.log()
        publisher.wait_queued(0.7)
        stack.clickhouse.start()
        sent = publisher.finish()
        assert_each_reading_once(stack.url, sent, collector.log)
        assert wait_until(lambda: collector.metric("spool_bytes") == 0, 20)
        assert collector.metric("replayed") > 0


def test_a_collector_stops_at_start_when_clickhouse_does_not_answer(
    tmp_path: Path, spawn: Callable[..., Process]
) -> None:
    registry = tmp_path / "registry.toml"
    registry.write_text(registry_text(), encoding="utf-8")
    nowhere = f"http://127.0.0.1:{free_port()}"
    process = spawn(
        ["ingest"],
        {
            "PLANTWATCH_STORE": "clickhouse",
            "PLANTWATCH_CLICKHOUSE_URL": nowhere,
            "PLANTWATCH_REGISTRY": str(registry),
            "PLANTWATCH_MQTT_PORT": str(free_port()),
        },
        "collector",
    )
    assert process.proc is not None
    try:
        code = process.proc.wait(60)
    except subprocess.TimeoutExpired:
        pytest.fail("the collector kept running without its store:\n" + process.log())
    assert code == 2
    assert f"PLANTWATCH_STORE=clickhouse: cannot create the tables at {nowhere}" in process.log()
    assert "does not answer" in process.log()
