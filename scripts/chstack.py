"""A ClickHouse cluster on loopback: ZooKeeper and replicas of one shard (SPEC 15, issue 26).

Like scripts/devstack.py, every server gets its own config file, data folder and free ports
under a folder; nothing relies on a service a package may have started (Debian's
`zookeeper` and `clickhouse-server`, `make deps-cluster`). ZooKeeper is ready when `srvr`
says it serves (`ruok` answers earlier), and only then do the replicas start; a replica is
ready when its HTTP `/ping` answers and it reads ZooKeeper (its session is open, so
`ON CLUSTER` DDL and replicated inserts work).

Each replica names the cluster in `remote_servers` (one shard, `internal_replication`: the
`Distributed` table writes one replica, replication copies it), ZooKeeper, and its macros
(`{shard}`, `{replica}`) that `ingest.kernel.clickhouse.Layout`'s cluster DDL uses.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ingest.kernel.clickhouse import HttpRunner
from scripts.devstack import (
    START_TIMEOUT_SECONDS,
    Server,
    StackError,
    clickhouse_server,
    free_port,
)

CLUSTER_NAME = "plantwatch"
REPLICAS = 2
ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")  # its manifest names its dependencies
ZOOKEEPER_TICK_MS = 500
# A killed replica stops counting as alive (its ZooKeeper session expires) after this long:
# until then a quorum insert that needs it waits (`insert_quorum_timeout`) instead of being
# refused at once. ZooKeeper allows 2 to 20 ticks.
ZOOKEEPER_SESSION_TIMEOUT_MS = 3_000


def zookeeper_server(workdir: Path, port: int | None = None) -> Server:
    """A standalone ZooKeeper (Debian's `zookeeper`) with its data in `workdir`; not started."""
    java = shutil.which("java")
    if java is None or not ZOOKEEPER_JAR.exists():
        raise StackError("zookeeper not found: install Debian's 'zookeeper' (make deps-cluster)")
    workdir.mkdir(parents=True, exist_ok=True)
    client_port = port or free_port()
    conf = workdir / "zoo.cfg"
    conf.write_text(
        f"""tickTime={ZOOKEEPER_TICK_MS}
dataDir={workdir}/data
clientPort={client_port}
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,mntr
maxClientCnxns=0
"""
    )
    return Server(
        name="zookeeper",
        argv=[
            java,
            "-Xmx256m",
            f"-Dzookeeper.log.dir={workdir}",
            "-cp",
            str(ZOOKEEPER_JAR),
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            str(conf),
        ],
        port=client_port,
        log_path=workdir / "zookeeper.log",
        ready_check="zookeeper",
    )


@dataclass(frozen=True)
class ReplicaPorts:
    http: int
    tcp: int
    interserver: int

    @classmethod
    def free(cls) -> ReplicaPorts:
        return cls(free_port(), free_port(), free_port())


def replica_config(
    name: str, index: int, ports: ReplicaPorts, all_ports: list[ReplicaPorts], zk_port: int
) -> str:
    """The XML that makes one server replica `index` (1-based) of shard 01 of cluster `name`."""
    replicas = "".join(
        f"<replica><host>127.0.0.1</host><port>{p.tcp}</port></replica>" for p in all_ports
    )
    return f"""  <interserver_http_host>127.0.0.1</interserver_http_host>
  <interserver_http_port>{ports.interserver}</interserver_http_port>
  <remote_servers><{name}><shard><internal_replication>true</internal_replication>
    {replicas}</shard></{name}></remote_servers>
  <zookeeper><node><host>127.0.0.1</host><port>{zk_port}</port></node>
    <session_timeout_ms>{ZOOKEEPER_SESSION_TIMEOUT_MS}</session_timeout_ms></zookeeper>
  <macros><shard>01</shard><replica>r{index}</replica></macros>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
"""


@dataclass
class ClickHouseCluster:
    """ZooKeeper and the replicas of one shard; `urls[i]` is replica i's HTTP interface."""

    name: str
    zookeeper: Server
    replicas: list[Server] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{r.port}" for r in self.replicas]

    def start(self) -> ClickHouseCluster:
        self.zookeeper.start()
        for replica in self.replicas:
            self.start_replica(replica)
        return self

    def start_replica(self, replica: Server) -> None:
        """Start (or restart) one replica and wait until it reads ZooKeeper."""
        replica.start()
        url = f"http://127.0.0.1:{replica.port}"
        if not _wait(lambda: _reads_zookeeper(url), START_TIMEOUT_SECONDS):
            raise StackError(f"{url} does not reach ZooKeeper; see {replica.log_path}")

    def stop(self) -> None:
        for replica in reversed(self.replicas):
            replica.stop()
        self.zookeeper.stop()


def _reads_zookeeper(url: str) -> bool:
    runner = HttpRunner(url, timeout_seconds=2)
    try:
        runner.run("SELECT count() FROM system.zookeeper WHERE path = '/'")
        return True
    except Exception:  # no session yet (or not answering): not ready
        return False
    finally:
        runner.close()


def _wait(ready: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(0.1)
    return False


def clickhouse_cluster(
    folder: Path,
    name: str = CLUSTER_NAME,
    replicas: int = REPLICAS,
    *,
    zookeeper_port: int | None = None,
    replica_ports: list[ReplicaPorts] | None = None,
) -> ClickHouseCluster:
    """ZooKeeper and `replicas` ClickHouse servers of one shard under `folder`; not started.
    Free ports unless given (`make cluster` keeps its data, so its replicas keep their
    addresses from one start to the next)."""
    zookeeper = zookeeper_server(folder / "zookeeper", zookeeper_port)
    ports = replica_ports or [ReplicaPorts.free() for _ in range(replicas)]
    servers = [
        clickhouse_server(
            folder / f"clickhouse-r{i}",
            p.http,
            tcp_port=p.tcp,
            extra_config=replica_config(name, i, p, ports, zookeeper.port),
        )
        for i, p in enumerate(ports, start=1)
    ]
    return ClickHouseCluster(name, zookeeper, servers)


@contextmanager
def running_cluster(folder: Path, **kwargs: object) -> Iterator[ClickHouseCluster]:
    """A started cluster, stopped (replicas, then ZooKeeper) on the way out."""
    cluster = clickhouse_cluster(folder, **kwargs)  # type: ignore[arg-type]
    try:
        yield cluster.start()
    finally:
        cluster.stop()
