"""The shipped broker's acknowledgement means stored: an acknowledged message survives a broker
SIGKILL (SPEC section 5: a reading the broker accepted at QoS 1 is delivered, a crash included).

The acknowledgement the services give (HTTP 202, HJ 212 9014) waits for the PUBACK of the
message and of a barrier after it (`MqttClient.barrier`, `publish_acked` with a sync topic).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.client import MqttClient
from scripts.devstack import Server, mosquitto_server
from tests.ingest.support import TOPIC, AwaySession

pytestmark = pytest.mark.integration

PAYLOAD = b'{"ts": 1772323200000, "values": {"volume_m3": 1.5}}'


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Server]:
    server = mosquitto_server(tmp_path / "mosquitto").start()
    yield server
    server.kill()


def test_a_barrier_acknowledged_publish_survives_a_broker_sigkill(broker: Server) -> None:
    """What HTTP push waits for before its 202: the PUBACK, then a barrier's PUBACK.

    Failed before the fix: with `autosave_interval 5` (and without the barrier: the PUBACK
    comes before the save) a message acknowledged just before the crash was gone."""
    session = AwaySession(broker)
    session.subscribe_and_leave()
    plant = MqttClient(
        f"svc-{uuid.uuid4().hex[:6]}", "127.0.0.1", broker.port, sync_topic="plantwatch/sync/t"
    )
    plant.start()
    info = plant.publish(TOPIC, PAYLOAD)
    info.wait_for_publish(10)
    assert info.is_published() and plant.barrier(10)
    broker.kill()  # SIGKILL right after the acknowledgement: no clean shutdown save
    plant.stop()
    broker.start()
    assert session.come_back() == PAYLOAD


def test_publish_acked_with_a_sync_topic_survives_a_broker_sigkill(broker: Server) -> None:
    """What the HJ 212 gateway waits for before its 9014 (publish_acked's callback)."""
    session = AwaySession(broker)
    session.subscribe_and_leave()
    gateway = MqttClient(
        f"gw-{uuid.uuid4().hex[:6]}", "127.0.0.1", broker.port, sync_topic="plantwatch/sync/g"
    )
    gateway.start()
    acked = threading.Event()
    assert gateway.publish_acked(TOPIC, PAYLOAD, acked.set) is not None
    assert acked.wait(10)
    broker.kill()
    gateway.stop()
    broker.start()
    assert session.come_back() == PAYLOAD
