"""`python -m ingest`: run a collector (MQTT -> InfluxDB)."""

from __future__ import annotations

import argparse
import signal
import sys
from datetime import timedelta

from ingest.collector import Collector
from ingest.errors import PlantwatchError
from ingest.logs import setup_logging
from ingest.pipeline import IngestRules
from ingest.registry import load_registry
from ingest.settings import CollectorSettings
from ingest.store import InfluxStore


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingest",
        description="plantwatch collector: subscribes to plant readings over MQTT (QoS 1, "
        "shared subscription) and writes them to InfluxDB. Configured by PLANTWATCH_* "
        "environment variables or a .env file (see README).",
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run a collector (the default)")
    run.add_argument(
        "--collector-id", help="MQTT client id; fixed per collector (persistent session)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = CollectorSettings()
    if getattr(args, "collector_id", None):
        settings = settings.model_copy(update={"collector_id": args.collector_id})
    setup_logging(settings.log_level, settings.log_json)
    try:
        registry = load_registry(settings.registry)
    except PlantwatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rules = IngestRules(
        registry,
        settings.topic_root,
        timedelta(seconds=settings.future_tolerance_seconds),
        settings.timezone,
    )
    password = settings.influx_password.get_secret_value() if settings.influx_password else None
    store = InfluxStore(
        settings.influx_url,
        settings.influx_db,
        settings.influx_username,
        password,
        settings.influx_timeout_seconds,
    )
    collector = Collector(settings, rules, store)
    signal.signal(signal.SIGTERM, lambda *_: collector.stop())
    signal.signal(signal.SIGINT, lambda *_: collector.stop())
    collector.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
