"""A collector: MQTT (QoS 1, manual ack) -> validation -> batched InfluxDB writes.

A message is acknowledged only after everything it produced (its points, or its dead
letter) is durable in InfluxDB. Until then the broker keeps it, so a crash or an InfluxDB
outage loses nothing: unacknowledged messages are redelivered, and writing the same
point twice leaves one point.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingest.client import Inbound, MqttClient
from ingest.errors import StoreRejected, StoreUnavailable
from ingest.pipeline import Accepted, IngestRules, Refused, handle_message
from ingest.points import dead_letter_line
from ingest.settings import CollectorSettings
from ingest.store import InfluxStore
from ingest.topics import Topics

log = logging.getLogger(__name__)

RETRY_MIN_SECONDS = 0.2
RETRY_MAX_SECONDS = 10.0
QUEUE_POLL_SECONDS = 0.05


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Counters:
    received: int = 0
    points_written: int = 0
    refused: int = 0
    write_failures: int = 0
    batches: int = 0
    last_write_ts: float = 0.0

    def snapshot(self) -> dict[str, float]:
        return dict(vars(self))


@dataclass
class _Batch:
    messages: list[Inbound] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    per_message: list[list[str]] = field(default_factory=list)
    refusals: list[tuple[Inbound, Refused]] = field(default_factory=list)
    started: float = 0.0


class Collector:
    def __init__(
        self,
        settings: CollectorSettings,
        rules: IngestRules,
        store: InfluxStore,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.rules = rules
        self.store = store
        self.clock = clock
        self.topics = Topics(settings.topic_root)
        self.counters = Counters()
        self._inbox: queue.Queue[Inbound] = queue.Queue()
        self._stop = threading.Event()
        self._last_dead_letter_ms = 0
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        self.client = MqttClient(
            settings.collector_id,
            settings.mqtt_host,
            settings.mqtt_port,
            settings.mqtt_username,
            password,
            clean_session=False,
            manual_ack=True,
            on_message=self._inbox.put,
            subscriptions=[
                (f"$share/{settings.share_group}/{f}", 1) for f in self.topics.collector_filters()
            ],
        )

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Run until `stop()`; flushes what it holds before returning."""
        self._ensure_database()
        self.client.start(wait=False)
        log.info("collector started", extra={"collector": self.settings.collector_id})
        try:
            while not self._stop.is_set():
                batch = self._collect()
                if batch.messages:
                    self._commit(batch)
        finally:
            self.client.stop()
            log.info("collector stopped", extra=self.counters.snapshot())

    def _ensure_database(self) -> None:
        delay = RETRY_MIN_SECONDS
        while not self._stop.is_set():
            try:
                self.store.create_database()
                return
            except StoreUnavailable as exc:
                log.warning("influxdb unavailable at start", extra={"error": str(exc)})
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    def _collect(self) -> _Batch:
        batch = _Batch()
        deadline = None
        while not self._stop.is_set():
            timeout = (
                QUEUE_POLL_SECONDS if deadline is None else max(0.0, deadline - time.monotonic())
            )
            try:
                message = self._inbox.get(timeout=timeout)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                continue
            if deadline is None:
                deadline = time.monotonic() + self.settings.batch_max_seconds
            self._add(batch, message)
            if len(batch.lines) >= self.settings.batch_max_points:
                break
        return batch

    def _add(self, batch: _Batch, message: Inbound) -> None:
        self.counters.received += 1
        now = self.clock()
        outcome = handle_message(self.rules, message.topic, message.payload, now)
        if isinstance(outcome, Accepted):
            lines = outcome.lines
        else:
            lines = [self._dead_letter(message, outcome, now)]
            batch.refusals.append((message, outcome))
        batch.messages.append(message)
        batch.per_message.append(lines)
        batch.lines.extend(lines)

    def _dead_letter(self, message: Inbound, refused: Refused, now: datetime) -> str:
        # One collector never writes two dead letters at the same millisecond.
        now_ms = int(now.timestamp() * 1000)
        self._last_dead_letter_ms = max(now_ms, self._last_dead_letter_ms + 1)
        return dead_letter_line(
            message.topic,
            refused.plant,
            refused.code,
            refused.reason,
            message.payload,
            datetime.fromtimestamp(self._last_dead_letter_ms / 1000, UTC),
            self.counters.received,
        )

    def _commit(self, batch: _Batch) -> None:
        if not self._write_durably(batch):
            return  # stopping during an outage: nothing acked, the broker redelivers
        for message in batch.messages:
            self.client.ack(message)
        for message, refused in batch.refusals:
            self.counters.refused += 1
            log.info("message refused", extra={"topic": message.topic, "reason": refused.reason})
            if refused.plant:
                self.client.publish(
                    self.topics.rejected(refused.plant),
                    refused.to_json(message.topic, self.clock()),
                    qos=1,
                )
        self.counters.batches += 1
        self.counters.points_written += len(batch.lines)
        self.counters.last_write_ts = time.time()

    def _write_durably(self, batch: _Batch) -> bool:
        delay = RETRY_MIN_SECONDS
        while True:
            try:
                self.store.write_lines(batch.lines)
                return True
            except StoreRejected as exc:
                log.warning("batch rejected, isolating the bad message", extra={"error": str(exc)})
                self._write_one_by_one(batch)
                return True
            except StoreUnavailable as exc:
                self.counters.write_failures += 1
                log.warning(
                    "influxdb write failed, retrying",
                    extra={"error": str(exc), "retry_in_s": delay},
                )
                if self._stop.wait(delay * random.uniform(0.5, 1.5)):
                    return False
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    def _write_one_by_one(self, batch: _Batch) -> None:
        lines: list[str] = []
        for message, message_lines in zip(batch.messages, batch.per_message, strict=True):
            try:
                self.store.write_lines(message_lines)
                lines.extend(message_lines)
            except StoreRejected as exc:
                refused = Refused(
                    message.topic.split("/")[2] if message.topic.count("/") > 2 else "",
                    "store_rejected",
                    f"InfluxDB refused the points: {exc}",
                )
                dead = self._dead_letter(message, refused, self.clock())
                self.store.write_lines([dead])
                lines.append(dead)
                batch.refusals.append((message, refused))
        batch.lines = lines
