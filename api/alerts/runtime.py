"""Wiring of the alert engine from settings; started and stopped by the app's lifespan."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from api.alerts.engine import AlertEngine, Clock, Evaluator, utc_now
from api.alerts.lifecycle import Policy
from api.alerts.model import VOC_HOURLY_EXCEEDANCE, VOC_LATE_EXCEEDANCE
from api.alerts.notify import Channel, Dispatcher, InfluxChannel, MqttChannel, WebhookChannel
from api.alerts.projection import HistoryProjection, ProjectionProvider
from api.alerts.repo import AlertRepo
from api.alerts.texts import render_all
from api.fuel.service import FuelCore
from api.marks.repo import MarkRepo
from api.power.service import PowerCore
from api.readmodel.cache import RollupCache
from api.records.repo import RecordRepo
from api.robots.channel import RobotChannel, robot_channels
from api.settings import ApiSettings
from api.tasks.repo import TaskRepo
from api.tasks.rules import overdue_conditions
from ingest.client import MqttClient
from ingest.kernel.engines import StoreEngine, open_store
from ingest.kernel.registry import Registry
from ingest.kernel.topics import Topics

log = logging.getLogger(__name__)


def policy_of(settings: ApiSettings) -> Policy:
    return Policy(
        raise_after=settings.alert_raise_after_evaluations,
        hold_off=timedelta(seconds=settings.alert_hold_off_seconds),
        reopen_window=timedelta(seconds=settings.alert_reopen_window_seconds),
    )


def new_holder() -> str:
    """A lease holder id unique to this process and run."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class AlertRuntime:
    engine: AlertEngine
    dispatchers: list[Dispatcher]
    store: StoreEngine
    mqtt: MqttClient | None = None
    closers: list[WebhookChannel | RobotChannel] = field(default_factory=list)

    def start(self) -> None:
        if self.mqtt is not None:
            # Never block the API's start on the broker: paho keeps reconnecting.
            self.mqtt.start(wait=False)
        for d in self.dispatchers:
            d.start()
        self.engine.start()

    def stop(self) -> None:
        self.engine.stop()
        for d in self.dispatchers:
            d.stop()
        if self.mqtt is not None:
            self.mqtt.stop()
        for c in self.closers:
            c.close()
        self.store.close()


EXCEEDANCE_KINDS = (VOC_HOURLY_EXCEEDANCE, VOC_LATE_EXCEEDANCE)


def build_runtime(
    settings: ApiSettings,
    registry: Registry,
    db: Engine,
    projection: ProjectionProvider | None = None,
    clock: Clock = utc_now,
) -> AlertRuntime:
    """The engine, its own InfluxDB client and MQTT connection, and one dispatcher per channel."""
    store = open_store(settings)
    repo = AlertRepo(db)
    holder = new_holder()
    # With the officers' records, read at each evaluation (a removal or a manual meter counts).
    # Its own cache of rolled-up answers (api/readmodel/cache.py), as before the read model.
    fuel = FuelCore.from_settings(settings, store, registry, RecordRepo(db).facts, RollupCache())
    evaluator = Evaluator(
        store,
        registry,
        settings.alert_rules,
        fuel,
        projection or HistoryProjection(fuel, registry),
        settings.timezone,
        PowerCore.from_settings(settings, store),
        cover=lambda since: repo.seen_since(EXCEEDANCE_KINDS, since),
        marks=MarkRepo(db).spans,
        overdue=lambda now: overdue_conditions(TaskRepo(db).escalate_overdue(now), now),
    )
    engine = AlertEngine(
        repo,
        evaluator,
        policy_of(settings),
        holder=holder,
        interval_seconds=settings.alert_interval_seconds,
        kpi_interval_seconds=settings.alert_kpi_interval_seconds,
        lease_seconds=settings.alert_lease_seconds,
        clock=clock,
    )
    mqtt = MqttClient(
        f"plantwatch-alerts-{holder}"[:64],
        settings.mqtt_host,
        settings.mqtt_port,
        settings.mqtt_username,
        settings.mqtt_password_text,
    )

    def describe(alert: Mapping[str, Any]) -> dict[str, Any]:
        return render_all(alert, registry, settings.timezone)

    channels: list[Channel] = [
        MqttChannel(mqtt, Topics(settings.topic_root), describe),
        InfluxChannel(store),
    ]
    closers: list[WebhookChannel | RobotChannel] = []
    if settings.webhook_url:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        if secret is None:
            log.warning("PLANTWATCH_WEBHOOK_SECRET is not set: webhook deliveries are unsigned")
        hook = WebhookChannel(
            settings.webhook_url,
            secret,
            settings.webhook_timeout_seconds,
            settings.webhook_max_attempts,
            describe=describe,
        )
        channels.append(hook)
        closers.append(hook)
    robots = robot_channels(settings, registry)
    channels += robots
    closers += robots
    dispatchers = [
        Dispatcher(
            repo,
            channel,
            lambda: engine.is_leader,
            backoff_seconds=settings.webhook_backoff_seconds,
            max_backoff_seconds=settings.webhook_max_backoff_seconds,
        )
        for channel in channels
    ]

    def nudge(_events: list[int]) -> None:
        for d in dispatchers:
            d.nudge()

    engine.on_events = nudge
    return AlertRuntime(engine, dispatchers, store, mqtt, closers)
