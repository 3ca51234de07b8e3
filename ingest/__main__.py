"""`python -m ingest`: run a collector (MQTT -> InfluxDB)."""

from __future__ import annotations

import argparse
import signal
import sys
from datetime import timedelta
from pathlib import Path

from ingest.collector import Collector
from ingest.credentials import CredentialStore
from ingest.errors import PlantwatchError
from ingest.logs import setup_logging
from ingest.pipeline import IngestRules
from ingest.registry import Registry, load_registry
from ingest.settings import CollectorSettings, CommonSettings, GatewaySettings
from ingest.store import InfluxStore


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingest",
        description="plantwatch collector: subscribes to plant readings over MQTT (QoS 1, "
        "shared subscription) and writes them to InfluxDB. Configured by PLANTWATCH_* "
        "environment variables or a .env file (see README). Without a command it runs a "
        "collector.",
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run a collector (the default)")
    run.add_argument(
        "--collector-id", help="MQTT client id; fixed per collector (persistent session)"
    )
    creds = sub.add_parser(
        "credentials",
        help="print a plant's MQTT username and password (creating the password if needed)",
    )
    creds.add_argument("plant", help="plant id from the registry")
    broker = sub.add_parser(
        "broker-files",
        help="write Mosquitto's password_file and acl_file for every plant in the registry "
        "(then reload the broker: SIGHUP)",
    )
    broker.add_argument("--password-file", type=Path, required=True)
    broker.add_argument("--acl-file", type=Path, required=True)
    gateway_help = (
        "run the HJ 212 TCP gateway: data loggers connect on PLANTWATCH_HJ212_HOST:"
        "PLANTWATCH_HJ212_PORT (default 127.0.0.1:9212); packets go to MQTT, answered with "
        "CN 9014 after the broker's PUBACK (docs/hj212-gateway.md)"
    )
    sub.add_parser(
        "hj212-gateway",
        help=gateway_help,
        description=gateway_help + ". Limits, "
        "commands and forwarding are set by PLANTWATCH_HJ212_* variables (README).",
    )
    return parser


def credentials_command(settings: CommonSettings, registry: Registry, plant_id: str) -> int:
    """`python -m ingest credentials PLANT`: what the operator hands over to a plant."""
    if registry.plant(plant_id) is None:
        print(
            f"error: plant {plant_id!r} is not in the registry {settings.registry}", file=sys.stderr
        )
        return 2
    password = CredentialStore(settings.credentials_file).password_for(plant_id)
    print(f"username: {plant_id}\npassword: {password}")
    print(
        f"(stored in {settings.credentials_file}; regenerate the broker files with "
        "`python -m ingest broker-files` and reload Mosquitto if this plant is new)",
        file=sys.stderr,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = CollectorSettings()
    if args.command in ("credentials", "broker-files"):
        try:
            registry = load_registry(settings.registry)
            if args.command == "credentials":
                return credentials_command(settings, registry, args.plant)
            CredentialStore(settings.credentials_file).write_broker_files(
                registry, args.password_file, args.acl_file, settings.topic_root
            )
            print(f"wrote {args.password_file} and {args.acl_file}")
            return 0
        except PlantwatchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.command == "hj212-gateway":
        return gateway_command()
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
    store = InfluxStore.from_settings(settings)
    collector = Collector(settings, rules, store)
    signal.signal(signal.SIGTERM, lambda *_: collector.stop())
    signal.signal(signal.SIGINT, lambda *_: collector.stop())
    collector.run()
    return 0


def gateway_command() -> int:
    """`python -m ingest hj212-gateway`."""
    import asyncio

    from ingest.gateway.run import serve

    settings = GatewaySettings()
    setup_logging(settings.log_level, settings.log_json)
    try:
        registry = load_registry(settings.registry)
    except PlantwatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(settings, registry))
    return 0


if __name__ == "__main__":
    sys.exit(main())
