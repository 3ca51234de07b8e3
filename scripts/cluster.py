"""`make cluster`: the county of `make run` on a broker cluster, data under `var/cluster/`.

Three NATS nodes with JetStream's MQTT listener behind HAProxy (scripts/natsstack.py), two
collectors by partition (1/2 and 2/2), the HJ 212 gateway, the API and the simulator; the
processes are the ones of `make run`, unchanged, pointed at the balancer's port. The store
is still one InfluxDB 1.x (a clustered store is the other half of SPEC section 15).
Ctrl-C stops it all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from api.auth import new_key
from ingest.credentials import CredentialStore
from ingest.dynsec import ADMIN_ACCOUNT, API_ACCOUNT, collector_account, gateway_account
from ingest.errors import PlantwatchError
from ingest.natsauth import nats_authorization, session_client_id
from ingest.registry import load_registry
from ingest.settings import RUN_ENV_FILE, CommonSettings
from scripts.devstack import StackError, create_database, influxd_server, port_open
from scripts.natsstack import NODES, NodePorts, nats_cluster
from scripts.run import GATEWAY_ID, ROOT, VAR, _wait_ready, api_access, write_env_file

HOME = VAR / "cluster"
COLLECTORS = ("collector-1", "collector-2")
# Three brokers and 89 plants' sessions start more slowly than one Mosquitto.
READY_TIMEOUT_SECONDS = 180.0
SIMULATOR_ARGS = ["--speed", "60", "--backfill-days", "31", "--voc-transport", "tcp"]


def main() -> int:
    (HOME / "logs").mkdir(parents=True, exist_ok=True)
    influx_port = int(os.environ.get("PLANTWATCH_RUN_INFLUX_PORT", "18086"))
    mqtt_port = int(os.environ.get("PLANTWATCH_RUN_MQTT_PORT", "11883"))
    api_port = int(os.environ.get("PLANTWATCH_API_PORT", "8000"))
    metrics_port = int(os.environ.get("PLANTWATCH_RUN_METRICS_PORT", "9108"))
    hj212_port = int(os.environ.get("PLANTWATCH_HJ212_PORT", "9212"))
    wanted: dict[str, int] = {"InfluxDB": influx_port, "the MQTT balancer": mqtt_port, "API": api_port,
              "HJ 212 gateway": hj212_port}  # fmt: skip
    node_ports = [NodePorts.after(mqtt_port, i) for i in range(NODES)]
    wanted |= {f"NATS node {i + 1}": port for i, n in enumerate(node_ports) for port in n.all()}
    for name, port in wanted.items():
        if port_open(port):
            print(f"error: port {port} for {name} is taken; see scripts/run.py for the "
                  "PLANTWATCH_RUN_*_PORT settings", file=sys.stderr)  # fmt: skip
            return 1
    credentials_file = Path(
        os.environ.get("PLANTWATCH_CREDENTIALS_FILE", VAR / "mqtt-credentials.json")
    )
    os.environ["PLANTWATCH_CREDENTIALS_FILE"] = str(credentials_file)
    settings = CommonSettings()
    credentials = CredentialStore(credentials_file)
    try:
        registry = load_registry(settings.registry)
        # The accounts of `make run` (broker_plan), as NATS users in each node's config;
        # a new plant means writing the configs again and `nats-server --signal reload`.
        authorization = nats_authorization(
            credentials, registry, settings.topic_root, COLLECTORS, [GATEWAY_ID]
        )
        cluster = nats_cluster(
            HOME / "nats",
            port=mqtt_port,
            node_ports=node_ports,
            authorization=authorization,
            probe=(ADMIN_ACCOUNT, credentials.service_password(ADMIN_ACCOUNT)),
        )
    except (PlantwatchError, StackError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    influxd = influxd_server(HOME / "influxdb", influx_port)
    api = api_access(api_port, None)
    admin_key = os.environ.get("PLANTWATCH_ADMIN_KEY") or new_key()
    influx_db = os.environ.get("PLANTWATCH_INFLUX_DB", "plantwatch")
    shared = {
        "PLANTWATCH_INFLUX_URL": f"http://127.0.0.1:{influx_port}",
        "PLANTWATCH_INFLUX_DB": influx_db,
        "PLANTWATCH_MQTT_HOST": "127.0.0.1",
        "PLANTWATCH_MQTT_PORT": str(mqtt_port),
        "PLANTWATCH_API_PORT": str(api_port),
        "PLANTWATCH_CREDENTIALS_FILE": str(credentials_file),
        "PLANTWATCH_SPOOL_DIR": str(HOME / "spool"),
        "PLANTWATCH_HJ212_HOST": "127.0.0.1",
        "PLANTWATCH_HJ212_PORT": str(hj212_port),
        "PLANTWATCH_DATABASE_URL": os.environ.get(
            "PLANTWATCH_DATABASE_URL", f"sqlite:///{HOME / 'plantwatch.db'}"
        ),
    }
    env_file = ROOT / RUN_ENV_FILE
    write_env_file(env_file, shared)
    env = {**os.environ, **shared, "PLANTWATCH_ADMIN_KEY": admin_key}
    services: list[tuple[str, list[str], dict[str, str]]] = [
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
                "PLANTWATCH_MQTT_CLIENT_ID": session_client_id(
                    collector, credentials.service_password(collector_account(collector))
                ),
                "PLANTWATCH_METRICS_PORT": str(metrics_port + i - 1),
            },
        )
        for i, collector in enumerate(COLLECTORS, 1)
    ]
    services += [
        (
            "hj212-gateway",
            ["-m", "ingest", "hj212-gateway"],
            {
                "PLANTWATCH_HJ212_GATEWAY_ID": GATEWAY_ID,
                "PLANTWATCH_MQTT_USERNAME": gateway_account(GATEWAY_ID),
                "PLANTWATCH_MQTT_PASSWORD": credentials.service_password(
                    gateway_account(GATEWAY_ID)
                ),
            },
        ),
        (
            "api",
            ["-m", "api"],
            {
                "PLANTWATCH_MQTT_USERNAME": API_ACCOUNT,
                "PLANTWATCH_MQTT_PASSWORD": credentials.service_password(API_ACCOUNT),
            },
        ),
        (
            "simulator",
            ["-m", "simulators", "live", *SIMULATOR_ARGS, "--control", str(HOME / "sim-control")],
            {"PLANTWATCH_MQTT_USERNAME": "", "PLANTWATCH_MQTT_PASSWORD": ""},
        ),
    ]
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        print("starting InfluxDB and three NATS nodes behind HAProxy ...", flush=True)
        influxd.start()
        cluster.start()
        create_database(shared["PLANTWATCH_INFLUX_URL"], influx_db)
        for name, args, extra in services:
            log = (HOME / "logs" / f"{name}.log").open("ab")
            processes.append(
                (
                    name,
                    subprocess.Popen(
                        [sys.executable, *args],
                        env={**env, **extra},
                        cwd=ROOT,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    ),
                )
            )
            print(f"started {name} (log: var/cluster/logs/{name}.log)", flush=True)
        _wait_ready(f"{api.base}/readyz", [p for _, p in processes], None, READY_TIMEOUT_SECONDS)
        nodes = "  ".join(f"{n.name} 127.0.0.1:{p.mqtt}" for n, p in zip(cluster.nodes, cluster.ports, strict=True))  # fmt: skip
        print(
            "\nplantwatch is up on a broker cluster:\n"
            f"  dashboard       {api.base}/dashboard/  (enter the admin key below)\n"
            f"  admin key       {admin_key}\n"
            f"  MQTT            127.0.0.1:{mqtt_port} (HAProxy over {nodes})\n"
            f"  NATS monitoring "
            + "  ".join(f"http://127.0.0.1:{p.monitor}/" for p in cluster.ports)
            + "\n"
            f"  collectors      {', '.join(f'{c} (partition {i}/{len(COLLECTORS)}, metrics :{metrics_port + i - 1})' for i, c in enumerate(COLLECTORS, 1))}\n"
            f"  store           InfluxDB http://127.0.0.1:{influx_port} (still one InfluxDB 1.x "
            "in cluster mode)\n"
            f"  HJ 212 gateway  tcp://127.0.0.1:{hj212_port}\n"
            f"  settings        {env_file}\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        while not stop.is_set():
            for name, proc in processes:
                # The simulator may finish its backfill and exit; the services must not.
                if proc.poll() is not None and name != "simulator":
                    print(f"error: {name} exited with {proc.returncode}; see "
                          f"var/cluster/logs/{name}.log", file=sys.stderr)  # fmt: skip
                    stop.set()
            stop.wait(1.0)
    except (StackError, PlantwatchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("\nstopping ...", flush=True)
        for _, proc in reversed(processes):
            if proc.poll() is None:
                proc.terminate()
        for _, proc in processes:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        cluster.stop()
        influxd.stop()
        print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
