"""`make cluster`: the county of `make run` on a broker cluster, data under `var/cluster/`.

Three NATS nodes with JetStream's MQTT listener behind HAProxy (scripts/natsstack.py), two
collectors by partition (1/2 and 2/2), two HJ 212 gateways and two API processes behind a
second HAProxy (scripts/balancer.py: the loggers and the page use the ports of `make run`),
the API processes sharing one PostgreSQL, and the simulator; the processes are the ones of
`make run`, unchanged, pointed at the balancers' ports. The store is still one InfluxDB 1.x
(a clustered store is the other half of SPEC section 15). Ctrl-C stops it all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from api.auth import new_key
from ingest.client import MqttClient
from ingest.credentials import CredentialStore
from ingest.dynsec import ADMIN_ACCOUNT, API_ACCOUNT, collector_account, gateway_account
from ingest.kernel.errors import PlantwatchError
from ingest.kernel.registry import Registry, load_registry
from ingest.kernel.topics import Topics
from ingest.natsauth import nats_authorization, session_client_id
from ingest.partition import Partition, subscription_filters
from ingest.settings import CommonSettings
from scripts.balancer import Backend, services_balancer
from scripts.devstack import StackError, create_database, influxd_server, port_open
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


def main() -> int:
    run = RunSettings()
    home = run.var_dir / "cluster"
    (home / "logs").mkdir(parents=True, exist_ok=True)
    node_ports = [NodePorts.after(run.mqtt_port, i) for i in range(NODES)]
    uses = [u for u in ports_used(run) if u.name != "collector metrics"]
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
    influxd = influxd_server(home / "influxdb", run.influx_port, rpc_port=run.influx_rpc_port)
    balancer = services_balancer(
        home / "haproxy-services", run.hj212_host, run.hj212_port, gateways, run.api_port, apis
    )
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
    shared = {
        "PLANTWATCH_INFLUX_URL": f"http://127.0.0.1:{run.influx_port}",
        "PLANTWATCH_INFLUX_DB": influx_db,
        "PLANTWATCH_INFLUX_RPC": f"127.0.0.1:{run.influx_rpc_port}",
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
        print("starting InfluxDB, PostgreSQL and three NATS nodes behind HAProxy ...", flush=True)
        influxd.start()
        if postgres is not None:
            postgres.server.start()
            shared["PLANTWATCH_DATABASE_URL"] = postgres.new_database("plantwatch")
            env["PLANTWATCH_DATABASE_URL"] = shared["PLANTWATCH_DATABASE_URL"]
            write_env_file(env_file, shared)
        cluster.start()
        balancer.start()
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
            f"  store           InfluxDB http://127.0.0.1:{run.influx_port} (still one InfluxDB "
            "1.x in cluster mode)\n"
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
    except (StackError, PlantwatchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("\nstopping ...", flush=True)
        # run.py's order: simulator, API and gateway, then each collector (its name there).
        stop_processes({n: p for n, p in processes.items() if n not in COLLECTORS})
        for collector in COLLECTORS:
            if collector in processes:
                stop_processes({"collector": processes[collector]})
        balancer.stop()
        cluster.stop()
        if postgres is not None:
            postgres.stop()
        influxd.stop()
        print("stopped.", flush=True)
    return 0


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
