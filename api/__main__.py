"""`python -m api [serve|keys|audit|rollup]`: the plantwatch HTTP service and its admin commands."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from pydantic import SecretStr

from api.app import create_app, rollup_job
from api.audit import verify_audit
from api.auth import ROLES, new_key
from api.backup import backup, restore
from api.db import connect
from api.keys import KeyStore
from api.ranges import RangeError, check_instant
from api.settings import ApiSettings
from ingest.kernel.engines import open_store
from ingest.kernel.errors import PlantwatchError
from ingest.kernel.registry import load_registry
from ingest.logs import setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m api",
        description="plantwatch API: coal-to-gas KPI, VOC compliance, alerts, HTTP push and the "
        "built-in dashboard. Configured by PLANTWATCH_* environment variables or .env (see README). "
        "Without a command it serves; without PLANTWATCH_ADMIN_KEY an admin key is generated "
        "and printed at start.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("serve", help="run the HTTP service (the default)")

    keys = commands.add_parser("keys", help="create, revoke and list API keys")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = key_commands.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True, help="who or what holds the key")
    create.add_argument("--plant", help="the plant a plant key belongs to")
    create.add_argument(
        "--county", help="officer, viewer, inspector: the one county the key sees (default all)"
    )
    create.add_argument("--expires-in-days", type=float, help="refuse the key after this many days")
    revoke = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id", type=int)
    rotate = key_commands.add_parser(
        "rotate", help="a new key for the same holder; the old one works --grace-hours more"
    )
    rotate.add_argument("id", type=int)
    rotate.add_argument("--grace-hours", type=float, default=24.0)
    key_commands.add_parser(
        "revoke-admin",
        help="revoke the admin key of PLANTWATCH_ADMIN_KEY (by its hash); set a new one and restart",
    )
    listing = key_commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--json", action="store_true", help="one JSON document")

    audit = commands.add_parser("audit", help="check the audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    audit_commands.add_parser(
        "verify", help="check the hash chain: exit 1 and name each edited, inserted or deleted row"
    )
    backup = commands.add_parser(
        "backup", help="back up InfluxDB, the SQL database, credentials and broker state"
    )
    backup.add_argument("folder", type=Path, help="a new or empty folder")
    restore = commands.add_parser(
        "restore", help="restore a backup into an empty var/ (plantwatch stopped)"
    )
    restore.add_argument("folder", type=Path, help="a folder written by `backup`")

    rollup = commands.add_parser(
        "rollup",
        help="roll raw readings up (fuel_hourly / fuel_daily, voc_hourly) once, then exit",
    )
    rollup.add_argument(
        "--since",
        help="re-roll everything from this time (RFC 3339 with offset), e.g. after a backfill; "
        "without it: catch up from the watermark",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = ApiSettings()
    # A rollup run from the command line reports its progress.
    level = "INFO" if args.command == "rollup" else settings.log_level
    setup_logging(level, settings.log_json)
    try:
        if args.command == "keys":
            return keys_command(args, settings)
        if args.command == "rollup":
            return rollup_command(args, settings)
        if args.command == "audit":
            return audit_command(settings)
        if args.command == "backup":
            parts = backup(settings, args.folder)
            print(f"backed up into {args.folder}: {', '.join(parts)}")
            return 0
        if args.command == "restore":
            for part in restore(settings, args.folder):
                print(f"restored {part}")
            return 0
        return serve(settings)
    except PlantwatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def serve(settings: ApiSettings) -> int:
    if settings.admin_key is None:
        key = new_key()
        settings = settings.model_copy(update={"admin_key": SecretStr(key)})
        print(f"plantwatch admin key (generated for this run): {key}", flush=True)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        # Both set (ApiSettings checks the pair): HTTPS only; neither: plain HTTP.
        ssl_certfile=settings.api_tls_certfile,
        ssl_keyfile=settings.api_tls_keyfile,
    )
    return 0


def keys_command(args: argparse.Namespace, settings: ApiSettings) -> int:
    store = KeyStore(connect(settings.database_url))
    if args.keys_command == "create":
        registry = load_registry(settings.registry)
        known = {p.id for p in registry.plants}
        expires = (
            datetime.now(UTC) + timedelta(days=args.expires_in_days)
            if args.expires_in_days
            else None
        )
        info, secret = store.create(
            args.name,
            args.role,
            args.plant,
            known,
            expires_at=expires,
            county=args.county,
            known_counties={c.id for c in registry.counties},
        )
        scope = f", plant {info.plant}" if info.plant else ""
        scope += f", county {info.county}" if info.county else ""
        print(f"created key {info.id} ({info.role}{scope})")
        if expires is not None:
            print(f"expires {expires.isoformat()}")
        print(f"key: {secret}")
        print("store it now: only its hash is kept")
    elif args.keys_command == "revoke":
        info = store.revoke(args.id)
        print(f"revoked key {info.id} ({info.name}, {info.role})")
    elif args.keys_command == "rotate":
        info, secret = store.rotate(args.id, grace=timedelta(hours=args.grace_hours))
        old = next(k for k in store.list() if k.id == args.id)
        print(f"key {args.id} rotated: new key {info.id}; the old one works until {old.expires_at}")
        print(f"key: {secret}")
        print("store it now: only its hash is kept")
    elif args.keys_command == "revoke-admin":
        if settings.admin_key is None:
            print("error: PLANTWATCH_ADMIN_KEY is not set", file=sys.stderr)
            return 2
        fresh = store.revoke_secret(settings.admin_key.get_secret_value())
        print("admin key revoked" if fresh else "admin key was revoked already")
        print("set a new PLANTWATCH_ADMIN_KEY and restart the API")
    else:
        keys = [k.as_dict() for k in store.list()]
        if args.json:
            print(json.dumps(keys, ensure_ascii=False, indent=2))
        for k in [] if args.json else keys:
            state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "active"
            if k["expires_at"] and not k["revoked_at"]:
                state += f" until {k['expires_at']}"
            plant = f" plant={k['plant']}" if k["plant"] else ""
            plant += f" county={k['county']}" if k["county"] else ""
            print(
                f"{k['id']:>4}  {k['role']:<8} {k['name']}{plant}  created {k['created_at']}  {state}"
            )
    return 0


def audit_command(settings: ApiSettings) -> int:
    """`audit verify`: 0 if the chain is intact, 1 with the problems listed."""
    report = verify_audit(connect(settings.database_url))
    for problem in report.problems:
        print(f"TAMPERED: {problem}")
    legacy = f", {report.unchained} from before the chain (not checked)" if report.unchained else ""
    state = "intact" if report.intact else f"{len(report.problems)} problem(s)"
    print(f"audit log {state}: {report.checked} chained rows checked{legacy}")
    print(f"chain head: {report.head_hash or '(empty)'}")
    return 0 if report.intact else 1


def rollup_command(args: argparse.Namespace, settings: ApiSettings) -> int:
    with open_store(settings) as store:
        job = rollup_job(
            settings, store, load_registry(settings.registry), connect(settings.database_url)
        )
        if args.since:
            try:
                since = check_instant("--since", datetime.fromisoformat(args.since))
            except (ValueError, RangeError) as exc:
                print(f"error: --since: {exc}", file=sys.stderr)
                return 2
            for domain, written in job.reroll_since(since).items():
                print(f"re-rolled {domain} from {since.isoformat()}: {written} points written")
        else:
            for domain, report in job.run_pass().items():
                hourly = report.watermarks.hourly
                until = hourly.isoformat() if hourly else "nothing to roll up"
                print(f"{domain}: rolled up until {until} (now {datetime.now(UTC).isoformat()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
