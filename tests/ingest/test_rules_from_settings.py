"""Collectors and HTTP push build their validation rules one way, from the same settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from api.app import create_app
from api.settings import ApiSettings
from ingest.kernel.pipeline import IngestRules
from ingest.kernel.registry import load_registry
from ingest.settings import CollectorSettings
from tests.builders import RegistryBuilder


def test_rules_take_zone_tolerance_and_topic_root_from_settings(tmp_path: Path) -> None:
    path = tmp_path / "registry.toml"
    path.write_text(RegistryBuilder().plant("ss-001").toml(), encoding="utf-8")
    settings = CollectorSettings(
        registry=path,
        timezone="Asia/Urumqi",
        future_tolerance_seconds=42.0,
        topic_root="county-7",
    )
    rules = IngestRules.from_settings(settings, load_registry(path))
    assert (rules.timezone, rules.future_tolerance, rules.topic_root) == (
        "Asia/Urumqi",
        timedelta(seconds=42),
        "county-7",
    )


def test_http_push_validates_with_the_collectors_rules(tmp_path: Path) -> None:
    path = tmp_path / "registry.toml"
    path.write_text(RegistryBuilder().plant("ss-001").toml(), encoding="utf-8")
    common = {
        "registry": path,
        "timezone": "Asia/Urumqi",
        "future_tolerance_seconds": 42.0,
        "topic_root": "county-7",
    }
    api = ApiSettings(**common, admin_key=None, database_url="sqlite:///:memory:")
    app_rules = create_app(api).state.ingest_rules
    collector_rules = IngestRules.from_settings(CollectorSettings(**common), load_registry(path))
    assert (app_rules.timezone, app_rules.future_tolerance, app_rules.topic_root) == (
        collector_rules.timezone,
        collector_rules.future_tolerance,
        collector_rules.topic_root,
    )
