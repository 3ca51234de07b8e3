"""`make run`: the whole system on this machine, data under `var/`, Ctrl-C stops it all."""

from __future__ import annotations

import math
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.auth import new_key
from api.backup import restore_influx
from ingest.client import MqttClient
from ingest.credentials import DEFAULT_GATEWAY_IDS, CredentialStore, provision_broker
from ingest.dynsec import ADMIN_ACCOUNT, API_ACCOUNT, collector_account, gateway_account
from ingest.gateway.checks import stacks_without_pw
from ingest.kernel.errors import PlantwatchError
from ingest.kernel.registry import Registry, load_registry
from ingest.kernel.topics import Topics
from ingest.settings import CommonSettings, demo_registry_path
from scripts.devstack import (
    StackError,
    TlsListener,
    create_database,
    influxd_server,
    mosquitto_server,
    port_open,
)
from scripts.tls import KeyPair, make_ca, make_server_cert

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_SECONDS = 120.0  # the API imports for tens of seconds on a busy machine
SUBSCRIBE_TIMEOUT_SECONDS = 10.0
# Ctrl-C: every process gets SIGTERM in turn (simulator, API and gateway, collector last so it
# makes durable what it was handed); the whole stop stays within the operator's 10 seconds.
STOP_TIMEOUT_SECONDS = 8.0
COLLECTOR_ID = "collector-1"
GATEWAY_ID = DEFAULT_GATEWAY_IDS[0]  # its broker account is provisioned with the others


class RunSettings(BaseSettings):
    """`make run`'s own settings: where its data lives, its ports, the simulated county."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    var_dir: Path = Field(ROOT / "var", validation_alias="PLANTWATCH_RUN_VAR")
    influx_port: int = Field(18086, validation_alias="PLANTWATCH_RUN_INFLUX_PORT")
    # InfluxDB's RPC port: `influxd backup` / `restore` (python -m api backup) talk to it.
    influx_rpc_port: int = Field(18088, validation_alias="PLANTWATCH_RUN_INFLUX_RPC_PORT")
    # 0.0.0.0 lets a Grafana container (Docker's bridge network) reach InfluxDB.
    influx_bind: str = Field("127.0.0.1", validation_alias="PLANTWATCH_RUN_INFLUX_BIND")
    mqtt_port: int = Field(11883, validation_alias="PLANTWATCH_RUN_MQTT_PORT")
    api_port: int = Field(8000, validation_alias="PLANTWATCH_API_PORT")
    metrics_port: int = Field(9108, validation_alias="PLANTWATCH_RUN_METRICS_PORT")
    hj212_host: str = Field("127.0.0.1", validation_alias="PLANTWATCH_HJ212_HOST")
    hj212_port: int = Field(9212, validation_alias="PLANTWATCH_HJ212_PORT")
    tls: bool = Field(False, validation_alias="PLANTWATCH_RUN_TLS")
    mqtt_tls_port: int = Field(8883, validation_alias="PLANTWATCH_RUN_MQTT_TLS_PORT")
    mqtt_tls_bind: str = Field("0.0.0.0", validation_alias="PLANTWATCH_RUN_MQTT_TLS_BIND")
    tls_hosts: str = Field("", validation_alias="PLANTWATCH_RUN_TLS_HOSTS")
    # The simulated county: "live" backfills `backfill_days` then plays on; "backfill" publishes
    # the whole local days before today and stops (fixed figures); "off" for real plants.
    simulator: Literal["live", "backfill", "off"] = Field(
        "live", validation_alias="PLANTWATCH_RUN_SIMULATOR"
    )
    backfill_days: float = Field(31.0, gt=0, validation_alias="PLANTWATCH_RUN_BACKFILL_DAYS")
    speed: float = Field(60.0, gt=0, validation_alias="PLANTWATCH_RUN_SPEED")


@dataclass(frozen=True, slots=True)
class PortUse:
    """One port `make run` listens on and the variable that moves it."""

    name: str
    port: int
    variable: str


def ports_used(run: RunSettings) -> list[PortUse]:
    """Every port `make run` needs free, each with the variable that moves it."""
    ports = [
        PortUse("InfluxDB", run.influx_port, "PLANTWATCH_RUN_INFLUX_PORT"),
        PortUse("InfluxDB RPC (backup)", run.influx_rpc_port, "PLANTWATCH_RUN_INFLUX_RPC_PORT"),
        PortUse("Mosquitto", run.mqtt_port, "PLANTWATCH_RUN_MQTT_PORT"),
        PortUse("API", run.api_port, "PLANTWATCH_API_PORT"),
        PortUse("collector metrics", run.metrics_port, "PLANTWATCH_RUN_METRICS_PORT"),
        PortUse("HJ 212 gateway", run.hj212_port, "PLANTWATCH_HJ212_PORT"),
    ]
    if run.tls:
        ports.append(PortUse("MQTT over TLS", run.mqtt_tls_port, "PLANTWATCH_RUN_MQTT_TLS_PORT"))
    return ports


def port_refusal(use: PortUse) -> str:
    """What the operator reads when a port is taken."""
    return (
        f"error: port {use.port} for {use.name} is taken; stop what uses it "
        f"or set {use.variable} to a free port"
    )


@dataclass(frozen=True, slots=True)
class RunTls:
    """`make run TLS=1`: Mosquitto's TLS listener and the API's certificate, one local CA."""

    listener: TlsListener
    api: KeyPair
    ca: Path


@dataclass(frozen=True, slots=True)
class ApiAccess:
    """How the API is served and reached: its base URL, its extra settings, the CA to trust."""

    base: str
    env: dict[str, str]
    ca: Path | None


def api_access(api_port: int, tls: RunTls | None) -> ApiAccess:
    """HTTPS with the local CA's certificate under TLS=1, else plain HTTP on 127.0.0.1."""
    if tls is None:
        return ApiAccess(f"http://127.0.0.1:{api_port}", {}, None)
    env = {
        "PLANTWATCH_API_TLS_CERTFILE": str(tls.api.cert),
        "PLANTWATCH_API_TLS_KEYFILE": str(tls.api.key),
    }
    return ApiAccess(f"https://127.0.0.1:{api_port}", env, tls.ca)


