"""Broker accounts in Mosquitto's dynamic-security plugin, against a real broker (issue 14).

Identity is bound to the account (a plant cannot use a collector's client id), plants
publish only their own topics, accounts change without a broker restart, oversized
publishes are refused without harming other plants, an abrupt disconnect fires the Last
Will, and plants can connect over TLS verifying the broker's certificate.
"""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ingest.client import Inbound, MqttClient
from ingest.credentials import CredentialStore, provision_broker
from ingest.dynsec import ADMIN_ACCOUNT, API_ACCOUNT, collector_account
from ingest.kernel.registry import load_registry
from ingest.kernel.topics import Topics
from scripts.devstack import MAX_PACKET_BYTES, Server, TlsListener, free_port, mosquitto_server
from scripts.tls import make_ca, make_server_cert
from tests.builders import RegistryBuilder
from tests.support import Process, http_post, wait_until

pytestmark = pytest.mark.integration
TOPICS = Topics()
T0_MS = 1_772_323_200_000
PLANTS = ("ss-001", "ss-002")


def registry_text(*plants: str) -> str:
    builder = RegistryBuilder()
    for plant in plants:
        builder.plant(plant, meters=[("gas-1", "gas")])
    return builder.toml()


def reading(ts_ms: int, volume_m3: float) -> bytes:
    return json.dumps({"ts": ts_ms, "values": {"volume_m3": volume_m3}}).encode()


