"""HTTP push: same validation as MQTT, published to the broker, stored by a real collector."""

from __future__ import annotations

import json
import queue
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.push import PushUnavailable, ReadingPublisher
from api.settings import ApiSettings
from ingest.client import Inbound, MqttClient
from ingest.kernel.schema import MAX_PACKET_BYTES, publish_payload_limit, with_source
from ingest.kernel.store import InfluxStore
from scripts.devstack import Server, mosquitto_server
from tests.api.support import ADMIN
from tests.builders import FUEL_METERS, registry_toml
from tests.ingest.support import AwaySession
from tests.support import Process, wait_until

pytestmark = pytest.mark.integration

TOML = registry_toml({"ss-a": ("stainless_steel", FUEL_METERS)})
PATH = "/api/v1/plants/ss-a/meters/gas-1/readings"


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def test_push_is_published_with_its_source_after_puback(
    make_client: Callable[..., TestClient], mosquitto: Server
) -> None:
    inbox: queue.Queue[Inbound] = queue.Queue()
    listener = MqttClient(
        f"listener-{uuid.uuid4().hex[:6]}",
        "127.0.0.1",
        mosquitto.port,
        on_message=inbox.put,
        subscriptions=[("plantwatch/plants/ss-a/meters/gas-1/readings", 1)],
    )
    listener.start()
    try:
        client = make_client(TOML, mqtt_port=mosquitto.port)
        t = now_ms() - 60_000
        payload = json.dumps(
            {
                "readings": [
                    {"ts": t, "values": {"volume_m3": 10.0}},
                    {"ts": t + 1000, "values": {"volume_m3": 11.5}, "flags": {"volume_m3": "M"}},
                ]
            }
        ).encode()
        resp = client.post(PATH, content=payload, headers=ADMIN)
        assert resp.status_code == 202, resp.text
        assert resp.json() == {
            "accepted": 2,
            "plant": "ss-a",
            "meter": "gas-1",
            "topic": "plantwatch/plants/ss-a/meters/gas-1/readings",
            "invalid": [],
            "invalid_total": 0,
            "dropped": [],
            "dropped_total": 0,
        }
        message = inbox.get(timeout=10)
        # The plant's readings as sent, in a batch that says it came over HTTP (SPEC 14).
        assert message.payload == with_source(payload, "http") and message.qos == 1
        assert json.loads(message.payload)["source"] == "http"
        # A bad value and a reading without its register: 202 with what was not kept; the
        # message goes to the broker as sent (the collector stores the rest).
        partial = json.dumps(
            {
                "readings": [
                    {"ts": t, "values": {"volume_m3": 12.0, "flow_m3h": -3}},
                    {"ts": t + 1000, "values": {"flow_m3h": 4}},
                ]
            }
        ).encode()
        resp = client.post(PATH, content=partial, headers=ADMIN)
        assert resp.status_code == 202, resp.text
        ts = datetime.fromtimestamp(t / 1000, UTC).isoformat()
        assert resp.json() == {
            "accepted": 1,
            "plant": "ss-a",
            "meter": "gas-1",
            "topic": "plantwatch/plants/ss-a/meters/gas-1/readings",
            "invalid": [
                {
                    "reading": 0,
                    "ts": ts,
                    "value": "flow_m3h",
                    "reason": "readings[0]: flow_m3h=-3 is outside the plausible range [0, 1e+06]",
                }
            ],
            "invalid_total": 1,
            "dropped": [
                {
                    "reading": 1,
                    "ts": datetime.fromtimestamp(t / 1000 + 1, UTC).isoformat(),
                    "reason": "readings[1]: dropped, a gas meter must send volume_m3",
                }
            ],
            "dropped_total": 1,
        }
        assert inbox.get(timeout=10).payload == with_source(partial, "http")
    finally:
        listener.stop()


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        (PATH, b"not json", "payload is not valid UTF-8 JSON"),
        (
            PATH,
            b'{"ts": 1772323200000, "values": {"mass_kg": 1}}',
            "'mass_kg' is not a value of a gas meter",
        ),
        (PATH, b'{"ts": "2026-03-01T08:00:00", "values": {"volume_m3": 1}}', "has no UTC offset"),
        (PATH, b'{"ts": 4000000000000, "values": {"volume_m3": 1}}', "in the future"),
        (  # nothing usable: the register is out of range, so the reading is dropped
            PATH,
            b'{"ts": 1772323200000, "values": {"volume_m3": -5, "flow_m3h": 2}}',
            "no valid value in the message: reading: dropped, a gas meter must send volume_m3; "
            "volume_m3=-5 is outside the plausible range",
        ),
        (
            "/api/v1/plants/ss-a/meters/gas-9/readings",
            b'{"ts": 1772323200000, "values": {"volume_m3": 1}}',
            "meter 'gas-9' is not registered for plant 'ss-a'",
        ),
        (
            "/api/v1/plants/ss-zz/meters/gas-1/readings",
            b'{"ts": 1772323200000, "values": {"volume_m3": 1}}',
            "plant 'ss-zz' is not in the registry",
        ),
    ],
)
def test_nothing_usable_is_422_with_the_collectors_reason_and_kept(
    path: str,
    body: bytes,
    reason: str,
    make_client: Callable[..., TestClient],
    store: InfluxStore,
) -> None:
    client = make_client(TOML)
    resp = client.post(path, content=body, headers=ADMIN)
    assert resp.status_code == 422
    assert reason in resp.json()["detail"]
    (dead,) = store.query('SELECT "reason", "topic" FROM "dead_letter"')
    assert reason in dead.values[0][1]


