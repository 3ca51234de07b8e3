"""`python -m simulators`: a simulated county publishing meter readings over MQTT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from ingest.client import MqttClient
from ingest.logs import setup_logging
from ingest.registry import load_registry
from ingest.schema import encode_readings
from ingest.settings import CommonSettings
from ingest.topics import Topics
from simulators.fuel import FirmProfile, Registers, firm_profile, fuel_readings

READINGS_PER_MESSAGE = 96
MAX_INFLIGHT = 1000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators",
        description="Simulated Songyang county: stainless-steel firms' gas and coal meters "
        "publish cumulative registers over MQTT (QoS 1). First a backfill of history, then live "
        "readings. Broker and registry come from PLANTWATCH_* settings.",
    )
    parser.add_argument("--seed", type=int, default=2026, help="random seed (same seed, same data)")
    parser.add_argument(
        "--backfill-days",
        type=float,
        default=31.0,
        help="days of history published at start (default 31)",
    )
    parser.add_argument(
        "--interval-seconds",
        type=float,
        default=900.0,
        help="meter reporting interval in simulated seconds (default 900)",
    )
    parser.add_argument(
        "--live", action="store_true", help="keep publishing in real time after the backfill"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="live mode: simulated seconds per real second"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = CommonSettings()
    setup_logging(settings.log_level, settings.log_json)
    registry = load_registry(settings.registry)
    profiles = [
        p
        for p in (firm_profile(pl, args.seed) for pl in registry.by_sector("stainless_steel"))
        if p
    ]
    topics = Topics(settings.topic_root)
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    client = MqttClient(
        f"simulator-{args.seed}",
        settings.mqtt_host,
        settings.mqtt_port,
        settings.mqtt_username,
        password,
        max_inflight=MAX_INFLIGHT,
    )
    client.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    rng = np.random.default_rng(args.seed)
    registers = {p.plant: Registers() for p in profiles}
    step = timedelta(seconds=args.interval_seconds)
    now = datetime.now(UTC).replace(microsecond=0)
    cursor = now - timedelta(days=args.backfill_days)
    total_steps = int((now - cursor) / step)
    sent = 0
    while total_steps > 0 and not stop.is_set():
        n = min(READINGS_PER_MESSAGE, total_steps)
        sent += _publish(client, topics, profiles, registers, cursor, n, step, rng)
        cursor += n * step
        total_steps -= n
    print(f"simulator: backfilled {sent} readings for {len(profiles)} firms", flush=True)
    while args.live and not stop.is_set():
        stop.wait(args.interval_seconds / args.speed)
        sent += _publish(client, topics, profiles, registers, cursor, 1, step, rng)
        cursor += step
    time.sleep(0.5)
    client.stop()
    return 0


def _publish(
    client: MqttClient,
    topics: Topics,
    profiles: list[FirmProfile],
    registers: dict[str, Registers],
    start: datetime,
    steps: int,
    step: timedelta,
    rng: np.random.Generator,
) -> int:
    sent = 0
    for profile in profiles:
        gas, coal = fuel_readings(profile, registers[profile.plant], start, steps, step, rng)
        for meter, readings in ((profile.gas_meter, gas), (profile.coal_meter, coal)):
            info = client.publish(
                topics.readings(profile.plant, meter), encode_readings(readings), qos=1
            )
            info.wait_for_publish(timeout=30)
            sent += len(readings)
    return sent


if __name__ == "__main__":
    sys.exit(main())
