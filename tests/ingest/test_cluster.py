"""The broker cluster (SPEC section 15): three NATS nodes with JetStream's MQTT listener.

One cluster for the module, behind HAProxy, with the accounts of the registry (the same
plan as Mosquitto's dynamic security, ingest/natsauth.py). The collector runs unchanged
against the balancer's port; when the node holding its session is killed (SIGKILL), it
reconnects through the balancer to another node, where its session waits: every reading
the broker acknowledged is stored once (count and sum, as in tests/ingest/test_faults.py).
"""

from __future__ import annotations

import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.client import Inbound, MqttClient
from ingest.credentials import CredentialStore
from ingest.dynsec import ADMIN_ACCOUNT, API_ACCOUNT, collector_account
from ingest.kernel.registry import load_registry
from ingest.kernel.topics import Topics
from ingest.natsauth import nats_authorization, session_client_id
from scripts.devstack import Server
from scripts.natsstack import NatsCluster, running_cluster
from tests.ingest.faults import (
    DATABASE,
    Collector,
    Publisher,
    Stack,
    assert_all_stored_once,
    registry_text,
)
from tests.support import Process, http_post, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MESSAGES = 2000
RATE_PER_SECOND = 800.0
TOPICS = Topics()
ACK_WAIT_SECONDS = 5
RETAINED_ATTEMPTS = 5


@dataclass
class Accounts:
    store: CredentialStore
    registry: Path

    def service(self, account: str) -> tuple[str, str]:
        return account, self.store.service_password(account)

    def plant(self, plant_id: str) -> tuple[str, str]:
        return plant_id, self.store.password_for(plant_id)


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Accounts:
    folder = tmp_path_factory.mktemp("cluster-accounts")
    registry = folder / "registry.toml"
    registry.write_text(registry_text(), encoding="utf-8")
    return Accounts(CredentialStore(folder / "credentials.json"), registry)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, accounts: Accounts) -> Iterator[NatsCluster]:
    authorization = nats_authorization(accounts.store, load_registry(accounts.registry))
    with running_cluster(
        tmp_path_factory.mktemp("nats-cluster"),
        authorization=authorization,
        probe=accounts.service(ADMIN_ACCOUNT),
        # What the killed node had delivered but not had acknowledged comes again after
        # this; shorter than the default to keep the test short (a redelivery is harmless).
        ack_wait_seconds=ACK_WAIT_SECONDS,
    ) as running:
        yield running


class ClusterStack(Stack):
    """The fault helpers' stack with the cluster's balancer as the broker, and accounts."""

    accounts: Accounts

    def collector_env(
        self, collector_id: str, metrics_port: int, share_group: str = "", partition: str = "1/1"
    ) -> dict[str, str]:
        user, password = self.accounts.service(collector_account(collector_id))
        return {
            **super().collector_env(collector_id, metrics_port, share_group, partition),
            "PLANTWATCH_MQTT_USERNAME": user,
            "PLANTWATCH_MQTT_PASSWORD": password,
            "PLANTWATCH_MQTT_CLIENT_ID": session_client_id(collector_id, password),
        }


def connect(cluster: NatsCluster, credentials: tuple[str, str], port: int | None = None,
            **kwargs) -> MqttClient:  # type: ignore[no-untyped-def]  # fmt: skip
    user, password = credentials
    client_id = kwargs.pop("client_id", f"{user}-{uuid.uuid4().hex[:6]}")
    client = MqttClient(client_id, "127.0.0.1", port or cluster.port, user, password, **kwargs)
    client.start()
    assert client.wait_subscribed(10)
    return client


def test_node_holding_the_collectors_session_killed_mid_stream(
    cluster: NatsCluster,
    accounts: Accounts,
    influxd: Server,
    tmp_path: Path,
    spawn: Callable[..., Process],
) -> None:
    """SIGKILL of the collector's node under load: 0 acknowledged readings lost or doubled."""
    http_post(f"http://127.0.0.1:{influxd.port}/query", data={"q": f"DROP DATABASE {DATABASE}"})
    stack = ClusterStack(influxd, cluster.balancer, tmp_path, accounts.registry)
    stack.accounts = accounts
    collector = Collector(spawn, stack).start()
    session = session_client_id("collector-1", accounts.service("svc-collector-1")[1])
    assert wait_until(lambda: cluster.node_of(session) is not None, 20), collector.log()
    victim = cluster.node_of(session)
    assert victim is not None
    # The plants publish through a node that stays up (as the API's account, allowed every
    # plant's readings): what is killed is the subscriber's side.
    survivor = cluster.ports[(victim + 1) % len(cluster.ports)].mqtt
    publisher = Publisher(
        survivor, MESSAGES, RATE_PER_SECOND, accounts.service(API_ACCOUNT)
    ).start()
    try:
        publisher.wait_queued(0.4)
        cluster.nodes[victim].kill()
        sent = publisher.finish(45)
        assert_all_stored_once(stack.influx_url, sent, collector.log)
        moved = cluster.node_of(session)
        assert moved is not None and moved != victim
        assert collector.log().count("mqtt connected") >= 2
    finally:
        cluster.nodes[victim].start()
        cluster.wait_healthy()