def run_tls(run: RunSettings) -> RunTls | None:
    """`make run TLS=1`: certificates from a local CA in var/tls for the broker and the API."""
    if not run.tls:
        return None
    folder = run.var_dir / "tls"
    ca = make_ca(folder)
    hosts = ["localhost", "127.0.0.1", socket.gethostname()]
    hosts += [h for h in run.tls_hosts.split(",") if h.strip()]
    names = list(dict.fromkeys(h.strip() for h in hosts))
    server = make_server_cert(folder, ca, names, "mosquitto")
    listener = TlsListener(run.mqtt_tls_port, server.cert, server.key, ca.cert, run.mqtt_tls_bind)
    return RunTls(listener, make_server_cert(folder, ca, names, "api"), ca.cert)


def simulator_args(
    run: RunSettings, today: date | None = None, collectors: int = 1
) -> list[str] | None:
    """The simulator's command line, or None when `make run` simulates no county.

    `collectors` partitions (make cluster) expose their metrics on consecutive ports."""
    if run.simulator == "off":
        return None
    # The back-fill goes at the collector's pace (simulators/pacing.py): a month queued in
    # the broker made its every-change saves take the machine.
    pace = [
        arg
        for port in range(run.metrics_port, run.metrics_port + collectors)
        for arg in ("--pace-metrics", f"http://127.0.0.1:{port}/metrics")
    ]
    if run.simulator == "backfill":
        last = (today or date.today()) - timedelta(days=1)
        first = last - timedelta(days=max(1, math.ceil(run.backfill_days)) - 1)
        return [
            "-m", "simulators", "history",
            "--start", first.isoformat(), "--end", last.isoformat(),
            "--no-progress", "--voc-transport", "tcp", *pace,
        ]  # fmt: skip
    return [
        "-m", "simulators", "live",
        "--speed", f"{run.speed:g}",
        "--backfill-days", f"{run.backfill_days:g}",
        "--control", str(run.var_dir / "sim-control"),
        "--voc-transport", "tcp", *pace,
    ]  # fmt: skip


