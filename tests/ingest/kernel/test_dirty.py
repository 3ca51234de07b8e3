"""Rollup dirty marks: literal points (and lines) in, marks out; read back from a real InfluxDB."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from ingest.kernel.dirty import (
    DIRTY_MEASUREMENT,
    HOUR_MS,
    dirty_lines,
    dirty_points,
    dirty_runs,
    hour_runs,
    write_readings,
)
from ingest.kernel.lineproto import Point
from ingest.kernel.store import InfluxStore

T0_MS = 1_772_323_200_000  # 2026-03-01T00:00:00Z


@pytest.mark.parametrize(
    ("point", "mark"),
    [
        (
            Point("gas", {"meter": "gas-1", "plant": "ss-001"}, {"volume_m3": 1.0}, T0_MS + 5),
            ({"measurement": "gas", "plant": "ss-001", "meter": "gas-1"}, T0_MS, T0_MS + HOUR_MS),
        ),
        (
            Point("voc_hour", {"meter": "s 1", "plant": "sl-001"}, {"x": 'a "b"'}, T0_MS - 1),
            (
                {"measurement": "voc_hour", "plant": "sl-001", "meter": "s 1"},
                T0_MS - HOUR_MS,
                T0_MS,
            ),
        ),
        (
            Point("voc", {}, {"dmf_mgm3": 1.0}, T0_MS),
            ({"measurement": "voc", "plant": "-", "meter": "-"}, T0_MS, T0_MS + HOUR_MS),
        ),
        (Point("electricity", {"meter": "e", "plant": "p"}, {"power_kw": 1.0}, T0_MS), None),
        (Point("dead_letter", {"plant": "p", "code": "c"}, {"reason": "r"}, T0_MS), None),
    ],
)
def test_dirty_points_marks_come_from_the_points(
    point: Point, mark: tuple[dict[str, str], int, int] | None
) -> None:
    marks = dirty_points([point], int(time.time() * 1000))
    if mark is None:
        assert marks == []
        return
    [got] = marks
    tags, first, end = mark
    assert got.measurement == DIRTY_MEASUREMENT and dict(got.tags) == tags
    assert dict(got.fields) == {"first_hour_ms": first, "end_hour_ms": end, "points": 1}


@pytest.mark.parametrize(
    ("hours", "runs"),
    [
        ([], []),
        ([0], [(0, HOUR_MS)]),
        ([0, HOUR_MS, 3 * HOUR_MS], [(0, 2 * HOUR_MS), (3 * HOUR_MS, 4 * HOUR_MS)]),
        ([2 * HOUR_MS, 0, HOUR_MS, HOUR_MS], [(0, 3 * HOUR_MS)]),
    ],
)
def test_hour_runs(hours: list[int], runs: list[tuple[int, int]]) -> None:
    assert hour_runs(hours) == runs


def test_dirty_lines_one_mark_per_run_per_series_only_for_tracked_measurements() -> None:
    lines = [
        f"gas,meter=gas-1,plant=ss-001 volume_m3=1.0 {T0_MS + 60_000}",
        f"gas,meter=gas-1,plant=ss-001 volume_m3=2.0 {T0_MS + HOUR_MS + 60_000}",
        f"gas,meter=gas-1,plant=ss-001 volume_m3=3.0 {T0_MS + 5 * HOUR_MS}",
        f"coal,meter=coal-1,plant=ss-001 mass_kg=1.0 {T0_MS}",
        f"electricity,meter=elec-1,plant=ot-001 energy_kwh=1.0 {T0_MS}",  # not rolled up
        f'register_event,meter=gas-1,plant=ss-001 event="reset" {T0_MS}',
    ]
    now_ms = int(time.time() * 1000)
    marks = dirty_lines(lines, now_ms)
    assert len(marks) == 3
    assert all(m.startswith(DIRTY_MEASUREMENT + ",") for m in marks)
    stamps = [int(m.rsplit(" ", 1)[1]) for m in marks]
    assert len(set(stamps)) == 3 and min(stamps) >= now_ms
    coal, gas_first, gas_second = marks
    assert "measurement=coal" in coal and "points=1i" in coal
    assert f"first_hour_ms={T0_MS}i" in gas_first and "points=2i" in gas_first
    assert f"end_hour_ms={T0_MS + 2 * HOUR_MS}i" in gas_first
    assert f"first_hour_ms={T0_MS + 5 * HOUR_MS}i" in gas_second
    assert dirty_lines(lines[4:], now_ms) == []
    # VOC readings (real-time, minute, hourly) are marked for the voc_hourly rollup
    voc = [
        f"{m},meter=stack-1,plant=sl-001 dmf_mgm3=1.0 {T0_MS}"
        for m in ("voc", "voc_minute", "voc_hour")
    ]
    assert len(dirty_lines(voc, now_ms)) == 3
    assert len(dirty_lines(lines + voc, now_ms, frozenset({"voc"}))) == 1


def test_stamps_never_repeat_within_a_process() -> None:
    line = [f"gas,meter=gas-1,plant=ss-001 volume_m3=1.0 {T0_MS}"]
    now_ms = int(time.time() * 1000)
    stamps = [int(dirty_lines(line, now_ms)[0].rsplit(" ", 1)[1]) for _ in range(50)]
    assert len(set(stamps)) == 50


@pytest.mark.integration
def test_write_readings_marks_are_read_back_by_arrival_time(store: InfluxStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    months_ago = T0_MS  # device time long before the arrival
    write_readings(
        store,
        [
            f"gas,meter=gas-1,plant=ss-001 volume_m3=1.0 {months_ago}",
            f"gas,meter=gas-1,plant=ss-001 volume_m3=2.0 {months_ago + HOUR_MS}",
        ],
    )
    after = datetime.now(UTC) + timedelta(seconds=1)
    (run,) = dirty_runs(store, before, after, {"gas", "coal"})
    assert (run.measurement, run.plant, run.meter) == ("gas", "ss-001", "gas-1")
    assert run.first_hour == datetime(2026, 3, 1, tzinfo=UTC)
    assert run.end_hour == datetime(2026, 3, 1, 2, tzinfo=UTC)
    assert before <= run.written_at <= after
    # The readings themselves are stored as sent.
    (series,) = store.query('SELECT count("volume_m3") FROM "gas"')
    assert series.values[0][1] == 2
    assert dirty_runs(store, after, after + timedelta(hours=1), {"gas"}) == []
    assert dirty_runs(store, before, after, {"voc"}) == []
