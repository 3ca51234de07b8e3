"""`make run` leaves its services' settings in `var/.env`, where every settings class reads them."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from api.settings import ApiSettings
from ingest.settings import ENV_FILE_VAR, CollectorSettings
from scripts.run import write_env_file

VALUES = {
    "PLANTWATCH_INFLUX_URL": "http://127.0.0.1:18086",
    "PLANTWATCH_MQTT_PORT": "11883",
    "PLANTWATCH_API_PORT": "8000",
}


def test_cli_settings_find_make_runs_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (*VALUES, "PLANTWATCH_INFLUX_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(ENV_FILE_VAR)  # the default files, as outside the tests
    monkeypatch.chdir(tmp_path)  # a command run in the project directory
    write_env_file(tmp_path / "var" / ".env", VALUES)
    assert stat.S_IMODE((tmp_path / "var" / ".env").stat().st_mode) == 0o600
    api = ApiSettings()
    assert (api.influx_url, api.mqtt_port, api.api_port) == ("http://127.0.0.1:18086", 11883, 8000)
    assert CollectorSettings().influx_url == "http://127.0.0.1:18086"
    # a hand-written .env overrides it, the environment overrides both
    (tmp_path / ".env").write_text("PLANTWATCH_MQTT_PORT=1884\n", encoding="utf-8")
    assert ApiSettings().mqtt_port == 1884
    monkeypatch.setenv("PLANTWATCH_MQTT_PORT", "1885")
    assert ApiSettings().mqtt_port == 1885
