"""The cluster's configuration files (pure: nothing started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.natsstack import NODES, NodePorts, haproxy_config, max_ack_pending_for, node_config

PORTS = [NodePorts.after(11883, i) for i in range(NODES)]


def test_node_ports_sit_above_the_balancer_and_never_collide() -> None:
    assert PORTS[0] == NodePorts(client=11887, route=11890, monitor=11893, mqtt=11884)
    every = [p for node in PORTS for p in node.all()]
    assert len(set(every)) == len(every) == 4 * NODES
    assert min(every) == 11884 and max(every) == 11895


def test_a_node_acknowledges_only_what_is_on_disk_on_every_node(tmp_path: Path) -> None:
    config = node_config("n1", tmp_path, PORTS[0], [p.route for p in PORTS], None)
    assert config["jetstream"]["sync_interval"] == "always"
    assert config["mqtt"]["stream_replicas"] == 3
    assert config["mqtt"]["max_ack_pending"] == 2000
    # Routes to the two other nodes, never to itself; everything on loopback.
    assert config["cluster"]["routes"] == ["nats-route://127.0.0.1:11891",
                                           "nats-route://127.0.0.1:11892"]  # fmt: skip
    assert config["mqtt"]["listen"] == "127.0.0.1:11884"
    assert "authorization" not in config


def test_the_default_sync_interval_is_there_for_the_benchmark_only(tmp_path: Path) -> None:
    config = node_config("n1", tmp_path, PORTS[0], [], {"users": []}, sync_always=False)
    assert "sync_interval" not in config["jetstream"]
    assert config["authorization"] == {"users": []}


def test_the_balancer_checks_each_nodes_health() -> None:
    text = haproxy_config(11883, PORTS)
    assert "bind 127.0.0.1:11883" in text
    assert "mode tcp" in text
    for i, node in enumerate(PORTS, 1):
        assert f"server n{i} 127.0.0.1:{node.mqtt} check port {node.monitor}" in text
    assert "/healthz?js-enabled-only=true" in text


@pytest.mark.parametrize(
    ("subscriptions", "window"),
    [(2, 2000), (32, 2000), (33, 1985), (90, 728), (131, 500), (655, 100)],
)
def test_the_window_fits_a_sessions_subscriptions_in_its_packet_ids(
    subscriptions: int, window: int
) -> None:
    """A NATS session shares 65535 packet ids among its subscriptions (tried: 32 at 2000)."""
    assert max_ack_pending_for(subscriptions) == window
    assert subscriptions * max_ack_pending_for(subscriptions) <= 65535