def test_broker_down_is_503_and_nothing_is_claimed(make_client: Callable[..., TestClient]) -> None:
    client = make_client(TOML, push_timeout_seconds=0.3)
    body = json.dumps({"ts": now_ms(), "values": {"volume_m3": 1.0}}).encode()
    resp = client.post(PATH, content=body, headers=ADMIN)
    assert resp.status_code == 503
    assert "not connected" in resp.json()["detail"]


def test_pushed_readings_reach_influxdb_through_the_collector(
    make_client: Callable[..., TestClient],
    mosquitto: Server,
    influxd: Server,
    store: InfluxStore,
    spawn: Callable[..., Process],
    tmp_path,
) -> None:
    registry = tmp_path / "registry.toml"
    registry.write_text(TOML, encoding="utf-8")
    collector = spawn(
        ["ingest"],
        {
            "PLANTWATCH_REGISTRY": str(registry),
            "PLANTWATCH_MQTT_PORT": str(mosquitto.port),
            "PLANTWATCH_INFLUX_URL": store.url,
            "PLANTWATCH_INFLUX_DB": store.database,
            "PLANTWATCH_COLLECTOR_ID": f"push-{store.database}",
            "PLANTWATCH_SHARE_GROUP": store.database,
            "PLANTWATCH_SPOOL_DIR": str(tmp_path / "spool"),
        },
        "collector",
    )
    assert wait_until(lambda: "mqtt connected" in collector.log(), 20), collector.log()
    client = make_client(TOML, mqtt_port=mosquitto.port)
    t = datetime.now(UTC) - timedelta(minutes=5)
    body = json.dumps(
        {"readings": [{"ts": t.isoformat(), "values": {"volume_m3": 7.0}}] * 2}
    ).encode()  # the same reading twice stays one point
    assert client.post(PATH, content=body, headers=ADMIN).status_code == 202
    assert client.post(PATH, content=body, headers=ADMIN).status_code == 202  # a retry too

    def stored() -> list:
        series = store.query('SELECT "volume_m3" FROM "gas"')
        return list(series[0].values) if series else []

    assert wait_until(lambda: len(stored()) == 1, 20), collector.log()
    assert stored()[0][1] == 7.0