class Broker:
    """A dynamic-security Mosquitto with a TLS listener, provisioned from a registry."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.registry = folder / "registry.toml"
        self.registry.write_text(registry_text(*PLANTS), encoding="utf-8")
        self.creds = CredentialStore(folder / "credentials.json")
        ca = make_ca(folder / "tls")
        self.ca = ca.cert
        cert = make_server_cert(folder / "tls", ca, ["localhost", "127.0.0.1"])
        self.tls_port = free_port()
        self.server: Server = mosquitto_server(
            folder / "mosquitto",
            dynsec_admin_password=self.creds.service_password(ADMIN_ACCOUNT),
            tls=TlsListener(self.tls_port, cert.cert, cert.key, ca.cert),
        )

    @property
    def port(self) -> int:
        return self.server.port

    def provision(self) -> list[str]:
        return provision_broker(self.creds, load_registry(self.registry), "127.0.0.1", self.port)

    def connect(
        self, user: str | None, password: str | None, client_id: str | None = None, **kwargs
    ) -> MqttClient:  # type: ignore[no-untyped-def]
        client = MqttClient(
            client_id or user or f"anon-{uuid.uuid4().hex[:6]}",
            "localhost" if kwargs.get("tls_ca") else "127.0.0.1",
            kwargs.pop("port", self.port),
            user,
            password,
            **kwargs,
        )
        client.start(wait=False)
        assert wait_until(lambda: client.connected or client.refused_reason is not None, 15)
        return client

    def plant(self, plant_id: str, **kwargs) -> MqttClient:  # type: ignore[no-untyped-def]
        return self.connect(plant_id, self.creds.password_for(plant_id), **kwargs)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker(tmp_path_factory.mktemp("dynsec"))
    b.server.start()
    created = b.provision()
    assert set(created) >= {*PLANTS, API_ACCOUNT, collector_account("collector-1")}
    yield b
    b.server.stop()


def collector_env(broker: Broker, influx_url: str, database: str) -> dict[str, str]:
    account = collector_account("collector-1")
    return {
        "PLANTWATCH_REGISTRY": str(broker.registry),
        "PLANTWATCH_MQTT_PORT": str(broker.port),
        "PLANTWATCH_MQTT_USERNAME": account,
        "PLANTWATCH_MQTT_PASSWORD": broker.creds.service_password(account),
        "PLANTWATCH_INFLUX_URL": influx_url,
        "PLANTWATCH_INFLUX_DB": database,
        "PLANTWATCH_COLLECTOR_ID": "collector-1",
    }


def count(influx_url: str, database: str, query: str) -> int:
    resp = http_post(f"{influx_url}/query", data={"db": database, "q": query})
    series = resp.json()["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def test_plants_cannot_use_another_accounts_client_id_nor_publish_outside_their_topics(
    broker: Broker, influxd: Server, spawn: Callable[..., Process]
) -> None:
    """Issue 14: a plant connecting as `collector-1` disconnected the collector."""
    database = f"acct_{uuid.uuid4().hex[:8]}"
    influx_url = f"http://127.0.0.1:{influxd.port}"
    collector = spawn(["ingest"], collector_env(broker, influx_url, database), "collector")
    assert wait_until(lambda: "mqtt connected" in collector.log(), 20), collector.log()

    # Takeover attempts: every one refused, the collector never disconnected.
    for user in PLANTS:
        for client_id in ("collector-1", "ss-002" if user == "ss-001" else "ss-001", "x"):
            thief = broker.plant(user, client_id=client_id)
            assert not thief.connected and thief.refused_reason is not None, (user, client_id)
            thief.stop()
    api = broker.connect(API_ACCOUNT, broker.creds.service_password(API_ACCOUNT))
    assert api.connected  # the API's connections carry random ids; they are ours
    api.stop()
    anonymous = broker.connect(None, None)
    wrong = broker.connect("ss-001", "not-the-password")
    assert not anonymous.connected and not wrong.connected
    anonymous.stop()
    wrong.stop()

    rejected: list[Inbound] = []
    plant = broker.plant(
        "ss-001",
        subscriptions=[(TOPICS.rejected("ss-001"), 1), (TOPICS.rejected("ss-002"), 1)],
        on_message=rejected.append,
    )
    other = broker.plant("ss-002")
    assert plant.connected and other.connected
    # Forged: ss-001 publishes under ss-002's topic and outside the plant tree.
    plant.publish(TOPICS.readings("ss-002", "gas-1"), reading(T0_MS, 1.0)).wait_for_publish(5)
    plant.publish(TOPICS.alerts("ss-002"), b"{}").wait_for_publish(5)
    other.publish(TOPICS.readings("ss-002", "gas-1"), b"not json").wait_for_publish(5)
    plant.publish(TOPICS.readings("ss-001", "gas-1"), b"not json either").wait_for_publish(5)
    # Markers published after the forgery: once they are stored, the forgery would be too.
    plant.publish(TOPICS.readings("ss-001", "gas-1"), reading(T0_MS, 5.0)).wait_for_publish(5)
    other.publish(TOPICS.readings("ss-002", "gas-1"), reading(T0_MS + 1, 7.0)).wait_for_publish(5)

    assert wait_until(
        lambda: count(influx_url, database, 'SELECT count("volume_m3") FROM "gas"') == 2, 20
    ), collector.log()
    rows = http_post(
        f"{influx_url}/query",
        data={"db": database, "q": 'SELECT "volume_m3", "plant" FROM "gas"', "epoch": "ms"},
    ).json()["results"][0]["series"][0]["values"]
    assert sorted((r[2], r[1]) for r in rows) == [("ss-001", 5.0), ("ss-002", 7.0)]
    assert wait_until(
        lambda: count(influx_url, database, 'SELECT count("reason") FROM "dead_letter"') == 2, 10
    )
    # ss-001 hears about its own refusal, never about ss-002's (that subscription is denied).
    assert wait_until(lambda: len(rejected) >= 1, 10)
    assert {m.topic for m in rejected} == {TOPICS.rejected("ss-001")}
    assert collector.log().count("mqtt connected") == 1  # never kicked off
    plant.stop()
    other.stop()


def test_a_new_plant_and_a_rotated_password_work_without_a_broker_restart(
    broker: Broker, spawn: Callable[..., Process]
) -> None:
    assert broker.server.process is not None
    pid = broker.server.process.pid
    new_registry = broker.folder / "registry-grown.toml"
    new_registry.write_text(registry_text(*PLANTS, "ss-007"), encoding="utf-8")
    env = {
        "PLANTWATCH_REGISTRY": str(new_registry),
        "PLANTWATCH_MQTT_PORT": str(broker.port),
        "PLANTWATCH_CREDENTIALS_FILE": str(broker.creds.path),
    }

    def credentials(*extra: str) -> str:
        process = spawn(
            ["ingest", "credentials", "ss-007", *extra], env, f"creds-{uuid.uuid4().hex[:4]}"
        )
        assert process.proc is not None and process.proc.wait(30) == 0, process.log()
        return process.log()

    assert "account created" in credentials()
    first = broker.creds.password_for("ss-007", create=False)
    assert f"password:  {first}" in credentials()  # printed again, unchanged
    plant = broker.plant("ss-007")
    assert plant.connected, plant.refused_reason
    assert plant.publish(TOPICS.readings("ss-007", "gas-1"), reading(T0_MS, 1.0)).rc == 0

    assert "password changed" in credentials("--rotate")
    second = broker.creds.password_for("ss-007", create=False)
    assert second != first
    # The old password's connection is ended by the plugin and cannot come back.
    assert wait_until(lambda: not plant.connected or plant.refused_reason is not None, 10)
    plant.stop()
    stale = broker.connect("ss-007", first)
    assert not stale.connected
    stale.stop()
    fresh = broker.plant("ss-007")
    assert fresh.connected
    fresh.stop()
    assert broker.server.process.pid == pid and broker.server.process.poll() is None


def test_an_oversized_publish_is_refused_and_other_plants_are_unaffected(broker: Broker) -> None:
    heard: list[Inbound] = []
    api = broker.connect(
        API_ACCOUNT,
        broker.creds.service_password(API_ACCOUNT),
        client_id=f"api-{uuid.uuid4().hex[:6]}",
        subscriptions=[(f"{TOPICS.root}/plants/+/status", 1)],
        on_message=heard.append,
    )
    big, small = broker.plant("ss-001"), broker.plant("ss-002")
    assert api.connected and big.connected and small.connected
    big.publish(TOPICS.status("ss-001"), b"x" * (MAX_PACKET_BYTES + 1))
    # The broker refuses the packet and drops the sender's connection.
    assert wait_until(lambda: not big.connected, 10)
    small.publish(TOPICS.status("ss-002"), b"online").wait_for_publish(5)
    assert wait_until(lambda: any(m.payload == b"online" for m in heard), 10)
    assert all(len(m.payload) <= MAX_PACKET_BYTES for m in heard)
    assert small.connected
    for client in (api, big, small):
        client.stop()


def test_an_abrupt_disconnect_fires_the_last_will(broker: Broker) -> None:
    """A plant killed without DISCONNECT (SIGKILL closes its socket): retained `offline`."""
    status = TOPICS.status("ss-002")
    heard: list[Inbound] = []
    api = broker.connect(
        API_ACCOUNT,
        broker.creds.service_password(API_ACCOUNT),
        client_id=f"api-{uuid.uuid4().hex[:6]}",
        subscriptions=[(status, 1)],
        on_message=heard.append,
    )
    plant = subprocess.Popen(
        [
            "mosquitto_pub", "-p", str(broker.port), "-i", "ss-002", "-u", "ss-002",
            "-P", broker.creds.password_for("ss-002"), "-q", "1", "-r", "-t", status, "-l",
            "--will-topic", status, "--will-payload", "offline", "--will-qos", "1",
            "--will-retain",
        ],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert plant.stdin is not None
    marker = f"online-{uuid.uuid4().hex[:6]}".encode()
    plant.stdin.write(marker + b"\n")
    plant.stdin.flush()
    assert wait_until(lambda: any(m.payload == marker for m in heard), 10), heard
    plant.send_signal(signal.SIGKILL)
    plant.wait()
    assert wait_until(lambda: heard[-1].payload == b"offline", 10), heard
    api.stop()
    # Retained: whoever looks next sees the plant offline.
    late: list[Inbound] = []
    again = broker.connect(
        API_ACCOUNT,
        broker.creds.service_password(API_ACCOUNT),
        subscriptions=[(status, 1)],
        on_message=late.append,
        client_id=f"api-{uuid.uuid4().hex[:6]}",
    )
    assert wait_until(lambda: [m.payload for m in late] == [b"offline"], 10), late
    again.stop()


def test_plants_connect_over_tls_verifying_the_ca(broker: Broker, tmp_path: Path) -> None:
    plant = broker.plant("ss-001", port=broker.tls_port, tls_ca=broker.ca)
    assert plant.connected, plant.refused_reason
    info = plant.publish(TOPICS.status("ss-001"), b"online", qos=1)
    info.wait_for_publish(5)
    assert info.is_published()
    plant.stop()
    # A client trusting another CA refuses the broker's certificate.
    other_ca = make_ca(tmp_path / "other").cert
    context = ssl.create_default_context(cafile=str(other_ca))
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        context.wrap_socket(
            socket.create_connection(("localhost", broker.tls_port), 5),
            server_hostname="localhost",
        ),
    ):
        pass


def test_provisioning_an_existing_broker_again_resets_every_account(broker: Broker) -> None:
    """Issue 20: the second `make run` on the same var/ died on `setClientId 'svc-api'`.

    `make run` provisions with reset_existing=True on every start: each existing account
    (svc-api with no fixed client id, collectors and plants with theirs) is reset, twice in a
    row, against the real plugin, and every account still connects afterwards.
    """
    for _ in range(2):
        created = provision_broker(
            broker.creds,
            load_registry(broker.registry),
            "127.0.0.1",
            broker.port,
            reset_existing=True,
        )
        assert created == []
    api = broker.connect(API_ACCOUNT, broker.creds.service_password(API_ACCOUNT))
    other = broker.connect(
        API_ACCOUNT, broker.creds.service_password(API_ACCOUNT), client_id="svc-api-x"
    )
    plant = broker.plant("ss-001")
    try:
        assert api.connected and other.connected and plant.connected
    finally:
        for client in (api, other, plant):
            client.stop()
