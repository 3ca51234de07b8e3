"""`make cluster`: the county of `make run` on a broker cluster, data under `var/cluster/`.

Three NATS nodes with JetStream's MQTT listener behind HAProxy (scripts/natsstack.py), two
collectors by partition (1/2 and 2/2), two HJ 212 gateways and two API processes behind a
second HAProxy (scripts/balancer.py: the loggers and the page use the ports of `make run`),
the API processes sharing one PostgreSQL, and the simulator; the processes are the ones of
`make run`, unchanged, pointed at the balancers' ports. The store is a ClickHouse cluster
(scripts/chstack.py): ZooKeeper and three replicas of one shard, inserts acknowledged by two
(`insert_quorum`), every process on `PLANTWATCH_STORE=clickhouse` with one URL, the services'
HAProxy in front of the replicas. `PLANTWATCH_CLUSTER_STORE=influxdb` runs one InfluxDB 1.x
instead (and Grafana's dashboards, which query InfluxDB). Ctrl-C stops it all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.auth import new_key
from ingest.client import MqttClient
from ingest.credentials import CredentialStore
from ingest.dynsec import ADMIN_ACCOUNT, API_ACCOUNT, collector_account, gateway_account
from ingest.kernel.clickhouse import ClickHouseStore, HttpRunner, Layout
from ingest.kernel.errors import PlantwatchError, StoreError
from ingest.kernel.registry import Registry, load_registry
from ingest.kernel.topics import Topics
from ingest.natsauth import nats_authorization, session_client_id
from ingest.partition import Partition, subscription_filters
from ingest.settings import CommonSettings
from scripts.balancer import Backend, services_balancer
from scripts.chstack import CLUSTER_NAME, ClickHouseCluster, ReplicaPorts, clickhouse_cluster
from scripts.devstack import Server, StackError, create_database, influxd_server, port_open
from scripts.natsstack import (
    MIN_ACK_PENDING,
    NODES,
    NodePorts,
    max_ack_pending_for,
    nats_cluster,
)
from scripts.pgstack import PgCluster, postgres_cluster
from scripts.run import (
    ROOT,
    SUBSCRIBE_TIMEOUT_SECONDS,
    PortUse,
    RunSettings,
    _wait_ready,
    api_access,
    port_refusal,
    ports_used,
    simulator_args,
    stop_processes,
    write_env_file,
)

COLLECTORS = ("collector-1", "collector-2")
GATEWAYS = ("hj212-gateway-1", "hj212-gateway-2")
APIS = ("api-1", "api-2")
# Three brokers and every plant's consumers start more slowly than one Mosquitto: the API's
# readiness is awaited this many times run.py's READY_TIMEOUT_SECONDS.
READY_ATTEMPTS = 3
# Inserts are acknowledged once this many replicas hold them (SPEC 5 on a cluster): with
# three replicas, one may die and writes go on; with two, a dead one pauses them (spooled).
INSERT_QUORUM = 2


class ClusterSettings(BaseSettings):
    """`make cluster`'s own settings beyond `make run`'s: its store."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    store: Literal["clickhouse", "influxdb"] = Field(
        "clickhouse", validation_alias="PLANTWATCH_CLUSTER_STORE"
    )
    # The balancer's ClickHouse port (the processes' URL); ZooKeeper and the replicas sit on
    # the ports just above it.
    clickhouse_port: int = Field(18123, validation_alias="PLANTWATCH_RUN_CLICKHOUSE_PORT")
    clickhouse_replicas: int = Field(
        3, ge=INSERT_QUORUM, validation_alias="PLANTWATCH_CLUSTER_CLICKHOUSE_REPLICAS"
    )


