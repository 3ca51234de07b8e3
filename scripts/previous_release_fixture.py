"""Regenerate tests/data/previous-release/: a var/ written by the release before migrations.

    python -m scripts.previous_release_fixture [--commit a01577a]

Checks the commit out in a temporary git worktree and runs ITS code (with this venv) to
write what a county's var/ held on that release: the SQL database (keys, an alert and its
acknowledgement, audit entries, a conversion record, an HJ 212 command) and the InfluxDB
points its collector wrote for a tiny county's day (as line protocol, since InfluxDB's own
files are not worth keeping in git). It also records what that release computed from them
(the KPI) and what a reader checks afterwards (row counts, a key's secret) in
manifest.json. tests/api/test_upgrade.py upgrades this with the current code.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from scripts.devstack import influxd_server

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "previous-release"
PREVIOUS_RELEASE = "a01577a"  # the commit before migrations (issue 20)

# Runs inside the old release's checkout (its packages shadow this one's).
OLD_CODE = r"""
import json, sys, threading
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from api.app import create_app  # declares every table
from api.alerts.repo import AlertRepo
from api.alerts.tables import alerts
from api.audit import record_audit
from api.db import connect
from api.factors import definition_for_window
from api.fuel.service import FuelCore, step_rules
from api.keys import KeyStore
from api.records.model import NewRecord
from api.records.repo import RecordRepo
from api.settings import ApiSettings
from ingest.gateway import audit as hj212_audit
from ingest.kernel.pipeline import Accepted, IngestRules, handle_message
from ingest.kernel.registry import load_registry
from ingest.kernel.store import InfluxStore
from ingest.kernel.topics import Topics
from simulators.engine import County, EngineConfig
from simulators.faults import FaultRates
from simulators.plans import DEFAULT_SCENARIO, county_plan
from simulators.runner import run_history
from sqlalchemy import insert, func, select, MetaData

out = Path(sys.argv[1])
settings = ApiSettings()
registry = load_registry(settings.registry)
zone = ZoneInfo(settings.timezone)
start = datetime(2026, 11, 2, tzinfo=zone)
end = datetime(2026, 11, 3, tzinfo=zone)

# InfluxDB: what the collector wrote for one day of a tiny county.
config = EngineConfig(seed=2026, voc_interval_s=300, timezone=settings.timezone, rates=FaultRates.none())
county = County(county_plan(registry, 2026, DEFAULT_SCENARIO, 2026), Topics(settings.topic_root), config, date(2026, 1, 1), [])
rules = IngestRules.from_settings(settings, registry)
lines = []
class Sink:
    def publish(self, plant, topic, payload):
        outcome = handle_message(rules, topic, payload, datetime.now(UTC))
        assert isinstance(outcome, Accepted), outcome
        lines.extend(outcome.lines)
run_history(county, Sink(), start.timestamp(), end.timestamp(), threading.Event(), progress=False)
(out / "influx.lp").write_text("\n".join(lines) + "\n", encoding="utf-8")
with InfluxStore.from_settings(settings) as store:
    store.create_database()
    for i in range(0, len(lines), 5000):
        store.write_lines(lines[i : i + 5000])

db = connect(settings.database_url)

# SQL: a key, an alert acknowledged, audit entries, a conversion record, an HJ 212 command.
keys = KeyStore(db)
info, secret = keys.create("officer Chen", "officer", None, {p.id for p in registry.plants}, "admin")
with db.begin() as conn:
    alert_id = conn.execute(insert(alerts).values(
        kind="voc_exceedance", plant="sl-001", meter="stack-1", pollutant="dmf_mgm3",
        open_key="voc_exceedance|sl-001|stack-1|dmf_mgm3", status="open", message="DMF over the limit",
        value=62.0, limit=50.0, opened_at=1764547200000, last_seen_at=1764550800000,
        updated_at=1764550800000, reopen_count=0, unit="mg/m3",
    )).inserted_primary_key[0]
AlertRepo(db).acknowledge(alert_id, "officer Chen", "called the plant", datetime(2026, 11, 2, 9, tzinfo=UTC))
record_audit(db, "admin", "note", "county", {"text": "day two fixture"})
RecordRepo(db).add(
    NewRecord(plant="ss-001", kind="coal_delivery", effective_at=start, reason="delivery note 17", mass_kg=1200.0),
    "officer Chen", datetime(2026, 11, 2, 10, tzinfo=UTC),
)
hj212_audit.request(db, plant="sl-001", meter="stack-1", mn="33112400SL001STACK000001", cn="3020",
    params={"BeginTime": "20261102000000", "EndTime": "20261102010000"}, reason="gap",
    requested_by="officer Chen", now_ms=1764550800000)
# The KPI as this release computed it, the officers' record included.
with InfluxStore.from_settings(settings) as store:
    definition = definition_for_window(settings.kpi, end, zone)
    facts = RecordRepo(db).facts()
    core = FuelCore(store, settings.timezone, step_rules(settings), definition, registry.gas_share_goal, facts)
    kpi = core.kpi(registry.by_sector("stainless_steel"), end, end - start)
meta = MetaData()
meta.reflect(db)
with db.connect() as conn:
    counts = {t: conn.execute(select(func.count()).select_from(meta.tables[t])).scalar() for t in sorted(meta.tables)}
print(json.dumps({
    "commit": sys.argv[2], "officer_key": secret, "tables": counts, "influx_lines": len(lines),
    "kpi": {"at": end.isoformat(), "window_days": 1, "share": kpi.share.as_dict()},
}, indent=2, sort_keys=True))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", default=PREVIOUS_RELEASE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plantwatch-previous-") as tmp:
        checkout = Path(tmp) / "release"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(checkout), args.commit],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        influxd = influxd_server(Path(tmp) / "influxdb").start()
        try:
            shutil.rmtree(OUT, ignore_errors=True)
            OUT.mkdir(parents=True)
            registry = OUT / "registry.toml"
            env = {
                "PATH": "/usr/bin:/bin",
                "PLANTWATCH_ENV_FILE": "",
                "PLANTWATCH_REGISTRY": str(registry),
                "PLANTWATCH_INFLUX_URL": f"http://127.0.0.1:{influxd.port}",
                "PLANTWATCH_INFLUX_DB": "previous",
                "PLANTWATCH_DATABASE_URL": f"sqlite:///{OUT / 'plantwatch.db'}",
            }
            run = [sys.executable, "-m", "simulators", "registry", "--out", str(registry)]
            subprocess.run(
                [*run, "--stainless", "2", "--leather", "1", "--other", "1"],
                cwd=checkout, env=env, check=True, capture_output=True,
            )  # fmt: skip
            old = subprocess.run(
                [sys.executable, "-c", OLD_CODE, str(OUT), args.commit],
                cwd=checkout, env=env, capture_output=True, text=True,
            )  # fmt: skip
            if old.returncode != 0:
                print(old.stderr, file=sys.stderr)
                return 1
            manifest = old.stdout
            (OUT / "manifest.json").write_text(manifest, encoding="utf-8")
            for leftover in OUT.glob("plantwatch.db-*"):  # SQLite's WAL, checkpointed on close
                leftover.unlink()
        finally:
            influxd.stop()
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(checkout)], cwd=ROOT, check=False
            )
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
