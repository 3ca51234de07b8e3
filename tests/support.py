"""Helpers the tests share: processes started as a user starts them, and waits that return
as soon as what they wait for happens (never a fixed sleep). Fixtures stay in conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ingest.settings import ENV_FILE_VAR

ROOT = Path(__file__).resolve().parents[1]


# How long a started process may take to answer: API start-up is about 3 s of CPU (imports,
# migrations, the store's shape mark), which a loaded 2-core machine stretches past 30 s
# (seen: 5 web tests refused at 30 s with the load average at 10). A wait, not a sleep: it
# returns as soon as the process answers.
READY_SECONDS = 120.0


# A new httpx client loads certifi's CA bundle: ~36 ms of CPU, spent again on each poll of a
# loop that asks every 0.1 s while the process it waits for needs that CPU to start. Made once
# here; the test servers speak plain HTTP, and any https check gets the same trust as before.
CA_CONTEXT = httpx.create_ssl_context()


def http_get(url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.get` (a client of its own for one request) without loading the CA bundle again."""
    return httpx.get(url, verify=CA_CONTEXT, **kwargs)


def http_post(url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.post`, likewise."""
    return httpx.post(url, verify=CA_CONTEXT, **kwargs)


def http_delete(url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.delete`, likewise."""
    return httpx.delete(url, verify=CA_CONTEXT, **kwargs)


def http_request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.request`, likewise."""
    return httpx.request(method, url, verify=CA_CONTEXT, **kwargs)


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


def wait_http(
    url: str, timeout: float = READY_SECONDS, headers: dict[str, str] | None = None
) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    with httpx.Client(timeout=2.0, headers=headers, verify=CA_CONTEXT) as client:
        while time.monotonic() < deadline:
            try:
                resp = client.get(url)
                if resp.status_code < 500:
                    return resp
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.1)  # the poll's interval
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
