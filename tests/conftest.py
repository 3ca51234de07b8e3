"""Fixtures that start private Mosquitto and InfluxDB servers on free ports.

Servers are session-scoped (started once, in a temporary folder); each test that writes
gets its own database name, so tests never see each other's points.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ingest.kernel.store import InfluxStore
from ingest.settings import ENV_FILE_VAR
from scripts.devstack import Server, free_port, influxd_server, mosquitto_server
from scripts.pgstack import PgCluster, running_cluster
from tests.support import Process, child_env


@pytest.fixture(scope="session")
def influxd_rpc() -> str:
    """Where the session's InfluxDB answers `influxd backup` and `influxd restore`."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory, influxd_rpc: str) -> Iterator[Server]:
    rpc_port = int(influxd_rpc.rsplit(":", 1)[1])
    server = influxd_server(tmp_path_factory.mktemp("influxd"), rpc_port=rpc_port).start()
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


SERVER_FIXTURES = frozenset(
    {"influxd", "mosquitto", "influx_url", "store", "spawn", "county_db", "browser"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
    longest_first(items)


def longest_first(items: list[pytest.Item]) -> None:
    """Order the test files roughly longest first, for `make test`'s two workers.

    xdist hands out whole files in list order (`--dist loadfile --no-loadscope-reorder`):
    files that run processes as a user would (e2e, slow) first, then other integration files,
    then pure files, which are many and short and so let both workers end together. xdist's
    own order (most tests first) left the few-test slow files to the end, one worker running
    them while the other idled. Files keep their collection order within each rank."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    rank: dict[str, tuple[int, int]] = {}
    for index, (path, tests) in enumerate(modules.items()):
        if any(item.get_closest_marker(m) for item in tests for m in ("e2e", "slow")):
            rank[path] = (0, index)
        elif any(item.get_closest_marker("integration") for item in tests):
            rank[path] = (1, index)
        else:
            rank[path] = (2, index)
    items.sort(key=lambda item: rank[item.nodeid.split("::", 1)[0]])
