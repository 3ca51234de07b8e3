"""HJ 212-2025 and 2017 loggers on one gateway: TCP -> broker -> collector -> InfluxDB -> hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.voc.queries import MINUTE_MEASUREMENT
from api.voc.service import fresh_aggregates
from ingest.kernel import hj212, hj212_sm4
from ingest.kernel.schema import to_epoch_ms
from ingest.kernel.store import InfluxStore
from scripts.devstack import Server
from simulators.tcp_logger import LoggerProfile, TcpLoggers
from tests.builders import MeterSpec, RegistryBuilder
from tests.ingest import hj2025 as v2025
from tests.ingest.gateway.helpers import MN, PW, Logger, count, gateway_env, now_utc, packet, start
from tests.support import wait_until, write_registry

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

QN_2025 = "20240520210700000"  # Appendix A.2's packet
MINUTE_UTC = datetime(2024, 5, 20, 13, 6, tzinfo=UTC)  # its DataTime, 21:06 in Songyang


def registry(path: Path) -> Path:
    builder = RegistryBuilder()
    builder.plant(
        "sl-025",
        "synthetic_leather",
        [
            MeterSpec(
                "stack-1",
                "voc",
                {"hj212_mn": v2025.MN, "hj212_pw": v2025.PW, "hj212_sm4_key": v2025.KEY_HEX},
            )
        ],
    )
    builder.plant(
        "sl-001",
        "synthetic_leather",
        [MeterSpec("stack-1", "voc", {"hj212_mn": MN, "hj212_pw": PW})],
    )
    builder.plant(
        "sl-026",
        "synthetic_leather",
        [MeterSpec("stack-1", "voc", {"hj212_mn": v2025.PLAIN_MN, "hj212_pw": v2025.PW})],
    )
    return write_registry(path, builder.toml())


def test_a_2025_encrypted_packet_reaches_the_hour_answered_with_flag_8_beside_a_2017_logger(
    tmp_path: Path, mosquitto: Server, influx_url: str, store: InfluxStore, spawn
) -> None:
    env = gateway_env(registry(tmp_path / "r.toml"), mosquitto.port, influx_url, store.database)
    _, gateway, port = start(spawn, env)
    logger_2025, logger_2017 = Logger(port), Logger(port)
    try:
        # The same stack's packet under a key that is not its own: refused, unanswered.
        forged_plain = v2025.A2_PLAIN_13_BLOCKS.replace(QN_2025.encode(), b"20240520210700999")
        forged_plain = hj212.frame(forged_plain[6:-4].decode()).rstrip(b"\r\n")
        logger_2025.send(hj212_sm4.encrypt_packet(forged_plain, b"9" * 16))
        # The standard's own encrypted example, split over reads.
        logger_2025.send(v2025.A2_SEALED_13_BLOCKS + b"\r\n", pieces=9, pause_s=0.01)
        t0 = now_utc() - timedelta(minutes=5)
        logger_2017.send(packet(t0, qn="20260301080000001"))
        assert logger_2025.wait_answer(QN_2025), gateway.log()
        assert logger_2017.wait_answer("20260301080000001"), gateway.log()
        got = logger_2025.received + logger_2017.received
        flags = {p.qn: p.header["Flag"] for p in got if p.cn == "9014"}
        assert flags == {QN_2025: "8", "20260301080000001": "4"}  # each in its own version
        # the gateway's commands (a clock check) too: Flag=9 to the 2025 logger
        assert {p.header["Flag"] for p in logger_2025.received if p.cn != "9014"} <= {"9"}
        assert wait_until(lambda: count(store) == 1, 30)  # the 2017 logger's reading

        def minute_temp() -> list[tuple[object, ...]]:
            series = store.query(
                f"SELECT temp_c, humidity_pct FROM {MINUTE_MEASUREMENT} WHERE plant = 'sl-025'"
            )
            return series[0].values if series else []

        assert wait_until(lambda: minute_temp() != [], 30)
        assert list(minute_temp()[0][1:]) == [9.3, 3.211]
        hour_ms = to_epoch_ms(MINUTE_UTC.replace(minute=0))
        hour = fresh_aggregates(store, ["sl-025"], ["temp_c"], hour_ms, 1)
        assert hour[("sl-025", "stack-1")]["temp_c"]["valid_minutes"].tolist() == [1.0]
        # the forged packet never answered, never stored
        assert "20240520210700999" not in logger_2025.answers()
        assert len(minute_temp()) == 1
        dead = 'SELECT "reason" FROM dead_letter WHERE "code" = \'undecryptable\''
        assert wait_until(lambda: store.query(dead) != [], 30)
        assert v2025.KEY_HEX not in gateway.log()
        # A packet split in two (PNUM/PNO), encrypted, the part without DataTime first.
        local = (now_utc() - timedelta(minutes=20) + timedelta(hours=8)).strftime("%Y%m%d%H%M00")
        head = f"QN={local}000;ST=31;CN=2051;PW={v2025.PW};MN={v2025.MN};Flag=11;PNUM=2"
        first = f"DataTime={local};a24088-Avg=21.5,a24088-Flag=N"
        for number, cp in ((2, "a25002-Avg=0.4,a25002-Flag=N"), (1, first)):
            part = hj212.frame(f"{head};PNO={number};CP=&&{cp}&&")
            logger_2025.send(hj212_sm4.encrypt_packet(part, v2025.KEY))
        assert logger_2025.wait_answer(f"{local}000"), gateway.log()

        def joined() -> list[list[object]]:
            found = store.query("SELECT nmhc_mgm3, benzene_mgm3 FROM voc_minute")
            return [list(row[1:]) for row in found[0].values] if found else []

        assert wait_until(lambda: joined() != [], 30)
        assert joined() == [[21.5, 0.4]]  # one point: both parts' values
    finally:
        logger_2025.close()
        logger_2017.close()
    # The simulated county's loggers: an encrypting 2025 one, a back-filling 2025 one, a 2017.
    loggers = TcpLoggers(
        "127.0.0.1",
        port,
        {v2025.MN: v2025.PW, v2025.PLAIN_MN: v2025.PW, MN: PW},
        resend_seconds=1.0,
        profiles={
            v2025.MN: LoggerProfile(hj212.VERSION_2025, v2025.KEY),
            v2025.PLAIN_MN: LoggerProfile(hj212.VERSION_2025, backfill=True, backfill_batch=5),
        },
    ).start()
    try:
        for i in range(5):
            t = now_utc() - timedelta(minutes=30 - i)
            for mn in (v2025.MN, v2025.PLAIN_MN, MN):
                raw = packet(t, mn=mn, pw="x", qn="1", flag="8" if mn != MN else "4")
                # the engine hands over what the logger sends: encrypted when keyed
                sealed = hj212_sm4.encrypt_packet(raw, v2025.KEY) if mn == v2025.MN else raw
                loggers.publish("", "x/hj212", sealed)
        assert wait_until(lambda: loggers.latencies.answered == 15, 60), gateway.log()
        assert wait_until(lambda: count(store) == 1 + 15, 30), count(store)
        backfilled = store.query("SELECT count(nmhc_mgm3) FROM voc WHERE backfill = true")
        assert backfilled[0].values[0][1] == 5  # the back-filler's, RF=1, at their own times
        assert not loggers.loggers[v2025.PLAIN_MN].held
    finally:
        loggers.stop()
