"""`python -m ingest hj212-gateway`: wire settings, MQTT, the store and the gateway; run.

The store is the engine `PLANTWATCH_STORE` selects (`ingest.kernel.engines.open_store`):
the gateway writes only points to it (dead letters, `hj212_event`), through `Store`."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta
from typing import Protocol

from ingest.client import MqttClient
from ingest.gateway.checks import stacks_without_pw
from ingest.gateway.server import Gateway
from ingest.gateway.stats import render
from ingest.kernel.engines import StoreEngine, open_store
from ingest.kernel.errors import RegistryError, StoreError
from ingest.kernel.pipeline import IngestRules
from ingest.kernel.registry import Registry
from ingest.kernel.topics import Topics
from ingest.metrics import MetricsServer
from ingest.settings import GatewaySettings

log = logging.getLogger(__name__)


class Service(Protocol):
    """Something that runs beside the gateway (command desk, forwarders)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


RECONNECT_MIN_SECONDS = 0.2
BROKER_WAIT_SECONDS = 15.0
# Publishes paho holds unacknowledged at most (under the 65,535 MQTT packet ids); the
# packet past it is deferred: unanswered, resent by its logger.
MAX_UNACKED_PUBLISHES = 50_000


def build_rules(settings: GatewaySettings, registry: Registry) -> IngestRules:
    return IngestRules(
        registry,
        settings.topic_root,
        timedelta(seconds=settings.future_tolerance_seconds),
        settings.timezone,
    )


def check_passwords(settings: GatewaySettings, registry: Registry) -> None:
    """A stack without `hj212_pw` takes any PW: refuse to serve it unless this is a test."""
    missing = stacks_without_pw(registry)
    if not missing:
        return
    if not settings.hj212_allow_no_pw:
        raise RegistryError(
            f"{len(missing)} stack(s) have an hj212_mn but no hj212_pw, so any password would "
            f"be accepted: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}. Give "
            "each an hj212_pw, or set PLANTWATCH_HJ212_ALLOW_NO_PW=true for a test registry"
        )
    log.warning(
        "stacks without hj212_pw accept any password (PLANTWATCH_HJ212_ALLOW_NO_PW)",
        extra={"stacks": len(missing)},
    )


def prepare_store(store: StoreEngine) -> None:
    """Make the store's database or tables if missing (idempotent; on a ClickHouse cluster
    `ON CLUSTER`), as the collector and the API do at their start: the gateway may be the
    first to write. A store away now only delays its dead letters (logged, as any failed
    write of theirs)."""
    try:
        store.create_database()
    except StoreError as exc:
        log.warning("store unavailable at start", extra={"error": str(exc)})


async def serve(settings: GatewaySettings, registry: Registry) -> None:
    """Run the gateway until SIGTERM/SIGINT."""
    mqtt = MqttClient(
        settings.hj212_gateway_id,
        settings.mqtt_host,
        settings.mqtt_port,
        settings.mqtt_username,
        settings.mqtt_password_text,
        reconnect_min_seconds=RECONNECT_MIN_SECONDS,
        # 0: paho sends each publish at once. With a cap, paho walks its whole queue of
        # unacknowledged messages on every PUBACK (`_update_inflight`): under a backlog that
        # is quadratic and, measured, ate half the gateway's CPU until 1,000 loggers
        # collapsed into answer timeouts (bench/hj212.py, docs/hj212-gateway.md). The queue
        # is bounded instead: past it a packet is left unanswered, for the logger to resend.
        max_inflight=0,
        max_queued=MAX_UNACKED_PUBLISHES,
        # 9014 only once the broker has stored the packet (issue 23, SPEC section 11).
        sync_topic=Topics(settings.topic_root).sync(settings.hj212_gateway_id),
    )
    store = open_store(settings)
    gateway = Gateway(settings, build_rules(settings, registry), mqtt, store)
    extras: list[Service] = []
    if settings.hj212_commands_enabled:
        from ingest.gateway.commands import attach_commands

        extras.append(attach_commands(gateway, settings))
    if settings.hj212_forward:
        from ingest.gateway.forward import attach_forwarders

        extras.extend(attach_forwarders(gateway, settings))
    metrics_server = None
    if settings.hj212_metrics_port is not None:
        metrics_server = MetricsServer(
            settings.hj212_metrics_host,
            settings.hj212_metrics_port,
            lambda: render(gateway.metrics(), settings.hj212_gateway_id),
        ).start()
    mqtt.start(wait=False)
    await asyncio.get_running_loop().run_in_executor(None, prepare_store, store)
    # Listen once the broker is there (or after a while): packets arriving before it would
    # only be left unanswered, to be resent.
    await asyncio.get_running_loop().run_in_executor(None, mqtt.wait_connected, BROKER_WAIT_SECONDS)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    for extra in extras:  # before listening: the desk loads what loggers last sent
        await extra.start()
    await gateway.start()
    try:
        await stop.wait()
    finally:
        await gateway.stop()  # no packets after this, so the services see them all
        for extra in extras:
            await extra.stop()
        mqtt.stop()
        store.close()
        if metrics_server is not None:
            metrics_server.stop()
        log.warning("hj212 gateway stopped", extra=gateway.metrics())
