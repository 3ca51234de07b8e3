"""A private PostgreSQL server for tests (and by hand), started like the other dev servers.

Debian's `postgresql` package ships the server binaries under /usr/lib/postgresql/<v>/bin.
PostgreSQL refuses to run as root: as root, the cluster is made and run by the `postgres`
system user, in a folder of its own under the system temp dir (the caller's temp folder is
usually private to root). Trust auth on 127.0.0.1 only; fsync off (throwaway data).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scripts.devstack import Server, StackError, free_port

SUPERUSER = "plantwatch"
SYSTEM_USER = "postgres"


def pg_bindir() -> Path:
    """The newest installed server's bin folder."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3])
    )
    if not found:
        raise StackError("PostgreSQL not found: install Debian's 'postgresql' package (make deps)")
    return found[-1].parent


def _as_owner() -> list[str]:
    return ["runuser", "-u", SYSTEM_USER, "--"] if os.geteuid() == 0 else []


@dataclass
class PgCluster:
    """A running cluster: its server, data folder and a way to make fresh databases."""

    server: Server
    datadir: Path

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "t") -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        import psycopg  # a runtime dependency; imported here so devstack users need not have it

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        dsn = f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return self.url(name)

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)


def postgres_cluster(logdir: Path, port: int | None = None) -> PgCluster:
    """initdb a new cluster and describe its server (not started yet)."""
    bindir = pg_bindir()
    logdir.mkdir(parents=True, exist_ok=True)
    datadir = Path(tempfile.mkdtemp(prefix="plantwatch-pg-"))
    if os.geteuid() == 0:
        shutil.chown(datadir, SYSTEM_USER, SYSTEM_USER)
    done = subprocess.run(
        [
            *_as_owner(),
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise StackError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
    pg_port = port or free_port()
    argv = [
        *_as_owner(),
        str(bindir / "postgres"),
        "-D",
        str(datadir),
        "-p",
        str(pg_port),
        "-k",
        str(datadir),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "fsync=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "max_connections=400",
    ]
    server = Server(name="postgres", argv=argv, port=pg_port, log_path=logdir / "postgres.log")
    return PgCluster(server, datadir)


@contextmanager
def running_cluster(logdir: Path) -> Iterator[PgCluster]:
    """A started cluster, stopped and removed on exit."""
    cluster = postgres_cluster(logdir)
    cluster.server.start()
    try:
        yield cluster
    finally:
        cluster.stop()
