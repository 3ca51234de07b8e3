"""Back up a running county, restore it into an empty var/, and read the same figures.

`python -m api backup DIR` while `make run` runs; `python -m api restore DIR` into a new,
empty var/ with everything stopped; `make run` there restores InfluxDB at its start.
"""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.scripts.runstack import RunStack, new_officer_key, tiny_registry
from tests.support import ROOT, child_env, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.integration]


def county_figures(stack: RunStack, at: datetime, month: str) -> dict[str, Any]:
    """KPI, the leather plant's VOC, the alert list, the county's VOC month, the report."""
    voc_month = stack.get(
        "/api/v1/voc/emissions", period="month", start=f"{month}-01T00:00:00+08:00"
    )
    report = stack.get("/api/v1/reports/monthly", month=month, format="xlsx", lang="en")
    assert voc_month.status_code == 200 and report.status_code == 200, report.text
    voc = {k: v for k, v in voc_month.json().items() if k != "end"}  # a month in progress: now
    sheets = load_workbook(io.BytesIO(report.content), read_only=True)
    cells = {
        ws.title: [row for row in ws.iter_rows(values_only=True) if not _generated_line(row)]
        for ws in sheets.worksheets
    }
    return {**stack.settled_figures(at), "voc_month": voc, "report": cells}


def _generated_line(row: tuple[Any, ...]) -> bool:
    """The line that says when the report was made (a month in progress: up to then)."""
    return any(isinstance(v, str) and "generated" in v.lower() for v in row)


def api_command(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "api", *args],
        cwd=ROOT, env=child_env(env), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_restored_var_gives_the_same_kpi_voc_month_report_and_keys(tmp_path: Path) -> None:
    registry = tiny_registry(tmp_path / "registry.toml")
    first = RunStack(tmp_path / "var", registry, backfill_days=1)
    second = RunStack(tmp_path / "restored" / "var", registry, backfill_days=1)
    try:
        first.start(simulator="backfill")
        assert wait_until(first.simulator_done, 90.0), first.diagnosis()
        at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        month = (at - timedelta(days=1)).astimezone().strftime("%Y-%m")
        before = county_figures(first, at, month)
        assert before["raw"]["gas"] > 0
        officer = new_officer_key(first)
        out = api_command(
            ["backup", str(tmp_path / "backup")], {"PLANTWATCH_ENV_FILE": str(first.var / ".env")}
        )
        assert "influxdb" in out and "plantwatch.db" in out
        first.interrupt()

        api_command(
            ["restore", str(tmp_path / "backup")],
            {
                "PLANTWATCH_VAR_DIR": str(second.var),
                "PLANTWATCH_DATABASE_URL": f"sqlite:///{second.var}/plantwatch.db",
                "PLANTWATCH_CREDENTIALS_FILE": str(second.var / "mqtt-credentials.json"),
            },
        )
        second.start(simulator="off")
        assert "restored InfluxDB" in second.log()
        assert county_figures(second, at, month) == before
        assert second.get("/api/v1/kpi/gas-share", key=officer).status_code == 200
    finally:
        first.stop()
        second.stop()
