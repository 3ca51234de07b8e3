"""A collector: MQTT (QoS 1, manual ack) -> validation -> batched, durable store writes.

A message is acknowledged only after everything it produced (its points, register events,
or its dead letter) is durable: written to the store (InfluxDB, or ClickHouse as rows,
through the record keeper), or appended and fsynced to the local spool (`ingest/spool.py`)
that the replayer (`ingest/replay.py`) drains in order once the store is back. Until then
the broker keeps the message, so a crash loses nothing: unacknowledged messages are
redelivered, and writing the same point twice leaves one point.

While the spool holds anything, new batches are spooled too, so the store receives the
readings in the order they arrived.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingest.broker_queue import SYS_FILTERS, QueueState, queue_alarm
from ingest.client import Inbound, MqttClient
from ingest.keeper import RecordKeeper
from ingest.kernel.engines import StoreEngine
from ingest.kernel.errors import StoreError, StoreRejected, StoreUnavailable, UnknownSource
from ingest.kernel.lineproto import Point, encode
from ingest.kernel.pipeline import Accepted, IngestRules, Refused, handle_message
from ingest.kernel.topics import Topics, parse_topic
from ingest.metrics import Counters, MetricsServer, exposition, stats_point
from ingest.partition import stale_filters, subscription_filters
from ingest.replay import Replayer, backoff_seconds
from ingest.settings import CollectorSettings
from ingest.spool import Spool, SpoolFull

log = logging.getLogger(__name__)

DIRECT_WRITE_ATTEMPTS = 2  # then spool: acknowledging quickly keeps the broker's queue short
QUEUE_POLL_SECONDS = 0.05
SHUTDOWN_JOIN_SECONDS = 10.0
# Collectors run next to the broker: come back fast so flow resumes quickly after a restart.
RECONNECT_MIN_SECONDS = 0.2

MeterKey = tuple[str, str]
# The cyclic garbage collector's first-generation threshold in a collector process: a reading
# makes and drops a dozen small objects, which at Python's 700 ran a collection every ~60
# readings, each walking a heap of long-lived modules, registry and record index.
GC_FIRST_THRESHOLD = 50_000


def utcnow() -> datetime:
    return datetime.now(UTC)


def settle_heap() -> None:
    """Tune the garbage collector for a collector process, once it is set up.

    What exists now (modules, settings, the registry) lives as long as the process: frozen,
    the collector never walks it again. Collections still run, 70x less often; the
    collector's objects are freed by reference counting, not by the cyclic collector.
    """
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(GC_FIRST_THRESHOLD, second, third)


@dataclass
class _Batch:
    messages: list[Inbound] = field(default_factory=list)
    outcomes: list[Accepted | Refused] = field(default_factory=list)
    per_message: list[list[Point]] = field(default_factory=list)
    refusals: list[tuple[Inbound, Refused]] = field(default_factory=list)
    started: float = 0.0  # wall clock of the first message, for the lag gauge
    points: int = 0

    @property
    def to_write(self) -> list[Point]:
        return [point for points in self.per_message for point in points]


class _Inbox:
    """Messages handed from paho's thread to the collector's, without a lock per message.

    `deque` appends and pops are atomic; the event wakes the collector only when it may be
    waiting (a `queue.Queue` took a lock and notified a condition for every message).
    """

    def __init__(self) -> None:
        self._messages: deque[Inbound] = deque()
        self._arrived = threading.Event()

    def put(self, message: Inbound) -> None:
        self._messages.append(message)
        if not self._arrived.is_set():
            self._arrived.set()

    def get_nowait(self) -> Inbound | None:
        try:
            return self._messages.popleft()
        except IndexError:
            return None

    def get(self, timeout: float) -> Inbound | None:
        """The next message, waiting up to `timeout` seconds for one; None if none came."""
        message = self.get_nowait()
        if message is not None:
            return message
        self._arrived.clear()
        # One put after the first look and before the clear left the event set: look again.
        message = self.get_nowait()
        if message is not None:
            return message
        self._arrived.wait(timeout)
        return self.get_nowait()


class Collector:
    def __init__(
        self,
        settings: CollectorSettings,
        rules: IngestRules,
        store: StoreEngine,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.rules = rules
        self.store = store
        self.clock = clock
        self.counters = Counters()
        # First write is the record (SPEC 14); the recent index is sound only while this
        # collector is the one writer of its plants, which a `$share` group is not.
        self.keeper = RecordKeeper(
            store,
            self.counters,
            check=settings.first_write_check,
            trust_index=not settings.share_group,
            points_per_series=settings.record_index_points,
        )
        self.topics = Topics(settings.topic_root)
        self.spool = Spool(settings.spool_dir / settings.collector_id, settings.spool_max_bytes)
        self._inbox = _Inbox()
        self.broker_queue = QueueState()
        self._stop = threading.Event()
        self._pending_since: float | None = None
        self._last_dead_letter_ms = 0
        self._dead_letter_lock = threading.Lock()
        self.metrics_server: MetricsServer | None = None
        password = settings.mqtt_password_text
        plant_ids = [p.id for p in rules.registry.plants]
        plan = (self.topics, plant_ids, settings.partition, settings.share_group)
        self.client = MqttClient(
            settings.session_client_id,
            settings.mqtt_host,
            settings.mqtt_port,
            settings.mqtt_username,
            password,
            clean_session=False,
            manual_ack=True,
            on_message=self._route,
            subscriptions=[(f, 1) for f in subscription_filters(*plan)]
            + [(f, 0) for f in SYS_FILTERS],
            unsubscriptions=stale_filters(*plan),
            reconnect_min_seconds=RECONNECT_MIN_SECONDS,
            tls_ca=settings.mqtt_tls_ca,
        )

    def stop(self) -> None:
        self._stop.set()

    def _route(self, message: Inbound) -> None:
        # paho's thread: `$SYS` store figures feed the queue alarm, the rest is readings.
        if not message.topic.startswith("$SYS/"):
            self._inbox.put(message)
            return
        before = queue_alarm(self.broker_queue)
        self.broker_queue = self.broker_queue.heard(message.topic, message.payload)
        alarm = queue_alarm(self.broker_queue)
        if alarm is not None and before is None:
            log.error(
                "BROKER QUEUE ALARM: %s", alarm, extra={"collector": self.settings.collector_id}
            )
        elif alarm is None and before is not None:
            log.warning("broker queue back under its alarm level")

    def run(self) -> None:
        """Run until `stop()`; flushes what it holds (to InfluxDB or the spool) before returning."""
        self._try_create_database()
        replayer = Replayer(
            self.spool,
            self.store,
            self.counters,
            self._stop,
            self._replay_dead_letter,
            write=self.keeper.write_lines,
        ).start()
        stats = threading.Thread(target=self._stats_loop, name="stats", daemon=True)
        stats.start()
        if self.settings.metrics_port is not None:
            self.metrics_server = MetricsServer(
                self.settings.metrics_host, self.settings.metrics_port, self.render_metrics
            ).start()
        self.client.start(wait=False)
        log.info(
            "collector started",
            extra={"collector": self.settings.collector_id, "spool_bytes": self.spool.size_bytes},
        )
        try:
            while not self._stop.is_set():
                batch = self._collect()
                if batch.messages:
                    self._commit(batch)
        finally:
            self.client.stop()
            replayer.join(SHUTDOWN_JOIN_SECONDS)
            stats.join(SHUTDOWN_JOIN_SECONDS)
            if self.metrics_server is not None:
                self.metrics_server.stop()
            self.spool.close()
            log.info("collector stopped", extra=self.metrics())

    def metrics(self) -> dict[str, float]:
        """Counters plus the spool (bytes, full) and lag gauges."""
        values = self.counters.snapshot()
        values["spool_bytes"] = self.spool.size_bytes
        values["spool_full"] = 1 if self.spool.refusing else 0
        broker = self.broker_queue
        values["broker_queued_messages"] = broker.messages if broker.messages is not None else -1
        values["broker_queued_bytes"] = broker.size_bytes if broker.size_bytes is not None else -1
        values["broker_queue_alarm"] = 0 if queue_alarm(broker) is None else 1
        values["lag_seconds"] = self._lag_seconds()
        values["subscribed"] = 1.0 if self.client.wait_subscribed(0) else 0.0
        return values

    def render_metrics(self) -> str:
        return exposition(self.metrics(), self.settings.collector_id)

    def _lag_seconds(self) -> float:
        now = time.time()
        oldest = [t for t in (self._pending_since,) if t is not None]
        spooled_ms = self.spool.oldest_appended_ms()
        if spooled_ms is not None:
            oldest.append(spooled_ms / 1000)
        return round(max(0.0, now - min(oldest)), 3) if oldest else 0.0

    def _stats_loop(self) -> None:
        while not self._stop.wait(self.settings.stats_interval_seconds):
            point = stats_point(self.metrics(), self.settings.collector_id, int(time.time() * 1000))
            try:
                self.keeper.write([point])
            except StoreError as exc:
                # Stats are a view of now; one missed while InfluxDB is away is not a loss.
                log.info("ingest_stats not written", extra={"error": str(exc)})

    def _try_create_database(self) -> None:
        try:
            self.store.create_database()
        except StoreError as exc:
            log.warning("influxdb unavailable at start; spooling", extra={"error": str(exc)})

    def _collect(self) -> _Batch:
        batch = _Batch()
        deadline = None
        while not self._stop.is_set():
            message = self._inbox.get_nowait()
            if message is None:
                timeout = (
                    QUEUE_POLL_SECONDS
                    if deadline is None
                    else max(0.0, deadline - time.monotonic())
                )
                message = self._inbox.get(timeout)
            if message is None:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                continue
            if deadline is None:
                deadline = time.monotonic() + self.settings.batch_max_seconds
                batch.started = time.time()
                self._pending_since = batch.started
            self._add(batch, message)
            if (
                len(batch.messages) >= self.settings.batch_max_messages
                or batch.points >= self.settings.batch_max_points
            ):
                break
        # Stopping: the batch in hand is made durable and acknowledged; what still waits in the
        # inbox is not (up to the broker's 2,000 in flight, seconds of work during a backfill),
        # so the broker, holding it unacknowledged in our persistent session, sends it again.
        return batch

    def _add(self, batch: _Batch, message: Inbound) -> None:
        self.counters.add(received=1)
        now = self.clock()
        outcome = handle_message(self.rules, message.topic, message.payload, now)
        if isinstance(outcome, Accepted):
            points = list(outcome.points)
            partial = outcome.partial_refusal()
            if partial is not None:  # the kept part is stored; the plant learns what was not
                points.append(self._dead_letter(message.topic, partial, message.payload, now))
                batch.refusals.append((message, partial))
        else:
            points = [self._dead_letter(message.topic, outcome, message.payload, now)]
            batch.refusals.append((message, outcome))
        batch.messages.append(message)
        batch.outcomes.append(outcome)
        batch.per_message.append(points)
        batch.points += len(points)

    def _dead_letter(self, topic: str, refused: Refused, payload: bytes, now: datetime) -> Point:
        # One collector never writes two dead letters at the same millisecond.
        with self._dead_letter_lock:
            now_ms = int(now.timestamp() * 1000)
            self._last_dead_letter_ms = max(now_ms, self._last_dead_letter_ms + 1)
            stamp = self._last_dead_letter_ms
        return refused.dead_letter_point(
            topic, payload, datetime.fromtimestamp(stamp / 1000, UTC), self.counters.received
        )

    def _replay_dead_letter(self, plant: str, reason: str, line: str) -> str:
        refused = Refused(plant, "store_rejected", f"InfluxDB refused the point: {reason}")
        return encode(self._dead_letter("", refused, line.encode(), self.clock()))

    def _commit(self, batch: _Batch) -> None:
        if not self._make_durable(batch):
            return  # stopping with a full spool: nothing acked, the broker redelivers
        self.client.ack_many(batch.messages)
        self._pending_since = None
        for message, refused in batch.refusals:
            if refused.partial:
                self.counters.add(partially_refused=1)
            else:
                self.counters.add(refused=1)
            log.info("message refused", extra={"topic": message.topic, "reason": refused.reason})
            if refused.plant and self.rules.registry.plant(refused.plant) is not None:
                self.client.publish(
                    self.topics.rejected(refused.plant),
                    refused.to_json(message.topic, self.clock()),
                    qos=1,
                )

    def _make_durable(self, batch: _Batch) -> bool:
        """Write to InfluxDB, else append to the spool; False only if stopping with a full spool."""
        attempt = 0
        while True:
            if self.spool.is_empty() and attempt < DIRECT_WRITE_ATTEMPTS:
                try:
                    self._write_isolating(batch)
                    self.counters.add(points_written=len(batch.to_write))
                    return True
                except StoreUnavailable as exc:
                    self.counters.add(write_failures=1)
                    log.warning("influxdb write failed", extra={"error": str(exc)})
                    attempt += 1
                    if attempt < DIRECT_WRITE_ATTEMPTS and not self._stop.is_set():
                        self._stop.wait(backoff_seconds(attempt))
                    continue
            lines = [encode(p) for p in batch.to_write]  # the spool keeps line protocol
            try:
                self.spool.append(lines)
                self.counters.add(spooled=len(lines))
                return True
            except SpoolFull as exc:
                log.error(
                    "cannot spool; holding the batch unacknowledged", extra={"error": str(exc)}
                )
                if self._stop.is_set():
                    return False
                self._stop.wait(backoff_seconds(3))
                attempt = 0  # InfluxDB may be back: try it directly again

    def _write_isolating(self, batch: _Batch) -> None:
        """Write the batch; if InfluxDB refuses it, find the message at fault and dead-letter it."""
        try:
            self.keeper.write(batch.to_write)
            return
        except StoreRejected as exc:
            log.warning("batch rejected, isolating the bad message", extra={"error": str(exc)})
        per_message: list[list[Point]] = []
        refusals = list(batch.refusals)
        for message, points in zip(batch.messages, batch.per_message, strict=True):
            try:
                self.keeper.write(points)
                per_message.append(points)
            except StoreRejected as exc:
                plant = _plant_of(message.topic, self.settings.topic_root)
                refused = Refused(plant, "store_rejected", f"InfluxDB refused the points: {exc}")
                dead = self._dead_letter(message.topic, refused, message.payload, self.clock())
                self.keeper.write([dead])
                per_message.append([dead])
                refusals.append((message, refused))
        # Only now, with every message durable, does the batch take its new shape.
        batch.per_message = per_message
        batch.refusals = refusals


def _plant_of(topic: str, root: str) -> str:
    try:
        return parse_topic(topic, root).plant
    except UnknownSource:
        return ""
