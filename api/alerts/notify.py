"""Notifications of every alert change, delivered from the event log (an outbox).

One dispatcher thread per channel reads the events after its cursor, delivers them in
order and moves its cursor (kept in SQL, so nothing is lost or replayed wholesale across
restarts). Only the lease holder dispatches. Delivery is at least once: a crash between
delivery and cursor update repeats that event; receivers dedupe on `event_id`.

Channels: MQTT `{root}/alerts/{plant}` (QoS 1), InfluxDB measurement `alert_event`
(Grafana annotations), and the webhook (HMAC-signed, retried with backoff).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

from api.alerts import webhook
from api.alerts.model import AlertError, to_ms
from api.alerts.repo import AlertRepo, EventRecord
from ingest.client import MqttClient
from ingest.kernel.errors import StoreRejected, StoreUnavailable
from ingest.kernel.store import Store, encode_point
from ingest.kernel.topics import Topics

log = logging.getLogger(__name__)

ALERT_EVENT_MEASUREMENT = "alert_event"
MQTT_PUBLISH_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.5


class DeliveryFailed(AlertError):
    """A channel could not deliver an event; `retry` says whether trying again may help."""

    def __init__(self, message: str, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class Channel(Protocol):
    name: str
    max_attempts: int | None  # None: retry until delivered

    def deliver(self, event: EventRecord) -> None: ...


# The alert in words for people, from `api.alerts.texts.render_all`: {"zh": {title, text}, ...}.
Describe = Callable[[Mapping[str, Any]], dict[str, Any]]


def event_body(event: EventRecord, describe: Describe | None = None) -> bytes:
    """The published JSON of an event; with `describe`, its `texts` in every language too."""
    body = event.message()
    if describe is not None:
        body["texts"] = describe(event.snapshot)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class MqttChannel:
    """Publish each event on `{root}/alerts/{plant}` at QoS 1 and wait for the broker's ack."""

    name = "mqtt"
    max_attempts: int | None = None

    def __init__(
        self, client: MqttClient, topics: Topics, describe: Describe | None = None
    ) -> None:
        self.client, self.topics, self.describe = client, topics, describe

    def deliver(self, event: EventRecord) -> None:
        if not self.client.connected:
            raise DeliveryFailed("MQTT broker not connected")
        info = self.client.publish(
            self.topics.alerts(event.snapshot["plant"]), event_body(event, self.describe), qos=1
        )
        try:
            info.wait_for_publish(MQTT_PUBLISH_TIMEOUT_SECONDS)
        except (RuntimeError, ValueError) as exc:
            raise DeliveryFailed(f"MQTT publish failed: {exc}") from exc
        if not info.is_published():
            raise DeliveryFailed("MQTT broker did not acknowledge the alert event in time")


class InfluxChannel:
    """Write each event as a point of `alert_event` (tags plant, kind, state)."""

    name = "influx"
    max_attempts: int | None = None

    def __init__(self, store: Store) -> None:
        self.store = store
        self._last_ms: dict[tuple[str, str, str], int] = {}

    def deliver(self, event: EventRecord) -> None:
        a = event.snapshot
        tags = {"plant": a["plant"], "kind": a["kind"], "state": a["status"]}
        # Same tags at the same millisecond would overwrite each other: bump by 1 ms.
        series = (a["plant"], a["kind"], a["status"])
        ts = max(to_ms(event.at), self._last_ms.get(series, -1) + 1)
        fields: dict[str, float | int | str | bool] = {
            "id": int(a["id"]),
            "event_id": event.id,
            "event": event.event,
            "actor": event.actor,
            "meter": a["meter"] or "",
            "pollutant": a["pollutant"] or "",
            "message": a["message"],
        }
        for name in ("value", "limit"):
            if a[name] is not None:
                fields[name] = float(a[name])
        try:
            self.store.write_lines([encode_point(ALERT_EVENT_MEASUREMENT, tags, fields, ts)])
        except StoreUnavailable as exc:
            raise DeliveryFailed(str(exc)) from exc
        except StoreRejected as exc:
            raise DeliveryFailed(str(exc), retry=False) from exc
        self._last_ms[series] = ts