TWO_PLANTS = registry_toml(
    {"ss-a": ("stainless_steel", FUEL_METERS), "ss-b": ("stainless_steel", FUEL_METERS)}
)


def small_push(i: int) -> bytes:
    return json.dumps({"ts": now_ms() - 60_000 + i, "values": {"volume_m3": 10.0 + i}}).encode()


def test_an_oversized_push_is_413_and_other_plants_keep_pushing(
    make_client: Callable[..., TestClient], mosquitto: Server
) -> None:
    """Failed before the fix: a 328 KB push passed the 4 MB body limit, was published, the
    broker (max_packet_size 256 KiB) dropped the API's connection and paho resent it on every
    reconnect: 14 of 14 small pushes from another plant got 503."""
    client = make_client(TWO_PLANTS, mqtt_port=mosquitto.port, push_timeout_seconds=3.0)
    big = b'{"readings": [], "pad": "' + b"x" * 328_000 + b'"}'
    resp = client.post(PATH, content=big, headers=ADMIN)
    assert resp.status_code == 413, resp.text
    assert str(MAX_PACKET_BYTES) in resp.json()["detail"]
    # Under the body limit but over what fits in one PUBLISH on this topic: 413 too.
    limit = publish_payload_limit("plantwatch/plants/ss-a/meters/gas-1/readings")
    edge = b'{"pad": "' + b"x" * (limit - 10) + b'"}'
    assert len(edge) == limit + 1
    resp = client.post(PATH, content=edge, headers=ADMIN)
    assert resp.status_code == 413, resp.text
    assert f"limit of {limit} bytes" in resp.json()["detail"]
    other = "/api/v1/plants/ss-b/meters/gas-1/readings"
    codes = [
        client.post(other, content=small_push(i), headers=ADMIN).status_code for i in range(14)
    ]
    assert codes == [202] * 14


def test_a_message_without_puback_is_dropped_not_resent_forever(
    make_settings: Callable[..., ApiSettings], mosquitto: Server
) -> None:
    """A publisher told a larger limit than the broker's: the broker drops the connection on
    the big message; the publisher gives up on it (503) and the next pushes all go through.

    Failed before the fix: paho kept the message and resent it on every reconnect, so every
    later push timed out too."""
    settings = make_settings(
        TWO_PLANTS,
        mqtt_port=mosquitto.port,
        push_timeout_seconds=2.0,
        mqtt_max_packet_bytes=10 * MAX_PACKET_BYTES,
    )
    publisher = ReadingPublisher(settings)
    topic = "plantwatch/plants/ss-a/meters/gas-1/readings"
    try:
        publisher.start()
        assert publisher.client.wait_connected(10)
        with pytest.raises(PushUnavailable, match="no PUBACK"):
            publisher.publish(topic, b"x" * (MAX_PACKET_BYTES + 1))
        for i in range(14):
            publisher.publish("plantwatch/plants/ss-b/meters/gas-1/readings", small_push(i))
    finally:
        publisher.stop()


def test_a_202_survives_a_broker_sigkill(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    """SIGKILL the shipped broker right after a push's 202: the reading is still delivered.

    Failed before the fix: the broker saved every 5 s and answered PUBACK before saving."""
    broker = mosquitto_server(tmp_path / "mosquitto").start()
    try:
        session = AwaySession(broker, "plantwatch/plants/ss-a/meters/gas-1/readings")
        session.subscribe_and_leave()
        client = make_client(TOML, mqtt_port=broker.port)
        body = json.dumps({"ts": now_ms() - 60_000, "values": {"volume_m3": 42.0}}).encode()
        assert client.post(PATH, content=body, headers=ADMIN).status_code == 202
        broker.kill()
        broker.start()
        # published as a batch naming its path (SPEC 14): the same reading, source http
        came = json.loads(session.come_back())
        assert came == {"source": "http", "readings": [json.loads(body)]}
    finally:
        broker.kill()
