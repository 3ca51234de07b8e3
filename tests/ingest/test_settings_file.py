"""Tests are immune to `make run`'s var/.env: PLANTWATCH_ENV_FILE chooses the settings file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.settings import ApiSettings
from ingest.settings import ENV_FILE_VAR, RUN_ENV_FILE
from tests.support import ROOT, child_env

HOSTILE = (
    "PLANTWATCH_API_PORT=1\n"
    "PLANTWATCH_MQTT_PORT=2\n"
    "PLANTWATCH_DATABASE_URL=sqlite:////nonexistent/make-run.db\n"
)
READ = (
    "import json; from api.settings import ApiSettings as S; s = S(); "
    "print(json.dumps([s.api_port, s.mqtt_port, s.database_url]))"
)
DEFAULTS = [8000, 1883, "sqlite:///var/plantwatch.db"]


def _folder_with_hostile_files(tmp_path: Path) -> Path:
    (tmp_path / RUN_ENV_FILE).parent.mkdir(parents=True)
    (tmp_path / RUN_ENV_FILE).write_text(HOSTILE)
    (tmp_path / ".env").write_text(HOSTILE)
    return tmp_path


def _settings_seen(env: dict[str, str], cwd: Path) -> list[object]:
    env = {**env, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", READ], env=env, cwd=cwd, capture_output=True, check=True, timeout=60
    )
    return json.loads(out.stdout)


def test_a_process_a_test_starts_ignores_a_hostile_settings_file(tmp_path: Path) -> None:
    folder = _folder_with_hostile_files(tmp_path)
    assert _settings_seen(child_env({}), folder) == DEFAULTS
    # The same process without the guard reads the file: the guard is what protects it.
    unguarded = {k: v for k, v in child_env({}).items() if k != ENV_FILE_VAR}
    assert _settings_seen(unguarded, folder) == [1, 2, "sqlite:////nonexistent/make-run.db"]


def test_the_variable_names_the_file_to_read(tmp_path: Path) -> None:
    chosen = tmp_path / "chosen.env"
    chosen.write_text("PLANTWATCH_API_PORT=8123\n")
    folder = _folder_with_hostile_files(tmp_path)
    seen = _settings_seen(child_env({ENV_FILE_VAR: str(chosen)}), folder)
    assert seen == [8123, 1883, "sqlite:///var/plantwatch.db"]


def test_settings_in_the_test_process_ignore_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert os.environ.get(ENV_FILE_VAR) == ""  # the session fixture of tests/conftest.py
    monkeypatch.chdir(_folder_with_hostile_files(tmp_path))
    for name in ("PLANTWATCH_API_PORT", "PLANTWATCH_MQTT_PORT", "PLANTWATCH_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = ApiSettings()
    assert [settings.api_port, settings.mqtt_port, settings.database_url] == DEFAULTS
    # An explicit `_env_file` still wins over the variable.
    explicit = ApiSettings(_env_file=RUN_ENV_FILE)
    assert explicit.api_port == 1
