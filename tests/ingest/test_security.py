"""MQTT security against a real Mosquitto run with the generated password and ACL files."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ingest.client import Inbound, MqttClient
from ingest.credentials import COLLECTOR_ACCOUNT, CredentialStore, hash_password
from ingest.registry import load_registry
from ingest.topics import Topics
from scripts.devstack import Server, mosquitto_server
from tests.conftest import Process, wait_until
from tests.ingest.faults import registry_text

pytestmark = pytest.mark.integration
TOPICS = Topics()


def reading(ts_ms: int, volume_m3: float) -> bytes:
    return json.dumps({"ts": ts_ms, "values": {"volume_m3": volume_m3}}).encode()


def connect(port: int, user: str | None, password: str | None, **kwargs) -> MqttClient:  # type: ignore[no-untyped-def]
    client = MqttClient(
        f"{user or 'anon'}-{uuid.uuid4().hex[:6]}", "127.0.0.1", port, user, password, **kwargs
    )
    client.start(wait=False)
    assert wait_until(lambda: client.connected or client.refused_reason is not None, 10)
    return client


def count(influx_url: str, database: str, query: str) -> int:
    resp = httpx.post(f"{influx_url}/query", data={"db": database, "q": query})
    series = resp.json()["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def test_hash_matches_mosquitto_passwd_format() -> None:
    salt = bytes(range(12))
    digest = hashlib.pbkdf2_hmac("sha512", b"secret", salt, 101, 64)
    # `$7$<iterations>$<base64 salt>$<base64 PBKDF2-SHA512>`, as mosquitto_passwd writes.
    assert hash_password("secret", salt) == (
        "$7$101$AAECAwQFBgcICQoL$" + base64.b64encode(digest).decode()
    )


def test_credential_store_is_private_and_stable(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "creds.json")
    first = store.password_for("ss-001")
    assert store.password_for("ss-001") == first
    assert CredentialStore(tmp_path / "creds.json").password_for("ss-001", create=False) == first
    assert store.password_for("ss-002") != first
    assert stat.S_IMODE((tmp_path / "creds.json").stat().st_mode) == 0o600
    with pytest.raises(Exception, match="no MQTT password"):
        store.password_for("ss-003", create=False)
    with pytest.raises(Exception, match="reserved for service accounts"):
        store.password_for("svc-collector")


def test_plant_cannot_publish_as_another_plant(
    tmp_path: Path, influxd: Server, spawn: Callable[..., Process]
) -> None:
    registry_path = tmp_path / "registry.toml"
    registry_path.write_text(registry_text(), encoding="utf-8")
    creds = CredentialStore(tmp_path / "creds.json")
    creds.write_broker_files(load_registry(registry_path), tmp_path / "passwd", tmp_path / "acl")
    broker = mosquitto_server(tmp_path / "mosquitto", None, tmp_path / "passwd", tmp_path / "acl")
    broker.start()
    database = f"sec_{uuid.uuid4().hex[:8]}"
    influx_url = f"http://127.0.0.1:{influxd.port}"
    try:
        collector = spawn(
            ["ingest"],
            {
                "PLANTWATCH_REGISTRY": str(registry_path),
                "PLANTWATCH_MQTT_PORT": str(broker.port),
                "PLANTWATCH_MQTT_USERNAME": COLLECTOR_ACCOUNT,
                "PLANTWATCH_MQTT_PASSWORD": creds.service_password(COLLECTOR_ACCOUNT),
                "PLANTWATCH_INFLUX_URL": influx_url,
                "PLANTWATCH_INFLUX_DB": database,
                "PLANTWATCH_COLLECTOR_ID": database,
                "PLANTWATCH_SPOOL_DIR": str(tmp_path / "spool"),
            },
            "collector",
        )
        assert wait_until(lambda: "mqtt connected" in collector.log(), 20), collector.log()

        anonymous = connect(broker.port, None, None)
        wrong = connect(broker.port, "ss-001", "not-the-password")
        assert not anonymous.connected and anonymous.refused_reason is not None
        assert not wrong.connected and wrong.refused_reason is not None
        anonymous.stop()
        wrong.stop()

        rejected: list[Inbound] = []
        plant = connect(
            broker.port,
            "ss-001",
            creds.password_for("ss-001"),
            subscriptions=[(f"{TOPICS.root}/plants/+/rejected", 1)],
            on_message=rejected.append,
        )
        other = connect(broker.port, "ss-002", creds.password_for("ss-002"))
        assert plant.connected and other.connected
        t0 = 1_772_323_200_000
        # Forged: ss-001 publishes under ss-002's topic. Mosquitto acknowledges and drops it.
        plant.publish(TOPICS.readings("ss-002", "gas-1"), reading(t0, 1.0)).wait_for_publish(5)
        other.publish(TOPICS.readings("ss-002", "gas-1"), b"not json").wait_for_publish(5)
        plant.publish(TOPICS.readings("ss-001", "gas-1"), b"not json either").wait_for_publish(5)
        # Markers published after the forgery: once they are stored, the forgery would be too.
        plant.publish(TOPICS.readings("ss-001", "gas-1"), reading(t0, 5.0)).wait_for_publish(5)
        other.publish(TOPICS.readings("ss-002", "gas-1"), reading(t0 + 1, 7.0)).wait_for_publish(5)

        assert wait_until(
            lambda: count(influx_url, database, 'SELECT count("volume_m3") FROM "gas"') == 2, 20
        ), collector.log()
        rows = httpx.post(
            f"{influx_url}/query",
            data={"db": database, "q": 'SELECT "volume_m3", "plant" FROM "gas"', "epoch": "ms"},
        ).json()["results"][0]["series"][0]["values"]
        assert sorted((r[2], r[1]) for r in rows) == [("ss-001", 5.0), ("ss-002", 7.0)]
        assert wait_until(lambda: len(rejected) >= 1, 10)
        # ss-001 hears about its own refusal, never about ss-002's.
        assert wait_until(
            lambda: count(influx_url, database, 'SELECT count("reason") FROM "dead_letter"') == 2,
            10,
        )
        assert {m.topic for m in rejected} == {TOPICS.rejected("ss-001")}
        plant.stop()
        other.stop()
    finally:
        broker.stop()
