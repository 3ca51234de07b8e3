"""A blocking test logger and a gateway stack (real Mosquitto, collector, InfluxDB)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingest.client import MqttClient
from ingest.gateway.framing import Frame, Framer
from ingest.gateway.run import build_rules
from ingest.gateway.server import Gateway
from ingest.kernel import hj212
from ingest.kernel.registry import load_registry
from ingest.kernel.store import InfluxStore, Store
from ingest.settings import GatewaySettings
from scripts.devstack import free_port
from tests.builders import MeterSpec, RegistryBuilder
from tests.support import Process, wait_until, write_registry

MN = "33112400SL001STACK000001"
PW = "pw0001"
OTHER_MN = "33112400SL002STACK000001"


def registry(path: Path, *, pw: str = PW) -> Path:
    builder = RegistryBuilder()
    builder.plant(
        "sl-001",
        "synthetic_leather",
        [MeterSpec("stack-1", "voc", {"hj212_mn": MN, "hj212_pw": pw})],
    )
    builder.plant(
        "sl-002",
        "synthetic_leather",
        [MeterSpec("stack-1", "voc", {"hj212_mn": OTHER_MN})],
    )
    return write_registry(path, builder.toml())


def local_text(ts: datetime) -> str:
    return (ts + timedelta(hours=8)).strftime("%Y%m%d%H%M%S")  # Asia/Shanghai has no DST


def packet(
    ts: datetime,
    *,
    qn: str | None = None,
    mn: str = MN,
    pw: str = PW,
    cn: str = "2011",
    flag: str = "5",
    nmhc: float = 12.5,
) -> bytes:
    kind = "Rtd" if cn == "2011" else "Avg"
    return hj212.encode_packet(
        qn=qn or local_text(ts) + "000",
        cn=cn,
        mn=mn,
        pw=pw,
        flag=flag,
        data_time=local_text(ts),
        items={"a24088": {kind: str(nmhc), "Flag": "N"}},
    )


class Logger:
    """A data logger on a blocking socket: sends bytes, collects decoded answers."""

    def __init__(self, port: int, source: str | None = None) -> None:
        """Connected to the gateway at `port`, from loopback address `source` (another host)."""
        where = None if source is None else (source, 0)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=where)
        self.sock.settimeout(0.2)
        self.framer = Framer()
        self.received: list[hj212.Packet] = []

    def send(self, data: bytes, pieces: int = 1, pause_s: float = 0.0) -> None:
        step = max(1, len(data) // pieces)
        for start in range(0, len(data), step):
            self.sock.sendall(data[start : start + step])
            if pause_s:
                time.sleep(pause_s)

    def poll(self) -> bool:
        """Read what has arrived; False once the gateway has closed the connection."""
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return True
        except OSError:
            return False
        if not data:
            return False
        for event in self.framer.feed(data):
            if isinstance(event, Frame):
                self.received.append(hj212.decode_packet(event.raw))
        return True

    def answers(self, cn: str = "9014") -> list[str]:
        return [p.qn for p in self.received if p.cn == cn]

    def wait_answer(self, qn: str, timeout: float = 30.0, cn: str = "9014") -> bool:
        return wait_until(lambda: self.poll() and qn in self.answers(cn), timeout)

    def wait_closed(self, timeout: float = 30.0) -> bool:
        return wait_until(lambda: not self.poll(), timeout)

    def close(self) -> None:
        self.sock.close()


@dataclass
class GatewayStack:
    port: int
    store: InfluxStore
    env: dict[str, str]


def gateway_env(
    registry_path: Path, mqtt_port: int, influx_url: str, db: str, **extra: str
) -> dict[str, str]:
    env = {
        "PLANTWATCH_REGISTRY": str(registry_path),
        "PLANTWATCH_MQTT_PORT": str(mqtt_port),
        "PLANTWATCH_INFLUX_URL": influx_url,
        "PLANTWATCH_INFLUX_DB": db,
        "PLANTWATCH_HJ212_PORT": str(free_port()),
        "PLANTWATCH_SHARE_GROUP": "",
        # a fresh persistent session: never one holding another test's queued packets
        "PLANTWATCH_COLLECTOR_ID": f"collector-{uuid.uuid4().hex[:8]}",
        "PLANTWATCH_HJ212_GATEWAY_ID": f"gateway-{uuid.uuid4().hex[:8]}",
        "PLANTWATCH_STATS_INTERVAL_SECONDS": "3600",
        "PLANTWATCH_LOG_JSON": "false",
        "PLANTWATCH_HJ212_ALLOW_NO_PW": "true",  # OTHER_MN has none: a test registry
    }
    env.update(extra)
    return env


def wait_listening(process: Process, port: int, timeout: float = 30.0) -> None:
    def up() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    assert wait_until(up, timeout), process.log()


def wait_subscribed(collector: Process, timeout: float = 60.0) -> None:
    """Until the collector has subscribed: QoS 1 messages published before reach no session."""
    assert wait_until(lambda: "mqtt connected" in collector.log(), timeout), collector.log()


def count(store: InfluxStore, measurement: str = "voc", where: str = "") -> int:
    series = store.query(f"SELECT count(nmhc_mgm3) FROM {measurement} {where}")
    return int(series[0].values[0][1]) if series and series[0].values else 0


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def start(spawn: Callable[..., Process], env: dict[str, str]) -> tuple[Process, Process, int]:
    collector = spawn(["ingest"], env, "collector")
    gateway = spawn(["ingest", "hj212-gateway"], env, "gateway")
    port = int(env["PLANTWATCH_HJ212_PORT"])
    wait_listening(gateway, port)
    wait_subscribed(collector)
    return collector, gateway, port


# In-process gateways (asyncio): waits with a deadline, never a fixed sleep.
DEADLINE_S = 30.0


async def closed(reader: asyncio.StreamReader) -> bool:
    """True once the gateway has closed this connection."""
    try:
        return await asyncio.wait_for(reader.read(), DEADLINE_S) == b""
    except ConnectionError:
        return True


async def until(predicate, deadline_s: float = DEADLINE_S) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not predicate():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.01)


async def answered(reader: asyncio.StreamReader, qn: str) -> bool:
    data = b""
    while f"QN={qn}".encode() not in data:
        chunk = await asyncio.wait_for(reader.read(4096), DEADLINE_S)
        if not chunk:
            return False
        data += chunk
    return b"CN=9014" in data


def run_gateway(
    tmp_path: Path, mqtt_port: int, scenario, store: object = None, **limits: object
) -> Gateway:
    settings = GatewaySettings(
        registry=registry(tmp_path / "r.toml"), hj212_port=0, mqtt_port=mqtt_port, **limits
    )
    mqtt = MqttClient("gw-limits", "127.0.0.1", mqtt_port)
    rules = build_rules(settings, load_registry(settings.registry))
    gateway = Gateway(settings, rules, mqtt, store)  # type: ignore[arg-type]

    async def main() -> None:
        port = await gateway.start()
        try:
            await scenario(port, gateway)
        finally:
            await gateway.stop()

    mqtt.start()
    try:
        asyncio.run(main())
    finally:
        mqtt.stop()
    return gateway


QUIET_S = 0.5  # how long "no answer" is watched for (an answer comes in milliseconds)


class Lines:
    """Records what the gateway writes to InfluxDB."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.writes = 0
        self._lock = threading.Lock()

    def write_lines(self, lines: list[str]) -> None:
        with self._lock:
            self.lines.extend(lines)
            self.writes += 1


async def connect(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection from another loopback address (127.0.0.x stands for another host)."""
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def silent(reader: asyncio.StreamReader) -> bool:
    """True when nothing arrives for QUIET_S (or the gateway closed the connection)."""
    try:
        data = await asyncio.wait_for(reader.read(4096), QUIET_S)
    except TimeoutError:
        return True
    except ConnectionError:
        return True
    return b"CN=9014" not in data


def dead_letter_codes(store: Store) -> set[str]:
    """The codes of the dead letters a gateway wrote to `store` in the last hour."""
    now = datetime.now(UTC)
    series = store.read_range(
        "dead_letter", ["reason"], now - timedelta(hours=1), now + timedelta(minutes=1),
        group_by=("code",),
    )  # fmt: skip
    return {s.tags["code"] for s in series if s.values}
