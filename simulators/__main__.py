"""`python -m simulators`: a simulated Songyang county publishing over MQTT (see --help)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import signal
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ingest.kernel.errors import PlantwatchError
from ingest.kernel.registry import Registry, load_registry
from ingest.kernel.topics import Topics
from ingest.logs import setup_logging
from ingest.settings import CommonSettings, GatewaySettings
from simulators.engine import VOC_PROTOCOLS, County, EngineConfig
from simulators.faults import FAULT_KINDS, Fault, FaultRates, FaultSpecError, parse_fault
from simulators.fleet import (
    DEFAULT_LEATHER,
    DEFAULT_OTHER,
    DEFAULT_SEED,
    DEFAULT_STAINLESS,
    build_fleet,
    registry_toml,
)
from simulators.pacing import DEFAULT_WINDOW_READINGS, CollectorPace
from simulators.plans import DEFAULT_SCENARIO, SCENARIOS, county_plan
from simulators.publisher import CountyPublisher, Credentials
from simulators.report import monthly_share
from simulators.runner import Sink, run_history, run_live
from simulators.tcp_logger import TcpLoggers, registry_profiles, registry_stacks

STOP_FLUSH_SECONDS = 1.0
COMMANDS = ("live", "history", "registry", "plan", "inject")
FAULT_HELP = (
    "fault kinds: "
    + "; ".join(f"{k}: {v}" for k, v in FAULT_KINDS.items())
    + ".  Spec: KIND:PLANT[/METER][:VALUE][,at=+10m|RFC3339][,for=45m][,x=AMOUNT], "
    "e.g. stuck:sl-003/stack-1:dmf_mgm3,for=45m  or  outage:ss-004,for=3h"
)
EPILOG = f"""modes:
  live       (default) backfill the last --backfill-days quickly, then publish in real time
             (--speed N runs N times faster until the simulation reaches the wall clock)
  history    publish a whole period (default: this year up to now) as fast as the broker
             acknowledges, with at most --max-inflight unacknowledged QoS 1 messages
  registry   write the county's registry TOML for --seed (the shipped demo is --seed {DEFAULT_SEED})
  plan       print the expected monthly gas share of a scenario (no broker needed)
  inject     hand a fault to a running live simulator started with --control FILE

examples:
  python -m simulators live --speed 60 --backfill-days 31
  python -m simulators history --year 2025
  python -m simulators live --fault stuck:sl-003/stack-1:dmf_mgm3,for=45m
  python -m simulators inject --control var/sim-control malformed:ss-002/gas-1,for=10m

{FAULT_HELP}

Broker, registry and time zone come from PLANTWATCH_* settings (see README).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators",
        description="Simulated Songyang county: stainless-steel firms' gas and coal meters, "
        "synthetic-leather firms' VOC stacks (JSON or HJ 212-2017) and other firms' electricity "
        "meters publish over MQTT, each plant on its own connection with a Last Will.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}")
    live = sub.add_parser(
        "live", help="backfill, then publish in real time (the default)", epilog=FAULT_HELP
    )
    _common(live, fuel_interval=60, voc_interval=60, voc_protocol="mixed", batch=96)
    live.add_argument(
        "--backfill-days",
        type=float,
        default=31.0,
        help="days of history published at start (default 31)",
    )
    live.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second until caught up with the wall clock (default 1)",
    )
    live.add_argument(
        "--catch-up-hours",
        type=float,
        default=None,
        help="with --speed > 1: live play starts this many hours ago (default 2; 0 without speed-up)",
    )
    live.add_argument(
        "--control", type=Path, help="watch FILE for fault specs appended by `inject`"
    )
    live.add_argument("--live", action="store_true", help=argparse.SUPPRESS)  # foundation's flag
    live.add_argument("--interval-seconds", type=int, dest="fuel_interval", help=argparse.SUPPRESS)
    history = sub.add_parser(
        "history", help="publish a whole period fast through MQTT", epilog=FAULT_HELP
    )
    _common(history, fuel_interval=900, voc_interval=60, voc_protocol="json", batch=96)
    history.add_argument(
        "--year", type=int, help="a whole calendar year (up to now if it is this year)"
    )
    history.add_argument(
        "--start", type=date.fromisoformat, help="first local day (YYYY-MM-DD); default 1 January"
    )
    history.add_argument(
        "--end", type=date.fromisoformat, help="last local day, inclusive; default today"
    )
    history.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    registry = sub.add_parser("registry", help="write the county's registry TOML")
    registry.add_argument("--out", type=Path, required=True, help="file to write ('-' for stdout)")
    registry.add_argument("--seed", type=int, default=DEFAULT_SEED)
    registry.add_argument(
        "--stainless", type=int, default=DEFAULT_STAINLESS, help="stainless-steel firms"
    )
    registry.add_argument(
        "--leather", type=int, default=DEFAULT_LEATHER, help="synthetic-leather firms"
    )
    registry.add_argument(
        "--other", type=int, default=DEFAULT_OTHER, help="other firms (electricity only)"
    )
    plan = sub.add_parser("plan", help="expected monthly gas share of a scenario")
    plan.add_argument("--seed", type=int, default=DEFAULT_SEED)
    plan.add_argument("--scenario", choices=sorted(SCENARIOS), default=DEFAULT_SCENARIO)
    plan.add_argument("--year", type=int, default=datetime.now(UTC).year)
    inject = sub.add_parser(
        "inject", help="hand faults to a running live simulator", epilog=FAULT_HELP
    )
    inject.add_argument(
        "--control", type=Path, required=True, help="the live simulator's --control FILE"
    )
    inject.add_argument("faults", nargs="+", metavar="SPEC", help="fault spec(s)")
    return parser


