"""One MQTT connection per plant, with its own credentials and Last Will; bounded in-flight.

Each plant connects as itself (username = plant id when credentials are known), leaves a
retained `offline` Will on its status topic and publishes a retained `online` on connect.
paho fails once 65 535 QoS 1 messages are outstanding on a client, so publishing waits for
the oldest message's PUBACK whenever `max_inflight` messages are unacknowledged in total.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

import paho.mqtt.client as paho

from ingest.client import MqttClient, MqttError
from ingest.kernel.topics import Topics

log = logging.getLogger(__name__)

Credentials = Callable[[str], tuple[str, str] | None]
CONNECT_TIMEOUT_SECONDS = 30.0
ACK_WAIT_SECONDS = 0.5
OFFLINE_WAIT_SECONDS = 2.0  # a clean stop's `offline` statuses, all of them together
PER_CLIENT_INFLIGHT = 200


class CountyPublisher:
    """Publishes each plant's messages on that plant's own connection."""

    def __init__(
        self,
        host: str,
        port: int,
        plants: Sequence[str],
        topics: Topics,
        credentials: Credentials | None = None,
        client_prefix: str = "sim",
        max_inflight: int = 2000,
    ) -> None:
        self.topics = topics
        self.max_inflight = max_inflight
        self.published = 0
        self._pending: deque[paho.MQTTMessageInfo] = deque()
        self._generation: dict[str, int] = {}
        self.clients: dict[str, MqttClient] = {}
        for plant in plants:
            auth = credentials(plant) if credentials else None
            self.clients[plant] = MqttClient(
                # A plant's broker account may connect only as the plant id (ingest/dynsec.py).
                plant if auth else f"{client_prefix}-{plant}",
                host,
                port,
                auth[0] if auth else None,
                auth[1] if auth else None,
                will=(topics.status(plant), b"offline", 1, True),
                max_inflight=PER_CLIENT_INFLIGHT,
            )

    def start(self) -> None:
        """Connect every plant; each announces itself `online` (retained)."""
        for client in self.clients.values():
            client.start(wait=False)
        deadline = time.monotonic() + CONNECT_TIMEOUT_SECONDS
        for plant, client in self.clients.items():
            if not client.wait_connected(max(0.1, deadline - time.monotonic())):
                raise MqttError(
                    f"plant {plant} could not connect to {client.host}:{client.port} "
                    f"within {CONNECT_TIMEOUT_SECONDS:.0f}s (wrong credentials or broker down?)"
                )
        self.announce()

    def announce(self) -> None:
        """Publish retained `online` for every plant that (re)connected since the last call."""
        for plant, client in self.clients.items():
            if client.connected and self._generation.get(plant) != client.generation:
                self._generation[plant] = client.generation
                client.publish(self.topics.status(plant), b"online", qos=1, retain=True)

    def publish(self, plant: str, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 on the plant's connection; blocks while too many are unacknowledged."""
        self._pending.append(self.clients[plant].publish(topic, payload, qos=1))
        self.published += 1
        while len(self._pending) > self.max_inflight:
            self._wait_oldest()

    def flush(self, timeout_s: float = 60.0) -> bool:
        """Wait until every message is acknowledged (True) or the timeout passes (False)."""
        deadline = time.monotonic() + timeout_s
        while self._pending and time.monotonic() < deadline:
            self._wait_oldest()
        return not self._pending

    def _wait_oldest(self) -> None:
        info = self._pending[0]
        if not info.is_published():
            # A message queued while disconnected reports NO_CONN yet is sent on reconnect,
            # so wait on the flag rather than `wait_for_publish`, which would raise.
            with info._condition:  # paho's own condition, notified on PUBACK
                if not info.is_published():
                    info._condition.wait(ACK_WAIT_SECONDS)
            self.announce()
            if not info.is_published():
                return
        self._pending.popleft()

    def stop(self, announce_offline: bool = True, flush_seconds: float = 10.0) -> None:
        """Disconnect every plant; a clean stop leaves `offline` itself (the Will is not sent)."""
        self.flush(flush_seconds)
        offline = [
            client.publish(self.topics.status(plant), b"offline", qos=1, retain=True)
            for plant, client in self.clients.items()
            if announce_offline and client.connected
        ]
        deadline = time.monotonic() + OFFLINE_WAIT_SECONDS  # for all of them, not each
        for info in offline:
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        for client in self.clients.values():
            client.stop()