@dataclass(frozen=True)
class ClickHousePorts:
    """The ClickHouse cluster's fixed ports: the balancer's, ZooKeeper's, each replica's.
    Fixed, not free: the replicas keep their data (and their address in ZooKeeper) under
    `var/cluster/clickhouse` from one start to the next."""

    front: int
    zookeeper: int
    replicas: list[ReplicaPorts]

    @classmethod
    def above(cls, port: int, replicas: int) -> ClickHousePorts:
        return cls(
            port,
            port + 1,
            [
                ReplicaPorts(port + 2 + i, port + 2 + replicas + i, port + 2 + 2 * replicas + i)
                for i in range(replicas)
            ],
        )

    def uses(self) -> list[PortUse]:
        above = "PLANTWATCH_RUN_CLICKHOUSE_PORT (sits above it)"
        uses = [
            PortUse("ClickHouse (HAProxy)", self.front, "PLANTWATCH_RUN_CLICKHOUSE_PORT"),
            PortUse("ZooKeeper", self.zookeeper, above),
        ]
        for i, r in enumerate(self.replicas, 1):
            uses += [
                PortUse(f"ClickHouse replica {i} {kind}", port, above)
                for kind, port in (("HTTP", r.http), ("TCP", r.tcp), ("interserver", r.interserver))
            ]
        return uses


def clickhouse_env(port: int) -> dict[str, str]:
    """Every process's store settings on `make cluster`'s ClickHouse (the balancer's URL)."""
    return {
        "PLANTWATCH_STORE": "clickhouse",
        "PLANTWATCH_CLICKHOUSE_URL": f"http://127.0.0.1:{port}",
        "PLANTWATCH_CLICKHOUSE_DB": os.environ.get("PLANTWATCH_CLICKHOUSE_DB", "plantwatch"),
        "PLANTWATCH_CLICKHOUSE_CLUSTER": CLUSTER_NAME,
        "PLANTWATCH_CLICKHOUSE_INSERT_QUORUM": str(INSERT_QUORUM),
    }


def create_tables(env: dict[str, str]) -> None:
    """The database and tables, `ON CLUSTER`, once before any process starts (each makes
    them again at its start, idempotent: here they do not race each other)."""
    runner = HttpRunner(env["PLANTWATCH_CLICKHOUSE_URL"], timeout_seconds=60)
    layout = Layout(
        env["PLANTWATCH_CLICKHOUSE_DB"],
        env["PLANTWATCH_CLICKHOUSE_CLUSTER"],
        int(env["PLANTWATCH_CLICKHOUSE_INSERT_QUORUM"]),
    )
    with ClickHouseStore(runner, layout) as store:
        store.create_database()


