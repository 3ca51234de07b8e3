"""End to end: readings over real MQTT -> `python -m ingest` -> the store -> `python -m api`.

On each engine (`PLANTWATCH_STORE`): InfluxDB, and ClickHouse (Debian's 18.16 server, one
process shared by the collector, `python -m api rollup` and the API: chdb cannot be shared),
the same readings give the same KPI answer, read from the rollups the rollup command wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import pytest

from ingest.client import MqttClient
from ingest.kernel.clickhouse import HttpRunner, Layout
from ingest.kernel.schema import Reading, encode_readings
from ingest.kernel.topics import Topics
from scripts.devstack import Server, clickhouse_server, free_port
from tests.builders import RegistryBuilder
from tests.support import Process, http_get, http_post, wait_http, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

AT = datetime(2026, 11, 20, tzinfo=UTC)
STEP = timedelta(minutes=15)
READINGS_IN_WINDOW = 96  # one day of 15-minute readings -> 96 steps whose later reading is in it
# plant -> (gas m3 per step, coal kg per step, gas meter reports?)
FIRMS = {
    "ss-gas-a": (10.0, 0.0, True),
    "ss-gas-b": (20.0, 0.5, True),  # 24.286 / (24.286 + 0.357) = 0.986 -> gas
    "ss-coal": (0.0, 30.0, True),
    "ss-mixed": (10.0, 10.0, True),  # 12.143 / (12.143 + 7.143) = 0.63 -> mixed
    "ss-idle": (0.0, 0.0, True),
    "ss-silent": (10.0, 0.0, False),  # gas meter never reports -> unknown
}
ADMIN_KEY = "test-admin-key"


def registry_text() -> str:
    builder = RegistryBuilder(county="Test county", goal=0.5)
    for plant in FIRMS:
        builder.plant(plant, name=f"{plant} 有限公司")
    return builder.plant("sl-001", "synthetic_leather", []).toml()


def publish_county(mqtt_port: int) -> int:
    topics = Topics()
    client = MqttClient(f"test-plants-{uuid.uuid4().hex[:6]}", "127.0.0.1", mqtt_port)
    client.start()
    start = AT - READINGS_IN_WINDOW * STEP - 4 * STEP  # 4 readings before the window too
    sent = 0
    for plant, (gas_step, coal_step, gas_reports) in FIRMS.items():
        times = [start + i * STEP for i in range(READINGS_IN_WINDOW + 4)]
        gas = [
            Reading(t, MappingProxyType({"volume_m3": 5000.0 + i * gas_step}))
            for i, t in enumerate(times)
        ]
        coal = [
            Reading(t, MappingProxyType({"mass_kg": 100.0 + i * coal_step}))
            for i, t in enumerate(times)
        ]
        meters = [("coal-1", coal)] + ([("gas-1", gas)] if gas_reports else [])
        for meter, readings in meters:
            for chunk in range(0, len(readings), 25):
                info = client.publish(
                    topics.readings(plant, meter), encode_readings(readings[chunk : chunk + 25])
                )
                info.wait_for_publish(10)
                sent += len(readings[chunk : chunk + 25])
    client.stop()
    return sent


@contextmanager
def engine_env(engine: str, influxd: Server, tmp_path: Path, database: str) -> Iterator[
    tuple[dict[str, str], Callable[[], int]]
]:  # fmt: skip
    """The store settings of `engine`, and how many fuel readings it holds (records)."""
    if engine == "influxdb":
        influx = f"http://127.0.0.1:{influxd.port}"

        def influx_count() -> int:
            resp = http_post(
                f"{influx}/query",
                data={
                    "db": database,
                    "q": "SELECT count(volume_m3) FROM gas; SELECT count(mass_kg) FROM coal",
                },
            )
            results = resp.json().get("results", [])
            return sum(r["series"][0]["values"][0][1] for r in results if "series" in r)

        yield {"PLANTWATCH_INFLUX_URL": influx, "PLANTWATCH_INFLUX_DB": database}, influx_count
        return
    server = clickhouse_server(tmp_path / "clickhouse").start()
    url = f"http://127.0.0.1:{server.port}"
    runner = HttpRunner(url)

    def clickhouse_count() -> int:
        records = (
            f"SELECT 1 FROM {Layout(database).table} WHERE name IN ('volume_m3', 'mass_kg') "
            "GROUP BY measurement, plant, meter, name, ts_ms"
        )
        try:
            return int(runner.run(f"SELECT count() FROM ({records})")[0][0])
        except Exception:  # its tables not made yet
            return -1

    try:
        yield (
            {
                "PLANTWATCH_STORE": "clickhouse",
                "PLANTWATCH_CLICKHOUSE_URL": url,
                "PLANTWATCH_CLICKHOUSE_DB": database,
            },
            clickhouse_count,
        )
    finally:
        runner.close()
        server.stop()


@pytest.mark.parametrize("engine", ["influxdb", "clickhouse"])
def test_gas_share_from_mqtt_to_api(
    tmp_path: Path,
    influxd: Server,
    mosquitto: Server,
    spawn: Callable[..., Process],
    engine: str,
) -> None:
    registry = tmp_path / "registry.toml"
    registry.write_text(registry_text(), encoding="utf-8")
    database = f"e2e_{uuid.uuid4().hex[:8]}"
    with engine_env(engine, influxd, tmp_path, database) as (store_env, stored):
        env = {
            "PLANTWATCH_REGISTRY": str(registry),
            "PLANTWATCH_MQTT_PORT": str(mosquitto.port),
            "PLANTWATCH_API_PORT": str(free_port()),
            "PLANTWATCH_ADMIN_KEY": ADMIN_KEY,
            "PLANTWATCH_COLLECTOR_ID": f"e2e-{database}",
            "PLANTWATCH_SHARE_GROUP": database,
            **store_env,
        }
        check_gas_share(env, spawn, stored)


def check_gas_share(
    env: dict[str, str], spawn: Callable[..., Process], stored: Callable[[], int]
) -> None:
    collector = spawn(["ingest"], env, "collector")
    api = spawn(["api"], env, "api")
    base = f"http://127.0.0.1:{env['PLANTWATCH_API_PORT']}"
    assert wait_http(f"{base}/healthz").json() == {"status": "ok"}
    # The collector subscribes asynchronously; wait for its persistent session to exist.
    assert wait_until(lambda: "mqtt connected" in collector.log(), 20), collector.log()

    sent = publish_county(int(env["PLANTWATCH_MQTT_PORT"]))
    assert sent == (len(FIRMS) * 2 - 1) * (READINGS_IN_WINDOW + 4)
    assert wait_until(lambda: stored() == sent, 30), (stored(), sent, collector.log())

    # The rollups, as an operator runs them; the KPI below is then answered from them.
    rollup = spawn(["api", "rollup"], env, "rollup")
    assert rollup.proc is not None and rollup.proc.wait(120) == 0, rollup.log()
    assert "fuel: rolled up until" in rollup.log(), rollup.log()

    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    ready = http_get(f"{base}/readyz").json()
    assert ready == {"ready": True, "checks": {env.get("PLANTWATCH_STORE", "influxdb"): True,
                                               "mqtt": True}}  # fmt: skip
    assert http_get(f"{base}/api/v1/kpi/gas-share").status_code == 401
    resp = http_get(
        f"{base}/api/v1/kpi/gas-share",
        params={"at": AT.isoformat(), "window_days": 1},
        headers=headers,
        timeout=30,
    )
    assert resp.status_code == 200, resp.text + api.log()
    kpi = resp.json()
    # Answered from the rollups `python -m api rollup` wrote (whole hours and local days).
    assert {s["source"] for s in kpi["sources"]} >= {"hourly"}, kpi["sources"]
    rows = {row["plant"]: row for row in kpi["rows"]}
    assert {p: r["status"] for p, r in rows.items()} == {
        "ss-gas-a": "gas",
        "ss-gas-b": "gas",
        "ss-coal": "coal",
        "ss-mixed": "mixed",
        "ss-idle": "idle",
        "ss-silent": "unknown",
    }
    # SPEC section 6: the step into the window (from the reading before it) belongs to it.
    steps = READINGS_IN_WINDOW
    assert rows["ss-gas-a"]["gas_m3"] == pytest.approx(steps * 10.0)
    assert rows["ss-coal"]["coal_kg"] == pytest.approx(steps * 30.0)
    assert rows["ss-mixed"]["gas_fraction"] == pytest.approx(12.143 / (12.143 + 7.143), rel=1e-4)
    assert kpi["firms"] == 6
    assert kpi["counts"] == {"gas": 2, "mixed": 1, "coal": 1, "idle": 1, "unknown": 1}
    assert kpi["share"] == pytest.approx(2 / 5)
    assert kpi["share_upper"] == pytest.approx(3 / 5)
    assert kpi["firms_needed"] == 1  # ceil(0.5 * 5) - 2
    assert kpi["definition"]["gas_kgce_per_m3"] == 1.2143
    api.stop()  # before the store goes away with its context
    collector.stop()
