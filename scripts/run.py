"""`make run`: the whole system on this machine, data under `var/`, Ctrl-C stops it all."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from api.auth import new_key
from ingest.credentials import DEFAULT_GATEWAY_IDS, CredentialStore, provision_broker
from ingest.dynsec import ADMIN_ACCOUNT, API_ACCOUNT, collector_account, gateway_account
from ingest.errors import PlantwatchError
from ingest.registry import load_registry
from ingest.settings import RUN_ENV_FILE, CommonSettings
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
VAR = ROOT / "var"
READY_TIMEOUT_SECONDS = 60.0
COLLECTOR_ID = "collector-1"
GATEWAY_ID = DEFAULT_GATEWAY_IDS[0]  # its broker account is provisioned with the others


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


def run_tls() -> RunTls | None:
    """`make run TLS=1`: certificates from a local CA in var/tls for the broker and the API."""
    if os.environ.get("PLANTWATCH_RUN_TLS", "") in ("", "0"):
        return None
    folder = VAR / "tls"
    ca = make_ca(folder)
    hosts = ["localhost", "127.0.0.1", socket.gethostname()]
    hosts += [h for h in os.environ.get("PLANTWATCH_RUN_TLS_HOSTS", "").split(",") if h.strip()]
    names = list(dict.fromkeys(h.strip() for h in hosts))
    server = make_server_cert(folder, ca, names, "mosquitto")
    listener = TlsListener(
        int(os.environ.get("PLANTWATCH_RUN_MQTT_TLS_PORT", "8883")),
        server.cert,
        server.key,
        ca.cert,
        os.environ.get("PLANTWATCH_RUN_MQTT_TLS_BIND", "0.0.0.0"),
    )
    return RunTls(listener, make_server_cert(folder, ca, names, "api"), ca.cert)


def main() -> int:
    VAR.mkdir(exist_ok=True)
    (VAR / "logs").mkdir(exist_ok=True)
    influx_port = int(os.environ.get("PLANTWATCH_RUN_INFLUX_PORT", "18086"))
    mqtt_port = int(os.environ.get("PLANTWATCH_RUN_MQTT_PORT", "11883"))
    api_port = int(os.environ.get("PLANTWATCH_API_PORT", "8000"))
    for name, port in (("InfluxDB", influx_port), ("Mosquitto", mqtt_port), ("API", api_port)):
        if port_open(port):
            print(
                f"error: port {port} for {name} is taken; stop what uses it or set "
                "PLANTWATCH_RUN_INFLUX_PORT / PLANTWATCH_RUN_MQTT_PORT / PLANTWATCH_API_PORT",
                file=sys.stderr,
            )
            return 1
    metrics_port = int(os.environ.get("PLANTWATCH_RUN_METRICS_PORT", "9108"))
    hj212_host = os.environ.get("PLANTWATCH_HJ212_HOST", "127.0.0.1")
    hj212_port = int(os.environ.get("PLANTWATCH_HJ212_PORT", "9212"))
    # The broker authenticates through its dynamic-security plugin: an account per plant and
    # per service process, each bound to its client id, provisioned from the registry once
    # the broker runs (ingest/dynsec.py). The simulator connects as each plant.
    credentials_file = Path(
        os.environ.get("PLANTWATCH_CREDENTIALS_FILE", VAR / "mqtt-credentials.json")
    )
    os.environ["PLANTWATCH_CREDENTIALS_FILE"] = str(credentials_file)
    settings = CommonSettings()
    credentials = CredentialStore(credentials_file)
    try:
        registry = load_registry(settings.registry)
        certs = run_tls()
    except (PlantwatchError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    tls = None if certs is None else certs.listener
    api = api_access(api_port, certs)
    if tls is not None and port_open(tls.port):
        print(f"error: port {tls.port} for MQTT over TLS is taken; set "
              "PLANTWATCH_RUN_MQTT_TLS_PORT", file=sys.stderr)  # fmt: skip
        return 1
    influxd = influxd_server(VAR / "influxdb", influx_port)
    mosquitto = mosquitto_server(
        VAR / "mosquitto",
        mqtt_port,
        dynsec_admin_password=credentials.service_password(ADMIN_ACCOUNT),
        tls=tls,
    )
    admin_key = os.environ.get("PLANTWATCH_ADMIN_KEY") or new_key()
    env = {
        **os.environ,
        "PLANTWATCH_MQTT_PORT": str(mqtt_port),
        "PLANTWATCH_INFLUX_URL": f"http://127.0.0.1:{influx_port}",
        "PLANTWATCH_API_PORT": str(api_port),
        "PLANTWATCH_ADMIN_KEY": admin_key,
        "PLANTWATCH_SPOOL_DIR": str(VAR / "spool"),
    }
    shared = {
        "PLANTWATCH_INFLUX_URL": env["PLANTWATCH_INFLUX_URL"],
        "PLANTWATCH_INFLUX_DB": env.get("PLANTWATCH_INFLUX_DB", "plantwatch"),
        "PLANTWATCH_MQTT_HOST": env.get("PLANTWATCH_MQTT_HOST", "127.0.0.1"),
        "PLANTWATCH_MQTT_PORT": str(mqtt_port),
        "PLANTWATCH_API_PORT": str(api_port),
        "PLANTWATCH_CREDENTIALS_FILE": str(credentials_file),
        "PLANTWATCH_SPOOL_DIR": env["PLANTWATCH_SPOOL_DIR"],
        "PLANTWATCH_HJ212_HOST": hj212_host,
        "PLANTWATCH_HJ212_PORT": str(hj212_port),
        "PLANTWATCH_DATABASE_URL": env.get(
            "PLANTWATCH_DATABASE_URL", f"sqlite:///{VAR / 'plantwatch.db'}"
        ),
    }
    env_file = ROOT / RUN_ENV_FILE
    write_env_file(env_file, shared)
    accounts = {
        "collector": {
            "PLANTWATCH_COLLECTOR_ID": COLLECTOR_ID,
            "PLANTWATCH_MQTT_USERNAME": collector_account(COLLECTOR_ID),
            "PLANTWATCH_MQTT_PASSWORD": credentials.service_password(
                collector_account(COLLECTOR_ID)
            ),
        },
        "api": {
            **api.env,
            "PLANTWATCH_MQTT_USERNAME": API_ACCOUNT,
            "PLANTWATCH_MQTT_PASSWORD": credentials.service_password(API_ACCOUNT),
        },
        "simulator": {"PLANTWATCH_MQTT_USERNAME": "", "PLANTWATCH_MQTT_PASSWORD": ""},
        "hj212-gateway": {
            "PLANTWATCH_HJ212_GATEWAY_ID": GATEWAY_ID,
            "PLANTWATCH_MQTT_USERNAME": gateway_account(GATEWAY_ID),
            "PLANTWATCH_MQTT_PASSWORD": credentials.service_password(gateway_account(GATEWAY_ID)),
        },
    }
    if port_open(metrics_port):
        print(f"warning: port {metrics_port} is taken; collector metrics not served", flush=True)
    else:
        accounts["collector"]["PLANTWATCH_METRICS_PORT"] = str(metrics_port)
    processes: list[subprocess.Popen[bytes]] = []
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
            mqtt_port,
            settings.topic_root,
            [COLLECTOR_ID],
            reset_existing=True,
        )
        create_database(
            f"http://127.0.0.1:{influx_port}", env.get("PLANTWATCH_INFLUX_DB", "plantwatch")
        )
        for name, args in (
            ("collector", ["-m", "ingest"]),
            ("hj212-gateway", ["-m", "ingest", "hj212-gateway"]),
            ("api", ["-m", "api"]),
            (
                "simulator",
                [
                    "-m",
                    "simulators",
                    "live",
                    "--speed",
                    "60",
                    "--backfill-days",
                    "31",
                    "--control",
                    str(VAR / "sim-control"),
                    "--voc-transport",
                    "tcp",
                ],
            ),
        ):
            log = (VAR / "logs" / f"{name}.log").open("ab")
            processes.append(
                subprocess.Popen(
                    [sys.executable, *args],
                    env={**env, **accounts[name]},
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            print(f"started {name} (log: var/logs/{name}.log)", flush=True)
        base = api.base
        _wait_ready(f"{base}/readyz", processes, api.ca)
        print(
            "\nplantwatch is up:\n"
            f"  dashboard       {base}/dashboard/  (enter the admin key below)\n"
            f"  API docs        {base}/docs\n"
            f"  gas share KPI   {base}/api/v1/kpi/gas-share\n"
            f"  admin key       {admin_key}\n"
            f"  try:            curl{f' --cacert {api.ca}' if api.ca else ''} "
            f"-H 'Authorization: Bearer {admin_key}' {base}/api/v1/kpi/gas-share\n"
            f"  MQTT broker     127.0.0.1:{mqtt_port} (accounts: dynamic security)   "
            f"InfluxDB http://127.0.0.1:{influx_port}\n"
            + (
                f"  MQTT over TLS   {tls.bind}:{tls.port}  (plants trust {tls.ca})\n"
                f"  API over HTTPS  {base}  (certificate from the CA {tls.ca})\n"
                if tls is not None
                else ""
            )
            + f"  MQTT passwords  {credentials_file}  (`python -m ingest credentials PLANT`)\n"
            f"  collector       http://127.0.0.1:{metrics_port}/metrics\n"
            f"  HJ 212 gateway  tcp://{hj212_host}:{hj212_port}  (data loggers; docs/hj212-gateway.md)\n"
            f"  settings        {env_file} (read by `python -m api|ingest|simulators` run in "
            f"{ROOT}):\n"
            + "".join(f"                  {k}={v}\n" for k, v in shared.items())
            + "Ctrl-C stops everything.",
            flush=True,
        )
        while not stop.is_set():
            names = ("collector", "hj212-gateway", "api", "simulator")
            for name, proc in zip(names, processes, strict=False):
                # The simulator may finish its backfill and exit; the services must not.
                if proc.poll() is not None and name != "simulator":
                    print(
                        f"error: {name} exited with {proc.returncode}; see var/logs/{name}.log",
                        file=sys.stderr,
                    )
                    stop.set()
            stop.wait(1.0)
    except (StackError, PlantwatchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("\nstopping ...", flush=True)
        for proc in reversed(processes):
            if proc.poll() is None:
                proc.terminate()
        for proc in processes:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        mosquitto.stop()
        influxd.stop()
        print("stopped.", flush=True)
    return 0


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
    processes: list[subprocess.Popen[bytes]],
    ca: Path | None = None,
    timeout: float = READY_TIMEOUT_SECONDS,
) -> None:
    verify = ssl.create_default_context(cafile=ca) if ca else True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None and p.returncode != 0 for p in processes):
            raise StackError("a process exited at start; see var/logs/")
        try:
            if httpx.get(url, timeout=1.0, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise StackError(f"{url} not ready after {timeout:.0f}s; see var/logs/")


if __name__ == "__main__":
    sys.exit(main())