def _common(
    p: argparse.ArgumentParser,
    *,
    fuel_interval: int,
    voc_interval: int,
    voc_protocol: str,
    batch: int,
) -> None:
    p.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"random seed: same seed, same data (default {DEFAULT_SEED})",
    )
    p.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default=DEFAULT_SCENARIO,
        help="conversion programme (default on_track)",
    )
    p.add_argument(
        "--fuel-interval",
        type=int,
        default=fuel_interval,
        help=f"gas/coal/electricity reporting interval, s, multiple of 60 (default {fuel_interval})",
    )
    p.add_argument(
        "--voc-interval",
        type=int,
        default=voc_interval,
        help=f"stack reporting interval, s, divides a day (default {voc_interval})",
    )
    p.add_argument(
        "--voc-protocol",
        choices=VOC_PROTOCOLS,
        default=voc_protocol,
        help=f"stacks send JSON, HJ 212 packets, or half each (default {voc_protocol})",
    )
    p.add_argument(
        "--pace-metrics",
        metavar="URL",
        action="append",
        help="publish history at most --pace-window readings ahead of the collector whose "
        "/metrics this is (make run: keeps the month's back-fill out of the broker's store); "
        "once per collector when several take partitions",
    )
    p.add_argument(
        "--pace-window",
        type=int,
        default=DEFAULT_WINDOW_READINGS,
        help=f"readings ahead of the collector with --pace-metrics (default {DEFAULT_WINDOW_READINGS})",
    )
    p.add_argument(
        "--voc-transport",
        choices=("mqtt", "tcp"),
        default="mqtt",
        help="HJ 212 packets over MQTT, or over TCP to the HJ 212 gateway like field data "
        "loggers (Flag=5, resent until answered; PLANTWATCH_HJ212_HOST/PORT) (default mqtt)",
    )
    p.add_argument(
        "--hj212-realtime-interval",
        type=int,
        default=300,
        help="HJ 212 stacks: seconds between real-time (CN 2011) packets; minute data (CN 2051) "
        "goes every minute and hourly data (CN 2061) every hour (default 300)",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=batch,
        help=f"readings per JSON message at most (default {batch})",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault (repeatable; see below)",
    )
    p.add_argument(
        "--fault-rate",
        action="append",
        default=[],
        metavar="KIND=RATE",
        help="random fault rate per meter per day (reset, replace: per year)",
    )
    p.add_argument(
        "--no-faults", action="store_true", help="no random faults (on-demand faults still apply)"
    )
    p.add_argument(
        "--max-inflight",
        type=int,
        default=2000,
        help="unacknowledged QoS 1 messages at most (default 2000)",
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv.insert(0, "live")  # `python -m simulators --live --speed 60` keeps working
    args = build_parser().parse_args(argv)
    try:
        if args.command == "registry":
            return _registry(args)
        if args.command == "inject":
            return _inject(args)
        settings = CommonSettings()
        setup_logging(settings.log_level, settings.log_json)
        registry = load_registry(settings.registry)
        if args.command == "plan":
            return _plan(args, registry)
        return _publish(args, settings, registry)
    except (PlantwatchError, FaultSpecError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _registry(args: argparse.Namespace) -> int:
    text = registry_toml(
        build_fleet(args.seed, args.stainless, args.leather, args.other), seed=args.seed
    )
    if str(args.out) == "-":
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _inject(args: argparse.Namespace) -> int:
    for text in args.faults:
        parse_fault(text, time.time())  # refuse bad specs here, where the user sees the error
    with args.control.open("a", encoding="utf-8") as fh:
        fh.writelines(text.strip() + "\n" for text in args.faults)
    return 0


def _plan(args: argparse.Namespace, registry: Registry) -> int:
    plan = county_plan(registry, args.seed, args.scenario, args.year)
    print(
        f"scenario {args.scenario}, {len(plan.fuel)} stainless-steel firms, 30-day share with gas_fraction >= 0.9"
    )
    for month_end, share in monthly_share(plan, args.seed, args.year):
        print(f"  {month_end.isoformat()}  {share:6.1%}  {'#' * round(share * 50)}")
    return 0


def plant_credentials(settings: CommonSettings) -> Credentials | None:
    """Each plant's (username, password) from `ingest.credentials` when that module exists."""
    try:
        module = importlib.import_module("ingest.credentials")
    except ImportError:
        return None
    path = getattr(settings, "credentials_file", None)
    if path is None:
        return None
    store = module.CredentialStore(path)
    return lambda plant: (plant, str(store.password_for(plant)))


def _publish(args: argparse.Namespace, settings: CommonSettings, registry: Registry) -> int:
    now = time.time()
    if args.fuel_interval % 60 or 86_400 % args.voc_interval:
        raise ValueError(
            "--fuel-interval must be a multiple of 60 and --voc-interval must divide a day"
        )
    rates = FaultRates.none() if args.no_faults else FaultRates().with_overrides(args.fault_rate)
    faults: list[Fault] = [parse_fault(text, now) for text in args.fault]
    config = EngineConfig(
        seed=args.seed,
        fuel_interval_s=args.fuel_interval if args.command == "history" else 900,
        # Backfill stacks report every minute like real loggers: compliance needs 45 valid
        # minutes an hour, and a 5-minute reading covers one minute, not five.
        voc_interval_s=args.voc_interval if args.command == "history" else 60,
        batch=args.batch,
        voc_protocol=args.voc_protocol if args.command == "history" else "json",
        hj212_realtime_interval_s=args.hj212_realtime_interval,
        timezone=settings.timezone,
        rates=rates,
    )
    if args.command == "history":
        first = args.start or date(args.year or datetime.now(UTC).year, 1, 1)
        last = args.end or (date(args.year, 12, 31) if args.year else datetime.now(UTC).date())
        zone = ZoneInfo(settings.timezone)
        start_s = _local_midnight(first, zone)
        end_s = min(now, _local_midnight(last + timedelta(days=1), zone))
    else:
        catch_up = (
            args.catch_up_hours
            if args.catch_up_hours is not None
            else (2.0 if args.speed > 1 else 0.0)
        )
        end_s = now - catch_up * 3600
        start_s = end_s - args.backfill_days * 86_400
        first = datetime.fromtimestamp(start_s, UTC).date()
    year = first.year
    plan = county_plan(registry, args.seed, args.scenario, year)
    county = County(plan, Topics(settings.topic_root), config, date(year, 1, 1), faults)
    password = settings.mqtt_password_text
    credentials = plant_credentials(settings)
    if credentials is None and settings.mqtt_username:
        credentials = lambda _plant: (settings.mqtt_username or "", password or "")  # noqa: E731
    publisher = CountyPublisher(
        settings.mqtt_host, settings.mqtt_port, county.plants, county.topics, credentials,
        client_prefix=f"sim{args.seed}", max_inflight=args.max_inflight,
    )  # fmt: skip
    sink: Sink = publisher
    loggers = None
    if args.voc_transport == "tcp":
        gateway = GatewaySettings()
        loggers = TcpLoggers(
            gateway.hj212_host, gateway.hj212_port, registry_stacks(registry),
            settings.timezone, mqtt_sink=publisher, profiles=registry_profiles(registry),
        ).start()  # fmt: skip
        sink = loggers
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    publisher.start()
    print(
        f"simulator: {len(county.plants)} plants connected to {settings.mqtt_host}:{settings.mqtt_port}",
        flush=True,
    )
    try:
        began = time.monotonic()
        totals = run_history(
            county,
            sink,
            start_s,
            end_s,
            stop,
            progress=not getattr(args, "no_progress", False),
            pace=CollectorPace(args.pace_metrics, args.pace_window).wait
            if args.pace_metrics
            else None,
        )
        # A stop (SIGTERM, Ctrl-C) must end within `make run`'s stop budget: what a simulated
        # plant has not had acknowledged by then is not waited for.
        publisher.flush(STOP_FLUSH_SECONDS if stop.is_set() else 120.0)
        print(
            f"simulator: published {totals.readings} readings in {totals.messages} messages "
            f"for {len(county.plants)} plants in {time.monotonic() - began:.1f}s",
            flush=True,
        )
        if args.command == "live" and not stop.is_set():
            county.config = dataclasses.replace(
                config,
                fuel_interval_s=args.fuel_interval,
                voc_interval_s=args.voc_interval,
                voc_protocol=args.voc_protocol,
            )
            run_live(
                county,
                sink,
                end_s,
                max(args.speed, 1.0),
                stop,
                control=args.control,
                on_tick=publisher.announce,
            )
    finally:
        if loggers is not None:
            loggers.stop()
        publisher.stop(flush_seconds=STOP_FLUSH_SECONDS if stop.is_set() else 10.0)
    return 0


def _local_midnight(d: date, zone: ZoneInfo) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=zone).timestamp()


if __name__ == "__main__":
    sys.exit(main())
