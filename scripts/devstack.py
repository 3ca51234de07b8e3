"""Start private Mosquitto and InfluxDB servers in a folder, on chosen or free ports.

Used by `make run` (data under `var/`) and by the test fixtures (data in a temporary
folder). Nothing here relies on the services Debian's packages may have started:
every server gets its own config file, data folder and ports.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ingest.broker_queue import MAX_QUEUED_BYTES, MAX_QUEUED_MESSAGES
from ingest.dynsec import plugin_path, write_seed
from ingest.kernel.schema import MAX_PACKET_BYTES

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0


class StackError(RuntimeError):
    """A server could not be started or did not become ready."""


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now.

    Never the same port twice in one process: servers started together (a 3-node cluster's
    twelve ports) would otherwise race for a port the kernel offered twice (seen: a NATS
    node's route port already in use).
    """
    port = 0
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            break
    _HANDED_OUT.add(port)
    return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def four_letter_word(port: int, word: str, host: str = "127.0.0.1") -> str:
    """ZooKeeper's answer to a four-letter command (`srvr`, `ruok`); "" if none."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(word.encode())
            chunks = []
            while chunk := sock.recv(4096):
                chunks.append(chunk)
    except OSError:
        return ""
    return b"".join(chunks).decode(errors="replace")


@dataclass
class Server:
    """One server process with the command line that (re)starts it."""

    name: str
    argv: list[str]
    port: int
    log_path: Path
    ready_check: str = "port"  # "port", "zookeeper" (serving), or an http URL answering 2xx
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Server:
        if self.process is not None and self.process.poll() is None:
            return self
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise StackError(f"{self.name} exited at start; see {self.log_path}")
            if self._ready():
                return
            time.sleep(0.05)
        raise StackError(
            f"{self.name} not ready after {START_TIMEOUT_SECONDS}s; see {self.log_path}"
        )

    def _ready(self) -> bool:
        if self.ready_check == "port":
            return port_open(self.port)
        if self.ready_check == "zookeeper":
            # `ruok` answers imok as soon as the port is bound; `srvr` names the mode only once
            # it serves (a ClickHouse 18.16 that failed to connect at its start crashes later).
            return "Mode: " in four_letter_word(self.port, "srvr")
        try:
            return httpx.get(self.ready_check, timeout=0.5).status_code < 300
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), then SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
        self._wait_port_closed()

    def kill(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.kill()
        self.process.wait()
        self._wait_port_closed()

    def restart(self) -> Server:
        self.stop()
        return self.start()

    def _wait_port_closed(self) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)


def influxd_server(
    workdir: Path, port: int | None = None, *, rpc_port: int | None = None, bind: str = "127.0.0.1"
) -> Server:
    """An InfluxDB 1.x server with its data in `workdir`; not started yet.

    Its RPC service (`bind-address`, 127.0.0.1 only) is what `influxd backup -portable` and
    `influxd restore -portable` talk to; `bind` is where its HTTP API listens.
    """
    influxd = shutil.which("influxd")
    if influxd is None:
        raise StackError("influxd not found: install Debian's 'influxdb' package (make deps)")
    workdir.mkdir(parents=True, exist_ok=True)
    http_port = port or free_port()
    rpc_port = rpc_port or free_port()
    conf = workdir / "influxdb.conf"
    conf.write_text(
        f"""reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{workdir}/meta"
  logging-enabled = false
[data]
  dir = "{workdir}/data"
  wal-dir = "{workdir}/wal"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "1m0s"
[monitor]
  store-enabled = false
[http]
  bind-address = "{bind}:{http_port}"
  log-enabled = false
  pprof-enabled = false
[logging]
  level = "warn"
  suppress-logo = true
[continuous_queries]
  enabled = true
  log-enabled = false
  run-interval = "1m0s"
"""
    )
    return Server(
        name="influxd",
        argv=[influxd, "run", "-config", str(conf)],
        port=http_port,
        log_path=workdir / "influxd.log",
        ready_check=f"http://127.0.0.1:{http_port}/ping",
    )


@dataclass(frozen=True)
class TlsListener:
    """A TLS listener for plants: where it listens and the server's certificate."""

    port: int
    cert: Path
    key: Path
    ca: Path
    bind: str = "127.0.0.1"


# Broker limits (docs/operations.md "Broker queue settings"): a packet larger than
# MAX_PACKET_BYTES (ingest/kernel/schema.py, where HTTP push checks it) is refused and its sender
# disconnected; queues are bounded by count and by bytes per client (ingest/broker_queue.py,
# where the collectors' alarm before those limits lives). `$SYS` every second feeds that alarm and the
# back-fill's pace (simulators/pacing.py).


# A PUBACK (and the 202/9014 answered after a barrier) means stored only if the broker saves
# its in-memory database after every change (Mosquitto 2.0: with autosave_on_changes the
# interval counts changes, not seconds). Each save rewrites the whole database, so this costs
# throughput, the more the longer the queues (bench/results/pathsafe-*.md).
DURABLE_SAVES = ("autosave_on_changes true", "autosave_interval 1")
PERIODIC_SAVES = ("autosave_interval 5",)


