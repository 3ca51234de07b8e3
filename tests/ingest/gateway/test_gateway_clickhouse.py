"""The HJ 212 gateway on ClickHouse (`PLANTWATCH_STORE=clickhouse`, issue 26): it makes the
tables at its start and keeps refused packets as dead letters there, read back through the
store's own `read_range`, as the API's monthly report and refused-readings page read them.

A real gateway process, a private Mosquitto and a private ClickHouse server (Debian's 18.16,
`make deps-cluster`); no collector: dead letters go from the gateway to the store directly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from ingest.kernel.clickhouse import ClickHouseStore, HttpRunner, Layout
from scripts.devstack import Server, clickhouse_server
from tests.ingest.gateway.helpers import (
    Logger,
    dead_letter_codes,
    gateway_env,
    now_utc,
    packet,
    registry,
    wait_listening,
)
from tests.support import Process, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DATABASE = "gateway_test"


def test_refused_packets_become_dead_letters_in_clickhouse(
    tmp_path: Path, mosquitto: Server, spawn: Callable[..., Process]
) -> None:
    clickhouse = clickhouse_server(tmp_path / "clickhouse").start()
    url = f"http://127.0.0.1:{clickhouse.port}"
    try:
        env = gateway_env(
            registry(tmp_path / "r.toml"), mosquitto.port, "http://127.0.0.1:9", "unused",
            PLANTWATCH_STORE="clickhouse", PLANTWATCH_CLICKHOUSE_URL=url,
            PLANTWATCH_CLICKHOUSE_DB=DATABASE,
        )  # fmt: skip
        gateway = spawn(["ingest", "hj212-gateway"], env, "gateway")
        port = int(env["PLANTWATCH_HJ212_PORT"])
        wait_listening(gateway, port)
        logger = Logger(port)
        t0 = now_utc() - timedelta(minutes=5)
        try:
            logger.send(packet(t0, qn="20260301080000001", pw="wrong"))
            logger.send(packet(t0, qn="20260301080000002", mn="NOPE"))
            good = packet(t0 + timedelta(minutes=1), qn="20260301080100001")
            logger.send(good)  # answered once the broker holds it: the refused came first
            assert logger.wait_answer("20260301080100001"), gateway.log()
        finally:
            logger.close()
        with ClickHouseStore(HttpRunner(url), Layout(DATABASE)) as store:
            assert wait_until(
                lambda: dead_letter_codes(store) >= {"wrong_password", "unknown_source"}, 30
            ), gateway.log()
        assert "Traceback" not in gateway.log()
    finally:
        clickhouse.stop()
