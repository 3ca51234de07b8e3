"""HTTP push: validate like a collector, then publish to the plant's MQTT readings topic.

The API does not write pushed readings to InfluxDB itself: it publishes the plant's exact
payload at QoS 1 with the service account and answers only after the broker's PUBACK, so
the collectors deliver it under the same exactly-once promise as MQTT readings.

No plant can break this path for the others (issue 23): a payload whose PUBLISH packet would
pass the broker's `max_packet_size` is refused with 413 before it is published (the broker
would drop the shared connection); the connection's queue is bounded (a full queue is 503 at
once, not memory without end); and a message that got no PUBACK in time is dropped from
paho's queue with its error, never resent on every reconnect.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime

from api.errors import InvalidInput, PayloadTooLarge, Unavailable
from api.settings import ApiSettings
from ingest.client import MqttClient, MqttQueueFull
from ingest.kernel.pipeline import Accepted, IngestRules, Refused, handle_message
from ingest.kernel.schema import publish_payload_limit
from ingest.kernel.topics import Topics

log = logging.getLogger(__name__)

# Pushes waiting for their PUBACK at once on the API's one connection; past it, 503 at once.
PUSH_MAX_QUEUED_MESSAGES = 1000
PUSH_MAX_INFLIGHT_MESSAGES = 200


class PushUnavailable(Unavailable):
    """The broker did not take the readings (down, or no PUBACK in time): retry later."""


class PushRefused(InvalidInput):
    """A pushed payload a collector would refuse; `code` is the collector's refusal code."""

    def __init__(self, refused: Refused) -> None:
        super().__init__(refused.reason)
        self.code = refused.code


def check_push_size(topic: str, payload: bytes, max_packet_bytes: int) -> None:
    """413 (`PayloadTooLarge`) for a payload the broker would refuse on `topic`, with the limit."""
    limit = publish_payload_limit(topic, max_packet_bytes)
    if len(payload) > limit:
        raise PayloadTooLarge(
            f"payload of {len(payload)} bytes exceeds the limit of {limit} bytes for {topic} "
            f"(the MQTT broker's max_packet_size is {max_packet_bytes} bytes); "
            "send the readings in smaller messages"
        )


def check_push(
    rules: IngestRules, plant: str, meter: str, payload: bytes, now: datetime
) -> tuple[str, Accepted | Refused]:
    """The topic the plant would have used, and what a collector would make of the payload."""
    topic = Topics(rules.topic_root).readings(plant, meter)
    return topic, handle_message(rules, topic, payload, now)


class ReadingPublisher:
    """The API's MQTT connection for pushed readings (service account, clean session)."""

    def __init__(self, settings: ApiSettings) -> None:
        password = settings.mqtt_password_text
        client_id = f"plantwatch-api-{uuid.uuid4().hex[:8]}"
        self.client = MqttClient(
            client_id,
            settings.mqtt_host,
            settings.mqtt_port,
            settings.mqtt_username,
            password,
            clean_session=True,
            max_inflight=PUSH_MAX_INFLIGHT_MESSAGES,
            max_queued=PUSH_MAX_QUEUED_MESSAGES,
            sync_topic=Topics(settings.topic_root).sync(client_id),
        )
        self.max_packet_bytes = settings.mqtt_max_packet_bytes
        self.timeout_seconds = settings.push_timeout_seconds
        self._lock = threading.Lock()
        self._started = False

    def start(self) -> None:
        """Connect in the background (on the first push); reads never wait for the broker."""
        with self._lock:
            if not self._started:
                self.client.start(wait=False)
                self._started = True

    def stop(self) -> None:
        with self._lock:
            if self._started:
                self.client.stop()
                self._started = False

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 and wait until the broker has stored it, or raise `PushUnavailable`."""
        self.start()
        if not self.client.wait_connected(min(self.timeout_seconds, 2.0)):
            raise PushUnavailable(
                f"MQTT broker {self.client.host}:{self.client.port} is not connected"
            )
        check_push_size(topic, payload, self.max_packet_bytes)
        try:
            info = self.client.publish(topic, payload, qos=1)
        except MqttQueueFull as exc:
            raise PushUnavailable(f"too many pushes wait for the broker ({exc}); retry") from exc
        except (RuntimeError, ValueError) as exc:
            raise PushUnavailable(f"MQTT publish failed: {exc}") from exc
        try:
            info.wait_for_publish(self.timeout_seconds)
        except (RuntimeError, ValueError) as exc:
            self._give_up(info.mid, topic, str(exc))
            raise PushUnavailable(f"MQTT publish failed: {exc}") from exc
        if not info.is_published():
            error = f"no PUBACK from the broker within {self.timeout_seconds:.0f}s"
            self._give_up(info.mid, topic, error)
            raise PushUnavailable(error)
        # A 202 means stored: wait until the broker has saved what it acknowledged.
        if not self.client.barrier(self.timeout_seconds):
            raise PushUnavailable(
                f"the broker did not confirm storing the readings within "
                f"{self.timeout_seconds:.0f}s; resending them is safe (same points)"
            )

    def _give_up(self, mid: int, topic: str, error: str) -> None:
        # The plant is told 503 and retries; the message must not stay behind in paho's
        # queue, resent on every reconnect (a message the broker cannot take would take the
        # connection down for every plant, forever).
        if self.client.drop_unacked(mid):
            log.warning("push dropped unacknowledged", extra={"topic": topic, "error": error})
