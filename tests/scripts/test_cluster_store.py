"""`make cluster`'s store wiring (scripts/cluster.py), no servers: the ClickHouse ports it
checks with the variable that moves them, the settings every process gets, the balancer's
ClickHouse frontend, what a dead replica means, and the stop order of numbered processes."""

from __future__ import annotations

import subprocess
from typing import cast

from scripts.balancer import Backend, services_config
from scripts.chstack import ReplicaPorts
from scripts.cluster import (
    ClickHousePorts,
    ClusterSettings,
    clickhouse_env,
    dead_server_effect,
)
from scripts.natsstack import NodePorts
from scripts.run import stop_processes


def test_the_store_is_clickhouse_with_three_replicas_unless_told() -> None:
    own = ClusterSettings()
    assert (own.store, own.clickhouse_port, own.clickhouse_replicas) == ("clickhouse", 18123, 3)
    assert ClusterSettings(PLANTWATCH_CLUSTER_STORE="influxdb").store == "influxdb"


def test_clickhouse_ports_sit_above_the_balancers_and_are_all_checked() -> None:
    ports = ClickHousePorts.above(18123, 3)
    assert ports.zookeeper == 18124
    assert ports.replicas == [
        ReplicaPorts(18125, 18128, 18131),
        ReplicaPorts(18126, 18129, 18132),
        ReplicaPorts(18127, 18130, 18133),
    ]
    uses = ports.uses()
    assert sorted(u.port for u in uses) == list(range(18123, 18134))  # none twice
    assert uses[0].variable == "PLANTWATCH_RUN_CLICKHOUSE_PORT"
    nats = {p for i in range(3) for p in NodePorts.after(11883, i).all()}
    assert not nats & {u.port for u in uses}


def test_every_process_gets_one_url_the_cluster_and_the_quorum() -> None:
    assert clickhouse_env(18123) == {
        "PLANTWATCH_STORE": "clickhouse",
        "PLANTWATCH_CLICKHOUSE_URL": "http://127.0.0.1:18123",
        "PLANTWATCH_CLICKHOUSE_DB": "plantwatch",
        "PLANTWATCH_CLICKHOUSE_CLUSTER": "plantwatch",
        "PLANTWATCH_CLICKHOUSE_INSERT_QUORUM": "2",
    }


def test_the_balancer_fronts_the_replicas_checked_on_ping() -> None:
    replicas = [Backend(18125, 18125), Backend(18126, 18126)]
    config = services_config("127.0.0.1", 9212, [], clickhouse=(18123, replicas))
    front = config[config.index("frontend clickhouse") :]
    assert "bind 127.0.0.1:18123" in front
    assert "http-check send meth GET uri /ping" in front
    assert "server c1 127.0.0.1:18125 check port 18125" in front
    assert "server c2 127.0.0.1:18126 check port 18126" in front
    assert "frontend clickhouse" not in services_config("127.0.0.1", 9212, [])


def test_a_dead_replica_says_whether_writes_go_on() -> None:
    assert "writes meet their quorum" in dead_server_effect("ClickHouse replica r2", 2)
    assert "writes are refused (collectors spool" in dead_server_effect("ClickHouse replica r3", 1)


class Proc:
    """A stand-in for Popen that records the order of its stop."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log, self.running = name, log, True

    def poll(self) -> int | None:
        return None if self.running else 0

    def terminate(self) -> None:
        self.log.append(self.name)
        self.running = False

    def wait(self, timeout: float | None = None) -> int:
        return 0


def test_numbered_processes_stop_with_their_kind_in_run_pys_order() -> None:
    stopped: list[str] = []
    names = ["collector-1", "collector-2", "hj212-gateway-1", "api-2", "api-1", "simulator"]
    processes = {n: cast(subprocess.Popen[bytes], Proc(n, stopped)) for n in names}
    stop_processes(processes)
    assert stopped[0] == "simulator"
    assert set(stopped[1:4]) == {"hj212-gateway-1", "api-1", "api-2"}
    assert set(stopped[4:]) == {"collector-1", "collector-2"}
