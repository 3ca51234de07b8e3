"""HTTP push: validate like a collector, then publish to the plant's MQTT readings topic.

The API does not write pushed readings to InfluxDB itself: it publishes the plant's exact
payload at QoS 1 with the service account and answers only after the broker's PUBACK, so
the collectors deliver it under the same exactly-once promise as MQTT readings.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime

from api.errors import InvalidInput, Unavailable
from api.settings import ApiSettings
from ingest.client import MqttClient
from ingest.pipeline import Accepted, IngestRules, Refused, handle_message
from ingest.topics import Topics

log = logging.getLogger(__name__)


class PushUnavailable(Unavailable):
    """The broker did not take the readings (down, or no PUBACK in time): retry later."""


class PushRefused(InvalidInput):
    """A pushed payload a collector would refuse; `code` is the collector's refusal code."""

    def __init__(self, refused: Refused) -> None:
        super().__init__(refused.reason)
        self.code = refused.code


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
        self.client = MqttClient(
            f"plantwatch-api-{uuid.uuid4().hex[:8]}",
            settings.mqtt_host,
            settings.mqtt_port,
            settings.mqtt_username,
            password,
            clean_session=True,
        )
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
        """Publish at QoS 1 and wait for the PUBACK, or raise `PushUnavailable`."""
        self.start()
        if not self.client.wait_connected(min(self.timeout_seconds, 2.0)):
            raise PushUnavailable(
                f"MQTT broker {self.client.host}:{self.client.port} is not connected"
            )
        try:
            info = self.client.publish(topic, payload, qos=1)
            info.wait_for_publish(self.timeout_seconds)
        except (RuntimeError, ValueError) as exc:
            raise PushUnavailable(f"MQTT publish failed: {exc}") from exc
        if not info.is_published():
            raise PushUnavailable(f"no PUBACK from the broker within {self.timeout_seconds:.0f}s")