def main() -> int:
    run = RunSettings()
    own = ClusterSettings()
    on_clickhouse = own.store == "clickhouse"
    home = run.var_dir / "cluster"
    (home / "logs").mkdir(parents=True, exist_ok=True)
    node_ports = [NodePorts.after(run.mqtt_port, i) for i in range(NODES)]
    ch_ports = ClickHousePorts.above(own.clickhouse_port, own.clickhouse_replicas)
    uses = [u for u in ports_used(run) if u.name != "collector metrics"]
    if on_clickhouse:  # no InfluxDB: ClickHouse's ports instead
        uses = [u for u in uses if not u.name.startswith("InfluxDB")] + ch_ports.uses()
    uses += [
        PortUse(f"collector-{i} metrics", run.metrics_port + i - 1, "PLANTWATCH_RUN_METRICS_PORT")
        for i in range(1, len(COLLECTORS) + 1)
    ]
    # Behind the services' balancer, which takes make run's API and HJ 212 ports: each API
    # process and each gateway on the ports above them, the gateways' metrics above the
    # collectors'.
    apis = [Backend(run.api_port + i, run.api_port + i) for i in range(1, len(APIS) + 1)]
    gateways = [
        Backend(run.hj212_port + i, run.metrics_port + len(COLLECTORS) + i - 1)
        for i in range(1, len(GATEWAYS) + 1)
    ]
    uses += [
        PortUse(f"{name} (behind the balancer)", b.port, "PLANTWATCH_API_PORT (sits above it)")
        for name, b in zip(APIS, apis, strict=True)
    ]
    uses += [
        PortUse(f"{name} (behind the balancer)", b.port, "PLANTWATCH_HJ212_PORT (sits above it)")
        for name, b in zip(GATEWAYS, gateways, strict=True)
    ]
    uses += [
        PortUse(f"{name} metrics", b.check_port, "PLANTWATCH_RUN_METRICS_PORT (sits above it)")
        for name, b in zip(GATEWAYS, gateways, strict=True)
    ]
    uses += [
        PortUse(f"NATS node {i + 1}", port, "PLANTWATCH_RUN_MQTT_PORT (nodes sit above it)")
        for i, n in enumerate(node_ports)
        for port in n.all()
    ]
    for use in uses:
        if port_open(use.port):
            print(port_refusal(use), file=sys.stderr)
            return 1
    credentials_file = Path(
        os.environ.get("PLANTWATCH_CREDENTIALS_FILE", run.var_dir / "mqtt-credentials.json")
    )
    os.environ["PLANTWATCH_CREDENTIALS_FILE"] = str(credentials_file)
    settings = CommonSettings()
    credentials = CredentialStore(credentials_file)
    try:
        registry = load_registry(settings.registry)
        filters = {
            c: subscription_filters(
                Topics(settings.topic_root), plant_ids(registry), Partition(i, len(COLLECTORS))
            )
            for i, c in enumerate(COLLECTORS, 1)
        }
        # A NATS session shares 65535 packet ids among its subscriptions' windows.
        window = max_ack_pending_for(max(len(f) for f in filters.values()))
        if window < MIN_ACK_PENDING:
            print(f"error: {max(len(f) for f in filters.values())} subscriptions in one collector's "
                  "session leave a window under 100 messages (docs/operations.md 'Broker "
                  "cluster'): run more collectors", file=sys.stderr)  # fmt: skip
            return 1
        # The accounts of `make run` (broker_plan), as NATS users in each node's config;
        # a new plant means writing the configs again and `nats-server --signal reload`.
        authorization = nats_authorization(
            credentials, registry, settings.topic_root, COLLECTORS, list(GATEWAYS)
        )
        cluster = nats_cluster(
            home / "nats",
            port=run.mqtt_port,
            node_ports=node_ports,
            max_ack_pending=window,
            authorization=authorization,
            probe=(ADMIN_ACCOUNT, credentials.service_password(ADMIN_ACCOUNT)),
        )
    except (PlantwatchError, StackError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    influxd: Server | None = None
    clickhouse: ClickHouseCluster | None = None
    try:
        if on_clickhouse:
            clickhouse = clickhouse_cluster(
                home / "clickhouse",
                replicas=own.clickhouse_replicas,
                zookeeper_port=ch_ports.zookeeper,
                replica_ports=ch_ports.replicas,
            )
        else:
            influxd = influxd_server(
                home / "influxdb", run.influx_port, rpc_port=run.influx_rpc_port
            )
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    replicas = [Backend(r.http, r.http) for r in ch_ports.replicas]
    balancer = services_balancer(
        home / "haproxy-services", run.hj212_host, run.hj212_port, gateways, run.api_port, apis,
        (ch_ports.front, replicas) if on_clickhouse else None,
    )  # fmt: skip
    # The API processes share one SQL database (keys, alerts and the alert engine's lease,
    # records, audit): PostgreSQL, a private one unless PLANTWATCH_DATABASE_URL names one.
    postgres: PgCluster | None = None
    if "PLANTWATCH_DATABASE_URL" not in os.environ:
        try:
            postgres = postgres_cluster(home / "logs")
        except StackError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    api = api_access(run.api_port, None)
    admin_key = os.environ.get("PLANTWATCH_ADMIN_KEY") or new_key()
    influx_db = os.environ.get("PLANTWATCH_INFLUX_DB", "plantwatch")
    store_env = (
        clickhouse_env(ch_ports.front)
        if on_clickhouse
        else {
            "PLANTWATCH_STORE": "influxdb",
            "PLANTWATCH_INFLUX_URL": f"http://127.0.0.1:{run.influx_port}",
            "PLANTWATCH_INFLUX_DB": influx_db,
            "PLANTWATCH_INFLUX_RPC": f"127.0.0.1:{run.influx_rpc_port}",
        }
    )
    shared = {
        **store_env,
        "PLANTWATCH_MQTT_HOST": "127.0.0.1",
        "PLANTWATCH_MQTT_PORT": str(run.mqtt_port),
        "PLANTWATCH_API_PORT": str(run.api_port),
        "PLANTWATCH_CREDENTIALS_FILE": str(credentials_file),
        "PLANTWATCH_SPOOL_DIR": str(home / "spool"),
        "PLANTWATCH_HJ212_HOST": run.hj212_host,
        "PLANTWATCH_HJ212_PORT": str(run.hj212_port),
        "PLANTWATCH_DATABASE_URL": os.environ.get("PLANTWATCH_DATABASE_URL", ""),
        "PLANTWATCH_VAR_DIR": str(home),
    }
    env_file = run.var_dir / ".env"
    write_env_file(env_file, shared)
    env = {**os.environ, **shared, "PLANTWATCH_ADMIN_KEY": admin_key}
    sessions = {c: collector_session(credentials, c) for c in COLLECTORS}
    commands: list[tuple[str, list[str], dict[str, str]]] = [
        (
            collector,
            ["-m", "ingest"],
            {
                "PLANTWATCH_COLLECTOR_ID": collector,
                "PLANTWATCH_COLLECTOR_PARTITION": f"{i}/{len(COLLECTORS)}",
                "PLANTWATCH_MQTT_USERNAME": collector_account(collector),
                "PLANTWATCH_MQTT_PASSWORD": credentials.service_password(
                    collector_account(collector)
                ),
                # NATS binds no client id to a user: a session id no plant can guess.
                "PLANTWATCH_MQTT_CLIENT_ID": sessions[collector],
                "PLANTWATCH_METRICS_PORT": str(run.metrics_port + i - 1),
            },
        )
        for i, collector in enumerate(COLLECTORS, 1)
    ]
    commands += [
        (
            gateway,
            ["-m", "ingest", "hj212-gateway"],
            {
                "PLANTWATCH_HJ212_GATEWAY_ID": gateway,
                "PLANTWATCH_HJ212_HOST": "127.0.0.1",
                "PLANTWATCH_HJ212_PORT": str(backend.port),
                "PLANTWATCH_HJ212_METRICS_PORT": str(backend.check_port),
                # the balancer opens each connection with the logger's address
                "PLANTWATCH_HJ212_PROXY_FROM": '["127.0.0.1"]',
                "PLANTWATCH_HJ212_FORWARD_DIR": str(home / gateway / "forward"),
                "PLANTWATCH_MQTT_USERNAME": gateway_account(gateway),
                "PLANTWATCH_MQTT_PASSWORD": credentials.service_password(gateway_account(gateway)),
            },
        )
        for gateway, backend in zip(GATEWAYS, gateways, strict=True)
    ]
    commands += [
        (
            name,
            ["-m", "api"],
            {
                "PLANTWATCH_API_PORT": str(backend.port),
                "PLANTWATCH_MQTT_USERNAME": API_ACCOUNT,
                "PLANTWATCH_MQTT_PASSWORD": credentials.service_password(API_ACCOUNT),
            },
        )
        for name, backend in zip(APIS, apis, strict=True)
    ]
    simulator = simulator_args(run, collectors=len(COLLECTORS))
    if simulator is not None:
        empty = {"PLANTWATCH_MQTT_USERNAME": "", "PLANTWATCH_MQTT_PASSWORD": ""}
        commands.append(("simulator", simulator, empty))
    processes: dict[str, subprocess.Popen[bytes]] = {}
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        store_name = (
            f"a ClickHouse cluster (ZooKeeper, {own.clickhouse_replicas} replicas)"
            if on_clickhouse
            else "InfluxDB"
        )
        print(f"starting {store_name}, PostgreSQL and three NATS nodes behind HAProxy ...",
              flush=True)  # fmt: skip
        if clickhouse is not None:
            clickhouse.start()
        if influxd is not None:
            influxd.start()
        if postgres is not None:
            postgres.server.start()
            shared["PLANTWATCH_DATABASE_URL"] = postgres.new_database("plantwatch")
            env["PLANTWATCH_DATABASE_URL"] = shared["PLANTWATCH_DATABASE_URL"]
            write_env_file(env_file, shared)
        cluster.start()
        balancer.start()
        if on_clickhouse:
            create_tables(shared)
        else:
            create_database(shared["PLANTWATCH_INFLUX_URL"], influx_db)
        for collector in COLLECTORS:
            open_session(
                run.mqtt_port, credentials, collector, sessions[collector], filters[collector]
            )
        for name, args, extra in commands:
            log = (home / "logs" / f"{name}.log").open("ab")
            processes[name] = subprocess.Popen(
                [sys.executable, *args],
                env={**env, **extra},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            print(f"started {name} (log: {home / 'logs' / name}.log)", flush=True)
        for backend in apis:  # each process, then the balancer in front of them
            wait_api(f"http://127.0.0.1:{backend.port}/readyz", processes, home / "logs", stop)
        wait_api(f"{api.base}/readyz", processes, home / "logs", stop)
        nodes = "  ".join(f"{n.name} 127.0.0.1:{p.mqtt}" for n, p in zip(cluster.nodes, cluster.ports, strict=True))  # fmt: skip
        collectors = ", ".join(
            f"{c} (partition {i}/{len(COLLECTORS)}, metrics :{run.metrics_port + i - 1})"
            for i, c in enumerate(COLLECTORS, 1)
        )
        print(
            "\nplantwatch is up on a broker cluster:\n"
            f"  dashboard       {api.base}/dashboard/  (enter the admin key below; HAProxy "
            f"over {', '.join(f'{n} :{b.port}' for n, b in zip(APIS, apis, strict=True))})\n"
            f"  admin key       {admin_key}\n"
            f"  MQTT            127.0.0.1:{run.mqtt_port} (HAProxy over {nodes})\n"
            f"  NATS monitoring "
            + "  ".join(f"http://127.0.0.1:{p.monitor}/" for p in cluster.ports)
            + "\n"
            f"  collectors      {collectors}\n"
            f"  store           {store_line(own, ch_ports, clickhouse, run)}\n"
            f"  HJ 212 gateways tcp://{run.hj212_host}:{run.hj212_port} (HAProxy over "
            f"{', '.join(f'{n} :{b.port}' for n, b in zip(GATEWAYS, gateways, strict=True))})\n"
            f"  SQL database    {'PostgreSQL (private, removed at stop)' if postgres else 'PLANTWATCH_DATABASE_URL'}, "
            "shared by the API processes\n"
            f"  settings        {env_file}\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        reported: set[str] = set()
        while not stop.is_set():
            if clickhouse is not None:
                report_dead_servers(clickhouse, reported)
            for name, proc in processes.items():
                # The simulator may finish its backfill and exit; the services must not.
                if proc.poll() is None or name == "simulator" or name in reported:
                    continue
                reported.add(name)
                print(f"error: {name} exited with {proc.returncode}; see "
                      f"{home / 'logs' / name}.log", file=sys.stderr)  # fmt: skip
                # A gateway or an API process has a twin behind the balancer: the cluster
                # serves on while one is left. A collector is the only one of its partition.
                twins = next((g for g in (GATEWAYS, APIS) if name in g), ())
                if not twins or all(processes[n].poll() is not None for n in twins):
                    stop.set()
            stop.wait(1.0)
    except (StackError, PlantwatchError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("\nstopping ...", flush=True)
        # run.py's order: the simulator, the API processes and gateways, then the collectors.
        stop_processes(processes)
        balancer.stop()
        cluster.stop()
        if postgres is not None:
            postgres.stop()
        if clickhouse is not None:
            clickhouse.stop()
        if influxd is not None:
            influxd.stop()
        print("stopped.", flush=True)
    return 0


def store_line(
    own: ClusterSettings,
    ports: ClickHousePorts,
    clickhouse: ClickHouseCluster | None,
    run: RunSettings,
) -> str:
    """The banner's store line: the engine the processes write, truthfully."""
    if clickhouse is None:
        return f"InfluxDB 1.x http://127.0.0.1:{run.influx_port} (one node; Grafana's dashboards)"
    return (
        f"ClickHouse http://127.0.0.1:{ports.front} (HAProxy over "
        + ", ".join(f"r{i} :{r.http}" for i, r in enumerate(ports.replicas, 1))
        + f"; one shard, {own.clickhouse_replicas} replicas, insert quorum {INSERT_QUORUM}, "
        f"ZooKeeper :{ports.zookeeper}; no Grafana: the page and the API are the dashboards)"
    )


def report_dead_servers(clickhouse: ClickHouseCluster, reported: set[str]) -> None:
    """Say once that a replica (or ZooKeeper) died, and what that means for writes."""
    servers = [(f"ClickHouse replica r{i}", r) for i, r in enumerate(clickhouse.replicas, 1)]
    alive = sum(r.process is not None and r.process.poll() is None for r in clickhouse.replicas)
    for name, server in [*servers, ("ZooKeeper", clickhouse.zookeeper)]:
        if server.process is None or server.process.poll() is None or name in reported:
            continue
        reported.add(name)
        print(f"warning: {name} exited with {server.process.returncode}; see "
              f"{server.log_path}. {dead_server_effect(name, alive)} A restart of make cluster "
              "brings it back.", file=sys.stderr, flush=True)  # fmt: skip


def dead_server_effect(name: str, alive: int) -> str:
    """What a dead server means for the processes, with `alive` replicas left."""
    if name == "ZooKeeper":
        return "Replicated writes and ON CLUSTER DDL are refused (collectors spool)."
    if alive >= INSERT_QUORUM:
        return f"{alive} replicas serve on; writes meet their quorum of {INSERT_QUORUM}."
    return (
        f"{alive} replica(s) left, under the insert quorum of {INSERT_QUORUM}: writes are "
        "refused (collectors spool, replay when a replica is back); reads answer."
    )


def plant_ids(registry: Registry) -> list[str]:
    return [p.id for p in registry.plants]


def collector_session(credentials: CredentialStore, collector: str) -> str:
    """The client id of a collector's session on NATS (ingest/natsauth.py)."""
    return session_client_id(collector, credentials.service_password(collector_account(collector)))


def open_session(
    port: int, credentials: CredentialStore, collector: str, session: str, filters: list[str]
) -> None:
    """Subscribe in a collector's name before anything publishes (as run.py does for one).

    Its session is persistent only from its first SUBACK: readings published while it is
    still starting would have no subscriber on a fresh cluster. Nothing is acknowledged.
    """
    account = collector_account(collector)
    client = MqttClient(
        session, "127.0.0.1", port, account, credentials.service_password(account),
        clean_session=False, manual_ack=True, subscriptions=[(f, 1) for f in filters],
    )  # fmt: skip
    client.start()
    try:
        if not client.wait_subscribed(SUBSCRIBE_TIMEOUT_SECONDS * 6):
            raise StackError(f"the cluster did not accept {collector}'s subscriptions")
    finally:
        client.stop()


def wait_api(
    url: str, processes: dict[str, subprocess.Popen[bytes]], logs: Path, stop: threading.Event
) -> None:
    """run.py's readiness wait, a few times over (the cluster's first start is slower)."""
    for attempt in range(READY_ATTEMPTS):
        try:
            _wait_ready(url, processes, logs, stop)
            return
        except StackError as exc:
            if "not ready after" not in str(exc) or attempt == READY_ATTEMPTS - 1:
                raise


if __name__ == "__main__":
    sys.exit(main())
