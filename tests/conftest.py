"""Fixtures that start private Mosquitto and InfluxDB servers on free ports.

Servers are session-scoped (started once, in a temporary folder); each test that writes
gets its own database name, so tests never see each other's points.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from ingest.settings import ENV_FILE_VAR
from ingest.store import InfluxStore
from scripts.devstack import Server, influxd_server, mosquitto_server
from scripts.pgstack import PgCluster, running_cluster

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = influxd_server(tmp_path_factory.mktemp("influxd")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Periodic saves: the shared broker carries many tests' traffic; saving after every
    # change (the shipped default) is tested in tests/ingest/test_broker_durability.py.
    server = mosquitto_server(tmp_path_factory.mktemp("mosquitto"), durable_acks=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgCluster]:
    """A private PostgreSQL cluster (Debian's `postgresql`), for the tests that need one."""
    with running_cluster(tmp_path_factory.mktemp("postgres")) as cluster:
        yield cluster


# `PLANTWATCH_TEST_DATABASE=postgresql` (make test-pg) runs the SQL-backed tests on PostgreSQL.
# How long a started process may take to answer: API start-up is about 3 s of CPU (imports,
# migrations, the store's shape mark), which a loaded 2-core machine stretches past 30 s
# (seen: 5 web tests refused at 30 s with the load average at 10). A wait, not a sleep: it
# returns as soon as the process answers.
READY_SECONDS = 120.0
ON_POSTGRES = os.environ.get("PLANTWATCH_TEST_DATABASE") == "postgresql"


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The service database of one test: SQLite in its folder, or a fresh PostgreSQL database."""
    if ON_POSTGRES:
        cluster: PgCluster = request.getfixturevalue("postgres")
        return cluster.new_database()
    return f"sqlite:///{tmp_path}/plantwatch.db"


@pytest.fixture
def influx_url(influxd: Server) -> str:
    return f"http://127.0.0.1:{influxd.port}"


@pytest.fixture
def store(influx_url: str) -> Iterator[InfluxStore]:
    """A store on a fresh, empty database."""
    with InfluxStore(influx_url, f"test_{uuid.uuid4().hex[:12]}") as s:
        s.create_database()
        yield s


def write_registry(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


class Process:
    """A plantwatch process run as a user would (`python -m ...`), logs kept for failures."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args, self.env, self.log_path = args, env, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, *self.args],
            env={ENV_FILE_VAR: "", **self.env},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def child_env(env: dict[str, str]) -> dict[str, str]:
    """The environment of a process a test starts: no PLANTWATCH_* of ours, no settings file."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PLANTWATCH_")}
    full_env[ENV_FILE_VAR] = ""  # never `make run`'s var/.env nor a developer's .env
    full_env.update(env)
    return full_env


@pytest.fixture(scope="session", autouse=True)
def quiet_background_logging() -> Iterator[None]:
    """A service thread of one test (an alert engine's tick, a publisher's reconnect) may log
    after pytest closed that test's captured stream. Such a record is dropped, not printed as
    a "--- Logging error ---" traceback: CPython 3.11.7 formats tracebacks with `ast` and two
    threads doing that at once can end the run (SystemError: AST constructor recursion depth
    mismatch, seen when a failing test's report raced a logging error)."""
    before = logging.raiseExceptions
    logging.raiseExceptions = False
    yield
    logging.raiseExceptions = before


@pytest.fixture(scope="session", autouse=True)
def no_settings_file() -> Iterator[None]:
    """Settings built inside the test process ignore var/.env and .env too."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_FILE_VAR, "")
        yield


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start `python -m <module>` processes with PLANTWATCH_* env; all stopped at teardown."""
    started: list[Process] = []

    def _spawn(module_args: list[str], env: dict[str, str], name: str) -> Process:
        full_env = child_env(env)
        full_env.setdefault("PLANTWATCH_LOG_LEVEL", "INFO")
        # Keep every process's local state (spool, alert database) inside the test's folder.
        full_env.setdefault("PLANTWATCH_SPOOL_DIR", str(tmp_path / "spool"))
        full_env.setdefault("PLANTWATCH_DATABASE_URL", f"sqlite:///{tmp_path}/plantwatch.db")
        full_env.setdefault("PLANTWATCH_CREDENTIALS_FILE", str(tmp_path / "credentials.json"))
        process = Process(["-m", *module_args], full_env, tmp_path / f"{name}.log").start()
        started.append(process)
        return process

    yield _spawn
    for process in reversed(started):
        process.stop()


def wait_http(
    url: str, timeout: float = READY_SECONDS, headers: dict[str, str] | None = None
) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            resp = httpx.get(url, timeout=2.0, headers=headers)
            if resp.status_code < 500:
                return resp
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout}s: {last}")


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# Fixtures that start or need a real server or process: a test using any of them is an
# integration test whatever its module says, so `make test-fast` (`-m "not integration"`)
# runs only pure tests.
SERVER_FIXTURES = frozenset(
    {"influxd", "mosquitto", "influx_url", "store", "spawn", "county_db", "browser"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