def test_a_plant_using_the_collectors_id_cannot_end_its_session(
    cluster: NatsCluster,
    accounts: Accounts,
    influxd: Server,
    tmp_path: Path,
    spawn: Callable[..., Process],
) -> None:
    """NATS binds no client id to a user: with `collector-1` and a clean session, a plant
    ended the collector's session and the readings queued in it (tried). The collector's
    session id on NATS is one the plant cannot guess, so the readings wait for it."""
    http_post(f"http://127.0.0.1:{influxd.port}/query", data={"q": f"DROP DATABASE {DATABASE}"})
    stack = ClusterStack(influxd, cluster.balancer, tmp_path, accounts.registry)
    stack.accounts = accounts
    first = Collector(spawn, stack, "collector-1").start()
    assert first.process is not None
    session = session_client_id("collector-1", accounts.service("svc-collector-1")[1])
    assert wait_until(lambda: cluster.node_of(session) is not None, 20), first.log()
    first.process.stop()  # gone for a while: its session holds what the plants send
    sent = Publisher(cluster.port, 300, 1000.0, accounts.service(API_ACCOUNT)).start().finish()
    for client_id in ("collector-1", "svc-collector-1"):
        thief = MqttClient(client_id, "127.0.0.1", cluster.port, *accounts.plant("ss-001"))
        thief.start()
        thief.stop()
    second = Collector(spawn, stack, "collector-1").start()
    assert_all_stored_once(stack.influx_url, sent, first.log, second.log)


def test_plants_publish_only_their_own_topics(cluster: NatsCluster, accounts: Accounts) -> None:
    """The registry's accounts: a forged topic is dropped, the plant's own goes through."""
    heard: list[Inbound] = []
    collector = connect(
        cluster,
        accounts.service(collector_account("collector-1")),
        client_id=f"collector-probe-{uuid.uuid4().hex[:6]}",
        subscriptions=[(f, 1) for f in TOPICS.collector_filters()],
        on_message=heard.append,
    )
    plant = connect(cluster, accounts.plant("ss-001"), client_id="ss-001")
    plant.publish(TOPICS.readings("ss-002", "gas-1"), b"forged").wait_for_publish(5)
    plant.publish(TOPICS.alerts("ss-002"), b"forged").wait_for_publish(5)
    plant.publish(TOPICS.readings("ss-001", "gas-1"), b"own").wait_for_publish(5)
    assert wait_until(lambda: any(m.payload == b"own" for m in heard), 10)
    assert [m.payload for m in heard] == [b"own"]
    wrong = MqttClient("ss-002", "127.0.0.1", cluster.port, "ss-002", "not-the-password")
    wrong.start(wait=False)
    assert wait_until(lambda: wrong.refused_reason is not None, 10)
    assert not wrong.connected
    for client in (wrong, plant, collector):
        client.stop()


def retained_subscriber(
    cluster: NatsCluster, accounts: Accounts, topic: str, marker: bytes, heard: list[Inbound]
) -> MqttClient:
    """A subscriber on the third node that has received `marker` as a retained message."""
    for _ in range(RETAINED_ATTEMPTS):
        heard.clear()
        client = connect(
            cluster,
            accounts.service(API_ACCOUNT),
            port=cluster.ports[2].mqtt,
            subscriptions=[(topic, 1)],
            on_message=heard.append,
        )
        if wait_until(lambda: any(m.payload == marker and m.retain for m in heard), 3):
            return client
        client.stop()
    raise AssertionError(f"the retained status never reached node 3: {heard}")


def test_retained_status_and_last_will_across_nodes(
    cluster: NatsCluster, accounts: Accounts
) -> None:
    """A plant on one node, the API on another: retained status and the Will reach it."""
    status = TOPICS.status("ss-003")
    user, password = accounts.plant("ss-003")
    plant = subprocess.Popen(
        [
            "mosquitto_pub", "-p", str(cluster.ports[0].mqtt), "-i", "ss-003", "-u", user,
            "-P", password, "-q", "1", "-r", "-t", status, "-l",
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
    assert wait_until(lambda: cluster.node_of("ss-003") == 0, 10)
    # Subscribed after the plant published: only the retained copy can reach it. A node
    # learns another node's retained messages from JetStream a moment after they are stored
    # and hands them out only at SUBSCRIBE: an API that subscribes in that moment misses the
    # copy (it gets the next status live). So the API's side subscribes again until it has
    # it -- what is tested is that it arrives across nodes, not how fast.
    heard: list[Inbound] = []
    api = retained_subscriber(cluster, accounts, status, marker, heard)
    try:
        plant.send_signal(signal.SIGKILL)
        plant.wait()
        assert wait_until(lambda: bool(heard) and heard[-1].payload == b"offline", 10), heard
    finally:
        api.stop()
        if plant.poll() is None:
            plant.kill()