def mosquitto_server(
    workdir: Path,
    port: int | None = None,
    *,
    dynsec_admin_password: str | None = None,
    tls: TlsListener | None = None,
    durable_acks: bool = True,
) -> Server:
    """A Mosquitto broker with persistence in `workdir`; not started yet.

    `durable_acks` (the shipped default): the broker saves after every change, so the 202 or
    9014 the services answer after a barrier (`MqttClient.barrier`) means stored. False: a
    save every 5 s (what was shipped before issue 23), for tests and benchmarks that push
    thousands of messages a second; bench/pathsafe.py measures the difference.

    With `dynsec_admin_password` it authenticates through the dynamic-security plugin
    (ingest/dynsec.py; its file is seeded with the `svc-admin` account if missing, the
    rest is provisioned over the control topic once it runs). Without it the broker allows
    anonymous clients (unit-style tests and benchmarks only).
    """
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(mosquitto).exists():
        raise StackError("mosquitto not found: install Debian's 'mosquitto' package (make deps)")
    workdir.mkdir(parents=True, exist_ok=True)
    mqtt_port = port or free_port()
    lines = [
        "per_listener_settings false",
        "persistence true",
        f"persistence_location {workdir}/",
        *(DURABLE_SAVES if durable_acks else PERIODIC_SAVES),
        # The collectors acknowledge only after a durable write, so the broker must let
        # a batch's worth of QoS 1 messages be in flight and queue generously while
        # a collector is away (the default 1000 would silently drop readings), but never
        # without bound: count and bytes per client are both capped.
        "max_inflight_messages 2000",
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        f"max_queued_bytes {MAX_QUEUED_BYTES}",
        f"max_packet_size {MAX_PACKET_BYTES}",
        "set_tcp_nodelay true",
        "sys_interval 1",
        f"log_dest file {workdir}/mosquitto.log",
        "log_type error",
        "log_type warning",
    ]
    if dynsec_admin_password is not None:
        seed = workdir / "dynamic-security.json"
        write_seed(seed, dynsec_admin_password)
        lines += [
            f"plugin {plugin_path()}",
            f"plugin_opt_config_file {seed}",
            "allow_anonymous false",
        ]
    else:
        lines.append("allow_anonymous true")
    lines.append(f"listener {mqtt_port} 127.0.0.1")
    if tls is not None:
        lines += [
            f"listener {tls.port} {tls.bind}",
            f"certfile {tls.cert}",
            f"keyfile {tls.key}",
            f"cafile {tls.ca}",
            "tls_version tlsv1.2",
        ]
    # Mosquitto refuses to run as root without a `user`; running as the invoking user
    # keeps the data folder ours.
    if os.geteuid() == 0:
        lines.insert(0, "user root")
    conf = workdir / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    return Server(
        name="mosquitto",
        argv=[mosquitto, "-c", str(conf)],
        port=mqtt_port,
        log_path=workdir / "mosquitto-stdout.log",
    )


def clickhouse_server(
    workdir: Path,
    port: int | None = None,
    *,
    tcp_port: int | None = None,
    extra_config: str = "",
    max_memory_usage: int = 2_000_000_000,
) -> Server:
    """A ClickHouse server (Debian's `clickhouse-server`, 18.16) with its data in `workdir`,
    HTTP on `port` and its native TCP port (`tcp_port`, else a free one); not started yet.
    Ready when its HTTP `/ping` answers. One node, unless `extra_config` (XML inside
    `<yandex>`) makes it a replica of a cluster (scripts/chstack.py)."""
    binary = shutil.which("clickhouse-server") or "/usr/sbin/clickhouse-server"
    if not Path(binary).exists():
        raise StackError(
            "clickhouse-server not found: install Debian's 'clickhouse-server' (make deps-cluster)"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    http_port = port or free_port()
    (workdir / "users.xml").write_text(
        f"""<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>{max_memory_usage}</max_memory_usage></default></profiles>
  <users><default><password></password>
    <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""
    )
    conf = workdir / "config.xml"
    conf.write_text(
        f"""<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port or free_port()}</tcp_port>
  <path>{workdir}/data/</path>
  <tmp_path>{workdir}/scratch/</tmp_path>
  <user_files_path>{workdir}/user_files/</user_files_path>
  <format_schema_path>{workdir}/format_schemas/</format_schema_path>
  <users_config>{workdir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
{extra_config}</yandex>
"""
    )
    return Server(
        name="clickhouse-server",
        argv=[binary, f"--config-file={conf}"],
        port=http_port,
        log_path=workdir / "clickhouse-server.log",
        ready_check=f"http://127.0.0.1:{http_port}/ping",
    )


def create_database(influx_url: str, database: str) -> None:
    """Create `database` (idempotent) on a v1-compatible server."""
    resp = httpx.post(f"{influx_url}/query", data={"q": f'CREATE DATABASE "{database}"'})
    resp.raise_for_status()


@contextlib.contextmanager
def running(*servers: Server) -> Iterator[tuple[Server, ...]]:
    """Start servers in order and stop them in reverse order."""
    started: list[Server] = []
    try:
        for server in servers:
            started.append(server.start())
        yield servers
    finally:
        for server in reversed(started):
            server.stop()