class WebhookChannel:
    """POST each event as JSON to the webhook URL, signed (see `api.alerts.webhook`)."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str | None,
        timeout_seconds: float,
        max_attempts: int,
        clock: Callable[[], float] = time.time,
        describe: Describe | None = None,
    ) -> None:
        self.url, self.secret, self.describe = url, secret, describe
        # Tokens in the URL (query, user info) never reach a log or an error message.
        self.shown_url = webhook.redact_url(url)
        # httpx logs every request line (with the full URL) at INFO: rewrite ours.
        self._log_filter = webhook.RedactingFilter(url, self.shown_url)
        logging.getLogger("httpx").addFilter(self._log_filter)
        self.max_attempts: int | None = max_attempts
        self.clock = clock
        self._http = httpx.Client(timeout=timeout_seconds)

    def close(self) -> None:
        self._http.close()
        logging.getLogger("httpx").removeFilter(self._log_filter)

    def deliver(self, event: EventRecord) -> None:
        body = event_body(event, self.describe)
        ts = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            webhook.EVENT_ID_HEADER: str(event.id),
            webhook.TIMESTAMP_HEADER: str(ts),
        }
        if self.secret:
            headers[webhook.SIGNATURE_HEADER] = webhook.sign(self.secret, ts, body)
        try:
            resp = self._http.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            reason = str(exc).replace(self.url, self.shown_url)
            raise DeliveryFailed(f"webhook {self.shown_url} unreachable: {reason}") from exc
        if resp.is_success:
            return
        # 408 and 429 are the receiver asking us to come back; other 4xx will not get better.
        retry = resp.status_code >= 500 or resp.status_code in (408, 429)
        raise DeliveryFailed(f"webhook {self.shown_url} answered {resp.status_code}", retry=retry)


class Dispatcher:
    """Deliver the event log to one channel, in order, while `is_leader()`."""

    def __init__(
        self,
        repo: AlertRepo,
        channel: Channel,
        is_leader: Callable[[], bool],
        *,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.repo, self.channel, self.is_leader = repo, channel, is_leader
        self.backoff_seconds, self.max_backoff_seconds = backoff_seconds, max_backoff_seconds
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.given_up = 0

    def nudge(self) -> None:
        self._wake.set()

    def start(self) -> None:
        """Fix the channel's cursor now (before the engine can raise anything), then run."""
        self.repo.cursor(self.channel.name)
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"alert-notify-{self.channel.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def drain(self) -> int:
        """Deliver every event after the cursor; returns how many were handled."""
        handled = 0
        while not self._stop.is_set() and self.is_leader():
            cursor = self.repo.cursor(self.channel.name)
            events = self.repo.events_after(cursor)
            if not events:
                return handled
            for event in events:
                if not self._deliver(event):
                    return handled
                self.repo.set_cursor(self.channel.name, event.id)
                handled += 1
        return handled

    def _deliver(self, event: EventRecord) -> bool:
        """True once delivered or given up; False when stopped or no longer the leader."""
        delay = self.backoff_seconds
        attempts = 0
        while True:
            attempts += 1
            try:
                self.channel.deliver(event)
                self.delivered += 1
                return True
            except DeliveryFailed as exc:
                limit = self.channel.max_attempts
                if not exc.retry or (limit is not None and attempts >= limit):
                    log.error(
                        "alert event not delivered; giving up",
                        extra={
                            "channel": self.channel.name,
                            "event_id": event.id,
                            "attempts": attempts,
                            "error": str(exc),
                        },
                    )
                    self.given_up += 1
                    return True
                log.warning(
                    "alert event delivery failed; retrying",
                    extra={
                        "channel": self.channel.name,
                        "event_id": event.id,
                        "attempts": attempts,
                        "retry_in_s": delay,
                        "error": str(exc),
                    },
                )
            if self._stop.wait(delay) or not self.is_leader():
                return False
            delay = min(delay * 2, self.max_backoff_seconds)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.drain()
            except Exception:
                log.exception("alert dispatcher failed", extra={"channel": self.channel.name})
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
