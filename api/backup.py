"""`python -m api backup DIR` / `restore DIR`: everything a county needs to come back.

A backup folder holds:

    influxdb/                 InfluxDB's portable backup of the database (`influxd backup
                              -portable`, over its RPC port, PLANTWATCH_INFLUX_RPC)
    plantwatch.db             the SQL database (SQLite's online backup API), or
    plantwatch.pgdump         its `pg_dump --format=custom` on PostgreSQL
    mqtt-credentials.json     the plants' and services' MQTT passwords
    dynamic-security.json     the broker's accounts (Mosquitto's dynamic-security file)
    backup.json               when, from which schema versions, what is inside

`backup` runs while plantwatch runs. `restore` runs while it is stopped, into an empty
var/: it writes the SQL database and the two files, and stages the InfluxDB backup in
var/restore/, which `make run` restores into InfluxDB at its next start, before anything
writes (docs/operations.md, "Back up and restore").
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import make_url

from api.settings import ApiSettings
from ingest import migrations
from ingest.kernel.errors import PlantwatchError
from ingest.kernel.store_schema import STORE_SCHEMA_VERSION
from ingest.sql import open_engine

INFLUX_DIR = "influxdb"
SQLITE_FILE = "plantwatch.db"
PG_DUMP_FILE = "plantwatch.pgdump"
CREDENTIALS_FILE = "mqtt-credentials.json"
DYNSEC_FILE = "dynamic-security.json"
MANIFEST_FILE = "backup.json"
STAGED = "restore"  # var/restore/: what `make run` restores into InfluxDB at its next start


class BackupError(PlantwatchError):
    """A backup or restore step failed; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Where:
    """Where this installation keeps each part (from the settings `make run` wrote)."""

    database_url: str
    credentials: Path
    dynsec: Path
    var: Path

    @classmethod
    def of(cls, settings: ApiSettings) -> Where:
        return cls(
            settings.database_url,
            settings.credentials_file,
            settings.var_dir / "mosquitto" / DYNSEC_FILE,
            settings.var_dir,
        )


def backup(settings: ApiSettings, folder: Path) -> list[str]:
    """Write a backup of the running installation into `folder` (new or empty)."""
    where = Where.of(settings)
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty: back up into a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    _run(
        ["influxd", "backup", "-portable", "-host", settings.influx_rpc,
         "-db", settings.influx_db, str(folder / INFLUX_DIR)],
        "InfluxDB backup (is plantwatch running? PLANTWATCH_INFLUX_RPC is its RPC address)",
    )  # fmt: skip
    url = make_url(where.database_url)
    if url.get_backend_name() == "sqlite":
        _sqlite_copy(Path(url.database or ""), folder / SQLITE_FILE)
    else:
        _run(
            ["pg_dump", "--format=custom", "--file", str(folder / PG_DUMP_FILE),
             _libpq_url(where.database_url)],
            "pg_dump of the PostgreSQL database",
        )  # fmt: skip
    for source, name in ((where.credentials, CREDENTIALS_FILE), (where.dynsec, DYNSEC_FILE)):
        if source.exists():
            shutil.copy2(source, folder / name)
    with open_engine(where.database_url).connect() as conn:
        revision = migrations.current(conn)
    manifest: dict[str, object] = {
        "made_at": datetime.now(UTC).isoformat(),
        "influx_db": settings.influx_db,
        "sql_revision": revision,
        "store_schema_version": STORE_SCHEMA_VERSION,
        "parts": sorted(p.name for p in folder.iterdir()),
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return sorted(p.name for p in folder.iterdir())


def restore(settings: ApiSettings, folder: Path) -> list[str]:
    """Restore `folder` into this installation's empty var/ (plantwatch stopped)."""
    where = Where.of(settings)
    if not (folder / MANIFEST_FILE).exists():
        raise BackupError(f"{folder} is not a plantwatch backup (no {MANIFEST_FILE})")
    url = make_url(where.database_url)
    done = []
    if url.get_backend_name() == "sqlite":
        target = Path(url.database or "")
        if target.exists():
            raise BackupError(f"{target} exists: restore into an empty var/ (move it away first)")
        target.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(folder / SQLITE_FILE, target)
    else:
        _run(
            ["pg_restore", "--clean", "--if-exists", "--no-owner", "--dbname",
             _libpq_url(where.database_url), str(folder / PG_DUMP_FILE)],
            "pg_restore into the PostgreSQL database",
        )  # fmt: skip
    done.append("SQL database")
    for name, target in ((CREDENTIALS_FILE, where.credentials), (DYNSEC_FILE, where.dynsec)):
        if (folder / name).exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(folder / name, target)
            done.append(name)
    staged = where.var / STAGED / INFLUX_DIR
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(folder / INFLUX_DIR, staged)
    done.append(f"InfluxDB backup staged in {staged} (restored at the next `make run`)")
    return done


def restore_influx(var: Path, rpc: str, database: str) -> bool:
    """At start, before anything writes: restore a staged InfluxDB backup; True if one was."""
    staged = var / STAGED / INFLUX_DIR
    if not staged.exists():
        return False
    _run(
        ["influxd", "restore", "-portable", "-host", rpc, "-db", database, str(staged)],
        "InfluxDB restore (the database must not exist yet: restore into an empty var/)",
    )  # fmt: skip
    shutil.rmtree(var / STAGED)
    return True


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (its online backup API)."""
    if not source.exists():
        raise BackupError(f"no SQL database at {source}")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
    finally:
        src.close()
        dst.close()


def _libpq_url(url: str) -> str:
    """SQLAlchemy's `postgresql+psycopg://` as the `postgresql://` pg_dump understands."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise BackupError(f"{what}: {argv[0]} not found") from exc
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {(done.stderr or done.stdout).strip()[-500:]}")