def gateway_allow_no_pw(registry_path: Path, registry: Registry) -> str | None:
    """PLANTWATCH_HJ212_ALLOW_NO_PW for the gateway; None: it must not start (issue 22).

    The shipped demo county is simulated, a test; any other registry must give every stack
    a PW unless the environment says it is a test's.
    """
    if not stacks_without_pw(registry):
        return "false"
    told = os.environ.get("PLANTWATCH_HJ212_ALLOW_NO_PW", "").lower() in ("1", "true", "yes")
    demo = Path(registry_path).resolve() == demo_registry_path().resolve()
    return "true" if told or demo else None


def main() -> int:
    run = RunSettings()
    var = run.var_dir
    (var / "logs").mkdir(parents=True, exist_ok=True)
    for use in ports_used(run):
        if port_open(use.port):
            print(port_refusal(use), file=sys.stderr)
            return 1
    # The broker authenticates through its dynamic-security plugin: an account per plant and
    # per service process, each bound to its client id, provisioned from the registry once
    # the broker runs (ingest/dynsec.py). The simulator connects as each plant.
    credentials_file = Path(
        os.environ.get("PLANTWATCH_CREDENTIALS_FILE", var / "mqtt-credentials.json")
    )
    os.environ["PLANTWATCH_CREDENTIALS_FILE"] = str(credentials_file)
    env_file = var / ".env"
    settings = CommonSettings()
    credentials = CredentialStore(credentials_file)
    try:
        registry = load_registry(settings.registry)
        certs = run_tls(run)
    except (PlantwatchError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    allow_no_pw = gateway_allow_no_pw(settings.registry, registry)
    if allow_no_pw is None:
        print(
            "error: stacks with an hj212_mn but no hj212_pw would accept any password: "
            f"{', '.join(stacks_without_pw(registry)[:5])}; give them an hj212_pw or set "
            "PLANTWATCH_HJ212_ALLOW_NO_PW=true if this registry is a test's",
            file=sys.stderr,
        )
        return 1
    tls = None if certs is None else certs.listener
    api = api_access(run.api_port, certs)
    influxd = influxd_server(
        var / "influxdb", run.influx_port, rpc_port=run.influx_rpc_port, bind=run.influx_bind
    )
    mosquitto = mosquitto_server(
        var / "mosquitto",
        run.mqtt_port,
        dynsec_admin_password=credentials.service_password(ADMIN_ACCOUNT),
        tls=tls,
    )
    admin_key = os.environ.get("PLANTWATCH_ADMIN_KEY") or new_key()
    influx_url = f"http://127.0.0.1:{run.influx_port}"
    influx_db = os.environ.get("PLANTWATCH_INFLUX_DB", "plantwatch")
    shared = {
        "PLANTWATCH_INFLUX_URL": influx_url,
        "PLANTWATCH_INFLUX_DB": influx_db,
        "PLANTWATCH_INFLUX_RPC": f"127.0.0.1:{run.influx_rpc_port}",
        "PLANTWATCH_MQTT_HOST": os.environ.get("PLANTWATCH_MQTT_HOST", "127.0.0.1"),
        "PLANTWATCH_MQTT_PORT": str(run.mqtt_port),
        "PLANTWATCH_API_PORT": str(run.api_port),
        "PLANTWATCH_CREDENTIALS_FILE": str(credentials_file),
        "PLANTWATCH_SPOOL_DIR": str(var / "spool"),
        "PLANTWATCH_HJ212_HOST": run.hj212_host,
        "PLANTWATCH_HJ212_PORT": str(run.hj212_port),
        "PLANTWATCH_DATABASE_URL": os.environ.get(
            "PLANTWATCH_DATABASE_URL", f"sqlite:///{var / 'plantwatch.db'}"
        ),
        "PLANTWATCH_VAR_DIR": str(var),
    }
    write_env_file(env_file, shared)
    env = {**os.environ, **shared, "PLANTWATCH_ADMIN_KEY": admin_key}
    accounts = {
        "collector": {
            "PLANTWATCH_COLLECTOR_ID": COLLECTOR_ID,
            "PLANTWATCH_MQTT_USERNAME": collector_account(COLLECTOR_ID),
            "PLANTWATCH_MQTT_PASSWORD": credentials.service_password(
                collector_account(COLLECTOR_ID)
            ),
            "PLANTWATCH_METRICS_PORT": str(run.metrics_port),
        },
        "api": {
            **api.env,
            "PLANTWATCH_MQTT_USERNAME": API_ACCOUNT,
            "PLANTWATCH_MQTT_PASSWORD": credentials.service_password(API_ACCOUNT),
        },
        "simulator": {"PLANTWATCH_MQTT_USERNAME": "", "PLANTWATCH_MQTT_PASSWORD": ""},
        "hj212-gateway": {
            "PLANTWATCH_HJ212_GATEWAY_ID": GATEWAY_ID,
            "PLANTWATCH_HJ212_ALLOW_NO_PW": allow_no_pw,
            "PLANTWATCH_MQTT_USERNAME": gateway_account(GATEWAY_ID),
            "PLANTWATCH_MQTT_PASSWORD": credentials.service_password(gateway_account(GATEWAY_ID)),
        },
    }
    commands: list[tuple[str, list[str]]] = [
        ("collector", ["-m", "ingest"]),
        ("hj212-gateway", ["-m", "ingest", "hj212-gateway"]),
        ("api", ["-m", "api"]),
    ]
    simulator = simulator_args(run)
    if simulator is not None:
        commands.append(("simulator", simulator))
    processes: dict[str, subprocess.Popen[bytes]] = {}
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        print("starting InfluxDB and Mosquitto ...", flush=True)
        influxd.start()
        mosquitto.start()
        # Passwords from the credentials file win over what the broker kept from a last run.
        provision_broker(
            credentials,
            registry,
            "127.0.0.1",
            run.mqtt_port,
            settings.topic_root,
            [COLLECTOR_ID],
            reset_existing=True,
        )
        # A backup restored into this var/ (`python -m api restore`), before anything writes.
        if restore_influx(var, f"127.0.0.1:{run.influx_rpc_port}", influx_db):
            print("restored InfluxDB from the staged backup", flush=True)
        create_database(influx_url, influx_db)
        open_collector_session(settings, run.mqtt_port, credentials)
        for name, args in commands:
            log = (var / "logs" / f"{name}.log").open("ab")
            processes[name] = subprocess.Popen(
                [sys.executable, *args],
                env={**env, **accounts[name]},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            print(f"started {name} (log: {var / 'logs' / name}.log)", flush=True)
        base = api.base
        _wait_ready(f"{base}/readyz", processes, var / "logs", stop, api.ca)
        print(
            "\nplantwatch is up:\n"
            f"  dashboard       {base}/dashboard/  (enter the admin key below)\n"
            f"  API docs        {base}/docs\n"
            f"  gas share KPI   {base}/api/v1/kpi/gas-share\n"
            f"  admin key       {admin_key}\n"
            f"  try:            curl{f' --cacert {api.ca}' if api.ca else ''} "
            f"-H 'Authorization: Bearer {admin_key}' {base}/api/v1/kpi/gas-share\n"
            f"  MQTT broker     127.0.0.1:{run.mqtt_port} (accounts: dynamic security)   "
            f"InfluxDB http://{run.influx_bind}:{run.influx_port}\n"
            + (
                f"  MQTT over TLS   {tls.bind}:{tls.port}  (plants trust {tls.ca})\n"
                f"  API over HTTPS  {base}  (certificate from the CA {tls.ca})\n"
                if tls is not None
                else ""
            )
            + f"  MQTT passwords  {credentials_file}  (`python -m ingest credentials PLANT`)\n"
            f"  collector       http://127.0.0.1:{run.metrics_port}/metrics\n"
            f"  HJ 212 gateway  tcp://{run.hj212_host}:{run.hj212_port}  (data loggers; docs/hj212-gateway.md)\n"
            f"  settings        {env_file} (read by `python -m api|ingest|simulators` run in "
            f"{ROOT}):\n"
            + "".join(f"                  {k}={v}\n" for k, v in shared.items())
            + "Ctrl-C stops everything.",
            flush=True,
        )
        while not stop.is_set():
            for name, proc in processes.items():
                # The simulator may finish its backfill and exit; the services must not.
                if proc.poll() is not None and name != "simulator":
                    print(
                        f"error: {name} exited with {proc.returncode}; "
                        f"see {var / 'logs' / name}.log",
                        file=sys.stderr,
                    )
                    stop.set()
            stop.wait(1.0)
    except (StackError, PlantwatchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("\nstopping ...", flush=True)
        began = time.monotonic()
        stop_processes(processes)
        mosquitto.stop()
        influxd.stop()
        print(f"stopped in {time.monotonic() - began:.1f}s.", flush=True)
    return 0


def open_collector_session(
    settings: CommonSettings, mqtt_port: int, credentials: CredentialStore
) -> None:
    """Make the broker queue every reading for the collector before anything publishes.

    The collector's session is persistent, but only from its first SUBACK: on a new var/ (or
    a broker that lost its state) readings published while the collector is still starting
    had no subscriber and were dropped. Subscribing in its name first closes that window;
    nothing is acknowledged here, so whatever the session already held stays for it.
    """
    account = collector_account(COLLECTOR_ID)
    session = MqttClient(
        COLLECTOR_ID,
        "127.0.0.1",
        mqtt_port,
        account,
        credentials.service_password(account),
        clean_session=False,
        manual_ack=True,
        subscriptions=[(f, 1) for f in Topics(settings.topic_root).collector_filters()],
    )
    session.start()
    try:
        if not session.wait_subscribed(SUBSCRIBE_TIMEOUT_SECONDS):
            raise StackError("the broker did not accept the collector's subscriptions")
    finally:
        session.stop()


# Stopped in this order: nothing new is published, nothing new is asked, then the collector
# makes durable and acknowledges what it was handed (the broker keeps the rest for next time).
STOP_ORDER = (("simulator",), ("api", "hj212-gateway"), ("collector",))


def stop_processes(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM each group of STOP_ORDER and wait for it; SIGKILL what outlives the budget.
    A process named `<name>-<n>` (`make cluster`'s `api-2`) stops with the group of `<name>`."""
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for group in STOP_ORDER:
        procs = {n: p for n, p in processes.items() if re.sub(r"-\d+$", "", n) in group}
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for name, proc in procs.items():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"warning: {name} did not stop in time; killed", flush=True)
                proc.kill()
                proc.wait()


def write_env_file(path: Path, values: dict[str, str]) -> None:
    """The settings of `make run`'s services, where every process's settings class reads them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Written by `make run`: the ports and paths of its services. Commands run from the",
        "# project directory read this file (a .env there or the environment override it).",
        *(f"{k}={v}" for k, v in values.items()),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)


def _wait_ready(
    url: str,
    processes: dict[str, subprocess.Popen[bytes]],
    logs: Path,
    stop: threading.Event,
    ca: Path | None = None,
) -> None:
    verify = ssl.create_default_context(cafile=ca) if ca else True
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline and not stop.is_set():
        for name, proc in processes.items():
            if proc.poll() is not None and proc.returncode != 0:
                raise StackError(f"{name} exited at start; see {logs / name}.log")
        try:
            if httpx.get(url, timeout=1.0, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        stop.wait(0.2)
    if stop.is_set():
        raise StackError("stopped before the API was ready")
    raise StackError(f"{url} not ready after {READY_TIMEOUT_SECONDS:.0f}s; see var/logs/")


if __name__ == "__main__":
    sys.exit(main())
