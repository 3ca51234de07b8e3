"""Upgrade: a var/ written by the release before migrations opens with this code, nothing lost.

tests/data/previous-release/ was written by that release's own code
(`python -m scripts.previous_release_fixture`): its SQLite database and the InfluxDB points
its collector wrote, with the figures it computed from them in manifest.json.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, table, text
from sqlalchemy.exc import DBAPIError

from api.db import connect
from api.factors import definition_for_window
from api.fuel.service import FuelCore, step_rules
from api.keys import KeyStore
from api.records.repo import RecordRepo
from api.settings import ApiSettings
from ingest import migrations
from ingest.kernel.registry import load_registry
from ingest.kernel.store import InfluxStore
from ingest.kernel.store_schema import STORE_SCHEMA_VERSION, ensure_store_schema, read_mark

PREVIOUS = Path(__file__).resolve().parents[1] / "data" / "previous-release"
MANIFEST = json.loads((PREVIOUS / "manifest.json").read_text(encoding="utf-8"))


def test_the_previous_releases_database_is_upgraded_with_every_row(tmp_path: Path) -> None:
    shutil.copy(PREVIOUS / "plantwatch.db", tmp_path / "plantwatch.db")
    engine = connect(f"sqlite:///{tmp_path}/plantwatch.db")
    with engine.connect() as conn:
        assert migrations.current(conn) == migrations.head()
        counts = {
            name: conn.execute(select(func.count()).select_from(table(name))).scalar()
            for name in MANIFEST["tables"]
        }
        assert counts == MANIFEST["tables"]
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("UPDATE audit_log SET actor = 'someone else'"))
    officer = KeyStore(engine).lookup(MANIFEST["officer_key"])
    assert officer is not None and officer.role == "officer"


def test_the_previous_releases_points_give_the_same_kpi(tmp_path: Path, store: InfluxStore) -> None:
    lines = (PREVIOUS / "influx.lp").read_text(encoding="utf-8").splitlines()
    assert len(lines) == MANIFEST["influx_lines"]
    store.write_lines(lines)
    assert read_mark(store) is None  # that release kept no mark
    assert ensure_store_schema(store) == STORE_SCHEMA_VERSION
    assert read_mark(store) == STORE_SCHEMA_VERSION  # the rollup state moved (schema 2)

    shutil.copy(PREVIOUS / "plantwatch.db", tmp_path / "plantwatch.db")
    db = connect(f"sqlite:///{tmp_path}/plantwatch.db")
    settings = ApiSettings(registry=PREVIOUS / "registry.toml")
    registry = load_registry(settings.registry)
    end = datetime.fromisoformat(MANIFEST["kpi"]["at"])
    definition = definition_for_window(settings.kpi, end, ZoneInfo(settings.timezone))
    core = FuelCore(
        store,
        settings.timezone,
        step_rules(settings),
        definition,
        registry.gas_share_goal,
        RecordRepo(db).facts(),
    )
    kpi = core.kpi(
        registry.by_sector("stainless_steel"),
        end,
        timedelta(days=MANIFEST["kpi"]["window_days"]),
    )
    now = kpi.share.as_dict()
    assert {k: now[k] for k in MANIFEST["kpi"]["share"]} == MANIFEST["kpi"]["share"]
