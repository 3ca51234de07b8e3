"""`api.db.connect` brings a database made by an older version up to the declared tables."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from api.alerts.repo import AlertRepo
from api.db import connect


def test_columns_added_since_are_added_to_an_old_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    old = create_engine(url)
    with old.begin() as conn:
        # the alerts table as it was before alerts carried structured facts
        conn.execute(
            text(
                "CREATE TABLE alerts (id INTEGER PRIMARY KEY, kind VARCHAR(64) NOT NULL, "
                "plant VARCHAR(64) NOT NULL, meter VARCHAR(64) NOT NULL, "
                "pollutant VARCHAR(64) NOT NULL, open_key VARCHAR(300), status VARCHAR(16) NOT NULL, "
                'message TEXT NOT NULL, value FLOAT, "limit" FLOAT, opened_at BIGINT NOT NULL, '
                "last_seen_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, cleared_since BIGINT, "
                "acknowledged_by VARCHAR(128), acknowledged_at BIGINT, ack_comment TEXT, "
                "resolved_at BIGINT, resolved_by VARCHAR(128), resolve_comment TEXT, "
                "reopen_count INTEGER NOT NULL)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO alerts VALUES (1, 'voc_spike', 'sl-001', 'stack-1', 'dmf_mgm3', "
                "NULL, 'resolved', 'spike', 120, 100, 1, 1, 1, NULL, NULL, NULL, NULL, 2, "
                "'engine', NULL, 0)"
            )
        )
    old.dispose()
    engine = connect(url)
    columns = {c["name"] for c in inspect(engine).get_columns("alerts")}
    assert {"unit", "since", "late", "details"} <= columns
    (alert,) = AlertRepo(engine).find()
    assert (alert.unit, alert.since, alert.late, dict(alert.details)) == ("", None, False, {})
    connect(url)  # a second start finds nothing to add
