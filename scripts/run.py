"""`make run`: the whole system on this machine, data under `var/`, Ctrl-C stops it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from api.auth import new_key
from ingest.credentials import API_ACCOUNT, COLLECTOR_ACCOUNT, GATEWAY_ACCOUNT, CredentialStore
from ingest.errors import PlantwatchError
from ingest.registry import load_registry
from ingest.settings import CommonSettings
from scripts.devstack import (
    StackError,
    create_database,
    influxd_server,
    mosquitto_server,
    port_open,
)

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var"
READY_TIMEOUT_SECONDS = 60.0


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
    # The broker runs with a password per plant and an ACL generated from the registry;
    # each process connects with its own account (the simulator as each plant).
    credentials_file = Path(
        os.environ.get("PLANTWATCH_CREDENTIALS_FILE", VAR / "mqtt-credentials.json")
    )
    os.environ["PLANTWATCH_CREDENTIALS_FILE"] = str(credentials_file)
    settings = CommonSettings()
    credentials = CredentialStore(credentials_file)
    try:
        credentials.write_broker_files(
            load_registry(settings.registry),
            VAR / "mosquitto" / "passwd",
            VAR / "mosquitto" / "acl",
            settings.topic_root,
        )
    except PlantwatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    influxd = influxd_server(VAR / "influxdb", influx_port)
    mosquitto = mosquitto_server(
        VAR / "mosquitto", mqtt_port, VAR / "mosquitto" / "passwd", VAR / "mosquitto" / "acl"
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
    accounts = {
        "collector": {
            "PLANTWATCH_MQTT_USERNAME": COLLECTOR_ACCOUNT,
            "PLANTWATCH_MQTT_PASSWORD": credentials.service_password(COLLECTOR_ACCOUNT),
            # A lone collector subscribes plainly: Mosquitto 2.0 keeps plain subscriptions
            # over a broker restart but not shared ones (docs/decisions.md).
            "PLANTWATCH_SHARE_GROUP": env.get("PLANTWATCH_SHARE_GROUP", ""),
        },
        "api": {
            "PLANTWATCH_MQTT_USERNAME": API_ACCOUNT,
            "PLANTWATCH_MQTT_PASSWORD": credentials.service_password(API_ACCOUNT),
        },
        "simulator": {"PLANTWATCH_MQTT_USERNAME": "", "PLANTWATCH_MQTT_PASSWORD": ""},
        "hj212-gateway": {
            "PLANTWATCH_MQTT_USERNAME": GATEWAY_ACCOUNT,
            "PLANTWATCH_MQTT_PASSWORD": credentials.service_password(GATEWAY_ACCOUNT),
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
        base = f"http://127.0.0.1:{api_port}"
        _wait_ready(f"{base}/readyz", processes)
        print(
            "\nplantwatch is up:\n"
            f"  dashboard       {base}/dashboard/  (enter the admin key below)\n"
            f"  API docs        {base}/docs\n"
            f"  gas share KPI   {base}/api/v1/kpi/gas-share\n"
            f"  admin key       {admin_key}\n"
            f"  try:            curl -H 'Authorization: Bearer {admin_key}' {base}/api/v1/kpi/gas-share\n"
            f"  MQTT broker     127.0.0.1:{mqtt_port} (auth + ACL)   InfluxDB http://127.0.0.1:{influx_port}\n"
            f"  MQTT passwords  {credentials_file}  (`python -m ingest credentials PLANT`)\n"
            f"  collector       http://127.0.0.1:{metrics_port}/metrics\n"
            f"  HJ 212 gateway  tcp://{hj212_host}:{hj212_port}  (data loggers; docs/hj212-gateway.md)\n"
            "Ctrl-C stops everything.",
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
    except StackError as exc:
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


def _wait_ready(url: str, processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if any(p.poll() is not None and p.returncode != 0 for p in processes):
            raise StackError("a process exited at start; see var/logs/")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise StackError(f"{url} not ready after {READY_TIMEOUT_SECONDS:.0f}s; see var/logs/")


if __name__ == "__main__":
    sys.exit(main())
