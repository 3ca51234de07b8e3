"""`python -m ingest`: run a collector (MQTT -> InfluxDB, or ClickHouse by PLANTWATCH_STORE)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from ingest.collector import Collector, settle_heap
from ingest.credentials import (
    DEFAULT_COLLECTOR_IDS,
    CredentialStore,
    plant_account,
    provision_broker,
)
from ingest.dynsec import ADMIN_ACCOUNT, DynsecAdmin, plant_role
from ingest.kernel.engines import open_store
from ingest.kernel.errors import PlantwatchError, StoreError, StoreSchemaError
from ingest.kernel.pipeline import IngestRules
from ingest.kernel.registry import Registry, load_registry
from ingest.kernel.store import InfluxStore
from ingest.kernel.store_schema import ensure_store_schema
from ingest.kernel.topics import Topics
from ingest.logs import setup_logging
from ingest.settings import CollectorSettings, CommonSettings, GatewaySettings

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingest",
        description="plantwatch collector: subscribes to plant readings over MQTT (QoS 1, "
        "persistent session; PLANTWATCH_COLLECTOR_PARTITION=i/N for its share of the plants) "
        "and writes them to the store (InfluxDB; ClickHouse with PLANTWATCH_STORE=clickhouse). "
        "Configured by PLANTWATCH_* "
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
        help="print a plant's MQTT username, client id and password (creating them if needed, "
        "in the running broker too)",
    )
    creds.add_argument("plant", help="plant id from the registry")
    creds.add_argument(
        "--rotate", action="store_true", help="give the plant a new password (the old one stops)"
    )
    accounts = sub.add_parser(
        "broker-accounts",
        help="create every registry plant's and service's account in the running broker "
        "(Mosquitto dynamic-security plugin; no restart needed)",
    )
    accounts.add_argument(
        "--collector-id",
        action="append",
        dest="collector_ids",
        help="a collector id to make an account for (svc-<id>); repeat for several "
        "(default: collector-1)",
    )
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


def credentials_command(
    settings: CommonSettings, registry: Registry, plant_id: str, rotate: bool = False
) -> int:
    """`python -m ingest credentials PLANT`: what the operator hands over to a plant."""
    if registry.plant(plant_id) is None:
        print(
            f"error: plant {plant_id!r} is not in the registry {settings.registry}", file=sys.stderr
        )
        return 2
    store = CredentialStore(settings.credentials_file)
    password = store.rotate(plant_id) if rotate else store.password_for(plant_id)
    try:
        admin_password = store.service_password(ADMIN_ACCOUNT, create=False)
        with DynsecAdmin(
            settings.mqtt_host, settings.mqtt_port, admin_password, settings.mqtt_tls_ca
        ) as admin:
            created = admin.provision(
                [plant_role(Topics(settings.topic_root), plant_id)],
                [plant_account(plant_id, password)],
                reset_existing=rotate,
            )
        state = "created" if created else ("password changed" if rotate else "already there")
        broker = f"broker {settings.mqtt_host}:{settings.mqtt_port}: account {state}"
    except PlantwatchError as exc:
        broker = (
            f"warning: the broker was not updated ({exc}); run this again once it is up, "
            "or `python -m ingest broker-accounts`"
        )
    print(f"username:  {plant_id}\nclient id: {plant_id}\npassword:  {password}")
    print(f"(stored in {settings.credentials_file}; {broker})", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = CollectorSettings()
    if args.command in ("credentials", "broker-accounts"):
        try:
            registry = load_registry(settings.registry)
            if args.command == "credentials":
                return credentials_command(settings, registry, args.plant, args.rotate)
            created = provision_broker(
                CredentialStore(settings.credentials_file),
                registry,
                settings.mqtt_host,
                settings.mqtt_port,
                settings.topic_root,
                args.collector_ids or DEFAULT_COLLECTOR_IDS,
                tls_ca=settings.mqtt_tls_ca,
            )
            print(f"broker accounts created: {len(created)} ({', '.join(created) or 'none new'})")
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
    rules = IngestRules.from_settings(settings, registry)
    store = open_store(settings)
    if isinstance(store, InfluxStore):
        try:
            ensure_store_schema(store)
        except StoreSchemaError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except StoreError as exc:  # InfluxDB away: the collector spools; the next start checks
            log.warning("store schema not checked", extra={"error": str(exc)})
    else:
        # ClickHouse: its tables are made (idempotent) before the first message is taken; a
        # server that does not answer, or refuses, stops the start with the reason.
        try:
            store.create_database()
        except StoreError as exc:
            print(
                f"error: PLANTWATCH_STORE=clickhouse: cannot create the tables at "
                f"{settings.clickhouse_url} (database {settings.clickhouse_db}): {exc}",
                file=sys.stderr,
            )
            return 2
    collector = Collector(settings, rules, store)
    signal.signal(signal.SIGTERM, lambda *_: collector.stop())
    signal.signal(signal.SIGINT, lambda *_: collector.stop())
    settle_heap()
    collector.run()
    return 0


def gateway_command() -> int:
    """`python -m ingest hj212-gateway`."""
    import asyncio

    from ingest.gateway.run import check_passwords, serve

    settings = GatewaySettings()
    setup_logging(settings.log_level, settings.log_json)
    try:
        registry = load_registry(settings.registry)
        check_passwords(settings, registry)
    except PlantwatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(settings, registry))
    return 0


if __name__ == "__main__":
    sys.exit(main())
