"""An outbox channel (`api.alerts.notify.Channel`) posting alert events to one group robot.

Delivery is retried by the outbox's dispatcher (backoff, `max_attempts`) and logged: sent,
skipped by the channel's filter or quiet hours, failed with the robot's errcode.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from api.alerts.model import county_alert_plant
from api.alerts.notify import DeliveryFailed
from api.alerts.repo import EventRecord
from api.alerts.texts import render as render_alert
from api.robots.filters import EventFilter, QuietHours, decide
from api.robots.formats import (
    DINGTALK,
    dingtalk_url,
    payload,
    read_answer,
    redact,
    redact_logger,
    wecom_url,
)
from api.robots.message import render
from api.settings import ApiSettings
from ingest.kernel.registry import Registry

log = logging.getLogger(__name__)


class RobotChannel:
    """DingTalk (signed when a secret is set) or WeCom group robot."""

    def __init__(
        self,
        name: str,
        kind: str,
        webhook: str,
        secret: str | None,
        event_filter: EventFilter,
        names: Mapping[str, str],
        county: str,
        tz: ZoneInfo,
        public_url: str,
        timeout_seconds: float,
        max_attempts: int,
        clock: Callable[[], float] = time.time,
        sentence: Callable[[Mapping[str, Any]], str] | None = None,
    ) -> None:
        self.name = name
        self.kind, self.webhook, self.secret = kind, webhook, secret
        self.filter, self.names, self.county, self.tz = event_filter, names, county, tz
        self.public_url = public_url
        self.max_attempts: int | None = max_attempts
        self.clock = clock
        self.sentence = sentence  # the alert in Chinese (api.alerts.texts), from its fields
        self.sent = 0
        self.skipped = 0
        self._http = httpx.Client(timeout=timeout_seconds)
        # httpx logs every request's URL at INFO: never with the robot's token in it.
        for logger in ("httpx", "httpcore"):
            redact_logger(logger)

    def close(self) -> None:
        self._http.close()

    def url(self) -> str:
        if self.kind == DINGTALK:
            return dingtalk_url(self.webhook, self.secret, int(self.clock() * 1000))
        return wecom_url(self.webhook, self.secret)

    def deliver(self, event: EventRecord) -> None:
        message = event.message()
        local_now = datetime.fromtimestamp(self.clock(), UTC).astimezone(self.tz)
        skip = decide(self.filter, event.event, message["alert"], local_now)
        if skip is not None:
            self.skipped += 1
            log.info(
                "robot skipped alert event",
                extra={"channel": self.name, "event_id": event.id, "why": skip},
            )
            return
        sentence = self.sentence(message["alert"]) if self.sentence is not None else None
        title, text = render(
            message, self.names, self.county, self.tz, self.public_url, sentence=sentence
        )
        try:
            resp = self._http.post(self.url(), json=payload(self.kind, title, text))
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{self.kind} robot unreachable: {redact(str(exc))}") from exc
        try:
            body = resp.json()
        except ValueError:
            body = None
        ok, retry, reason = read_answer(resp.status_code, body)
        if not ok:
            raise DeliveryFailed(f"{self.kind} robot {self.name}: {redact(reason)}", retry=retry)
        self.sent += 1
        log.info("robot delivered alert event", extra={"channel": self.name, "event_id": event.id})


def robot_channels(settings: ApiSettings, registry: Registry) -> list[RobotChannel]:
    """One channel per configured robot (`PLANTWATCH_ROBOTS`)."""
    names = {p.id: p.name for p in registry.plants} | {
        county_alert_plant(c.id): c.name for c in registry.counties
    }
    tz = ZoneInfo(settings.timezone)
    out = []
    for r in settings.robots:
        event_filter = EventFilter(
            frozenset(r.kinds),
            frozenset(r.plants),
            r.min_severity,
            frozenset(r.events),
            QuietHours.parse(r.quiet_hours) if r.quiet_hours else None,
            r.quiet_min_severity,
        )
        out.append(
            RobotChannel(
                f"robot-{r.name}",
                r.kind,
                r.webhook,
                r.secret.get_secret_value() if r.secret else None,
                event_filter,
                names,
                registry.county_name,
                tz,
                settings.public_url,
                settings.webhook_timeout_seconds,
                settings.webhook_max_attempts,
                sentence=lambda alert: render_alert(alert, "zh", registry, tz).text,
            )
        )
    return out
