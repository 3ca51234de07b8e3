"""The late-backfill screenshot script: its data and, opt-in, the whole run."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.fuel.rules import interval_sums
from bench import late_backfill
from ingest.kernel.schema import parse_payload

NOW = datetime(2026, 11, 28, 21, 37, tzinfo=UTC)


def ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def test_the_on_time_and_late_messages_hold_every_reading_once() -> None:
    regs = late_backfill.registers(NOW)
    late_from = NOW - timedelta(days=late_backfill.LATE_DAYS)
    on_time = late_backfill.messages(regs, lambda p, t: p != "ss-001" or t < late_from)
    late = late_backfill.messages(regs, lambda p, t: p == "ss-001" and t >= late_from)
    assert {topic for topic, _ in late} == {
        "plantwatch/plants/ss-001/meters/gas-1/readings",
        "plantwatch/plants/ss-001/meters/coal-1/readings",
    }
    counted = sum(len(parse_payload(payload)) for _, payload in on_time + late)
    assert counted == sum(len(times) for times, _ in regs.values())
    assert all(r.ts >= late_from for _, payload in late for r in parse_payload(payload))


def test_the_expected_late_usage_is_the_step_rule() -> None:
    times, values = late_backfill.registers(NOW)[("ss-001", "gas")]
    start, end = NOW - timedelta(days=3), NOW - timedelta(days=1)
    rule = interval_sums([ms(t) for t in times], values, ms(start), ms(end), 1e9, 86_400_000)
    assert late_backfill.used(times, values, start, end) == pytest.approx(rule.consumption)
    assert rule.consumption > 0


@pytest.mark.skipif(
    os.environ.get("PLANTWATCH_LATE_BACKFILL") != "1",
    reason="opt-in (about a minute, starts a browser): PLANTWATCH_LATE_BACKFILL=1",
)
def test_the_late_firm_is_judged_again_after_its_upload(tmp_path: Path) -> None:
    assert late_backfill.main(["--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.glob("*.png")} == {
        "before-overview.png",
        "before-plant-ss-001.png",
        "after-overview.png",
        "after-plant-ss-001.png",
    }
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["before"]["row"]["status"] == "unknown"
    assert figures["after"]["row"]["status"] == "gas"
    assert figures["after"]["late_days_usage"]["gas"] == pytest.approx(
        figures["late_days_usage_want"]["gas"], abs=1e-3
    )
