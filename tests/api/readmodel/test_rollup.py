"""Rollups against a real InfluxDB: hand-computed hourly/daily points, idempotence, late data.

Late readings are written as the collector writes them (`ingest.kernel.dirty.write_readings`, with
their dirty marks): the next pass re-rolls exactly the hours they touch, whatever their age.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.fuel import rollup
from api.fuel.rollup import fuel_job
from api.fuel.rules import StepRules
from api.readmodel.job import ReadModelJob
from api.readmodel.state import Watermarks, read_watermarks
from api.settings import KpiDefinition
from ingest.kernel.dirty import write_readings
from ingest.kernel.store import InfluxStore

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, tzinfo=UTC)  # 08:00 in Songyang, so all of it falls on local 1 March
RULES = StepRules({"gas": 20_000.0, "coal": 50_000.0}, timedelta(hours=24))
GAS = [  # minutes after T0, register m3
    (0, 100),
    (15, 110),
    (30, 120),
    (45, 130),
    (60, 140),
    (75, 150),
    (90, 5),  # reset: a new baseline
    (105, 15),
    (120, 25),
    (165, 55),  # 45 min gap: a 30 m3 step, still counted
    (180, 65),
    (195, 50_065),  # 50 000 m3 in 15 min: implausible, not counted
    (210, 50_075),
]
COAL = [(30, 0), (90, 500), (60 * 31 + 30, 600)]  # the last step bridges 30 h of silence

# hour (UTC) -> consumption, readings, resets, implausible steps
GAS_HOURS = {
    T0: (30.0, 4, 0, 0),  # steps at :15 :30 :45
    T0 + timedelta(hours=1): (30.0, 4, 1, 0),  # 01:00 (from 00:45) + :15 + :45; the drop at :30
    T0 + timedelta(hours=2): (40.0, 2, 0, 0),  # 02:00 + 02:45 (30)
    T0 + timedelta(hours=3): (20.0, 3, 0, 1),  # 03:00 + 03:30; 03:15 implausible
}
COAL_HOURS = {
    T0: (0.0, 1, 0, 0),
    T0 + timedelta(hours=1): (500.0, 1, 0, 0),
    T0 + timedelta(hours=31): (0.0, 1, 0, 0),  # the 100 kg after 30 h of silence: not attributed
}


def lines(kind: str, meter: str, field: str, points: list[tuple[int, float]]) -> list[str]:
    out = []
    for minutes, value in points:
        ts_ms = int((T0 + timedelta(minutes=minutes)).timestamp() * 1000)
        out.append(f"{kind},plant=ss-a,meter={meter} {field}={float(value)!r} {ts_ms}")
    return out


def write_raw(store: InfluxStore) -> None:
    store.write_lines(
        lines("gas", "gas-1", "volume_m3", GAS) + lines("coal", "coal-1", "mass_kg", COAL)
    )


def job(store: InfluxStore, now: datetime) -> ReadModelJob:
    return fuel_job(store, KpiDefinition(), RULES, "Asia/Shanghai", clock=lambda: now)


def arrive_late(
    store: InfluxStore, kind: str, meter: str, field: str, points: list[tuple[int, float]]
) -> None:
    """Readings written as the collector writes them: with their dirty marks."""
    write_readings(store, lines(kind, meter, field, points))


def hourly(store: InfluxStore, kind: str) -> dict[datetime, tuple[float, int, int, int]]:
    (series,) = store.query(
        'SELECT "consumption", "readings", "resets", "implausible_steps" FROM "fuel_hourly" '
        f"WHERE \"kind\" = '{kind}' AND \"plant\" = 'ss-a'"
    )
    return {
        datetime.fromtimestamp(row[0] / 1000, UTC): (row[1], int(row[2]), int(row[3]), int(row[4]))
        for row in series.values
    }


def test_catch_up_writes_hand_computed_hourly_and_daily_points(store: InfluxStore) -> None:
    write_raw(store)
    now = datetime(2026, 3, 3, 0, 20, tzinfo=UTC)
    marks = job(store, now).run_pass()["fuel"].watermarks
    assert (marks.hourly, marks.daily) == (
        datetime(2026, 3, 3, tzinfo=UTC),
        datetime(2026, 3, 2, 16, tzinfo=UTC),
    )
    assert marks.cursor is not None
    assert read_watermarks(store, "fuel") == marks
    assert hourly(store, "gas") == GAS_HOURS
    assert hourly(store, "coal") == COAL_HOURS

    (gas_row,) = store.query(
        'SELECT "consumption", "kgce", "co2_kg" FROM "fuel_hourly" WHERE "kind" = \'gas\' '
        f"AND time = '{(T0 + timedelta(hours=2)).isoformat()}'"
    )[0].values
    assert gas_row[2] == pytest.approx(40 * 1.2143)
    assert gas_row[3] == pytest.approx(40 * 2.1622)

    daily = store.query(
        'SELECT "consumption", "readings", "hours_reported", "resets", "implausible_steps", "kgce" '
        'FROM "fuel_daily" GROUP BY "kind"'
    )
    by_kind = {s.tags["kind"]: s.values for s in daily}
    local_1_march = int(datetime(2026, 2, 28, 16, tzinfo=UTC).timestamp() * 1000)
    local_2_march = local_1_march + 86_400_000
    assert by_kind["gas"] == (
        (local_1_march, 120.0, 13.0, 4.0, 1.0, 1.0, pytest.approx(120 * 1.2143)),
    )
    assert by_kind["coal"] == (
        (local_1_march, 500.0, 2.0, 2.0, 0.0, 0.0, pytest.approx(500 * 0.7143)),
        (local_2_march, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0),
    )


def test_passes_are_idempotent(store: InfluxStore) -> None:
    write_raw(store)
    now = datetime(2026, 3, 3, tzinfo=UTC)
    job(store, now).run_pass()
    first = (hourly(store, "gas"), hourly(store, "coal"))
    job(store, now).run_pass()
    job(store, now).reroll_since(T0)
    assert (hourly(store, "gas"), hourly(store, "coal")) == first
    (count,) = store.query('SELECT count("consumption") FROM "fuel_hourly"')
    assert count.values[0][1] == len(GAS_HOURS) + len(COAL_HOURS)


def test_a_pass_that_writes_no_rollups_keeps_their_generation(store: InfluxStore) -> None:
    """Readers cache under the generation: only a pass that changed rollups renews it."""
    write_raw(store)
    job(store, T0 + timedelta(hours=4, minutes=10)).run_pass()
    first = read_watermarks(store, "fuel").generation
    job(store, T0 + timedelta(hours=5, minutes=5)).run_pass()  # nothing arrived
    assert first is not None and read_watermarks(store, "fuel").generation == first
    arrive_late(store, "gas", "gas-1", "volume_m3", [(225, 50_085)])
    job(store, T0 + timedelta(hours=5, minutes=10)).run_pass()
    assert read_watermarks(store, "fuel").generation not in (None, first)


def test_late_reading_is_rerolled_by_the_next_pass(store: InfluxStore) -> None:
    write_raw(store)
    job(store, T0 + timedelta(hours=4, minutes=10)).run_pass()
    assert hourly(store, "gas")[T0 + timedelta(hours=3)] == (20.0, 3, 0, 1)
    # A reading for 03:45 arrives minutes late: the next pass re-rolls its hour.
    arrive_late(store, "gas", "gas-1", "volume_m3", [(225, 50_085)])
    report = job(store, T0 + timedelta(hours=5, minutes=5)).run_pass()["fuel"]
    assert report.watermarks.hourly == T0 + timedelta(hours=5)
    assert report.marks == 1
    assert hourly(store, "gas")[T0 + timedelta(hours=3)] == (30.0, 4, 0, 1)


def test_backfill_months_late_is_rerolled_without_an_operator(store: InfluxStore) -> None:
    write_raw(store)
    now = datetime(2026, 7, 5, tzinfo=UTC)  # four months after the data
    job(store, now).run_pass()
    arrive_late(store, "gas", "gas-1", "volume_m3", [(225, 50_085)])
    report = job(store, now).run_pass()["fuel"]
    assert report.oldest_hour == T0 + timedelta(hours=3)
    assert hourly(store, "gas")[T0 + timedelta(hours=3)] == (30.0, 4, 0, 1)
    (day,) = store.query('SELECT "consumption" FROM "fuel_daily" WHERE "kind" = \'gas\'')
    assert day.values[0][1] == 130.0
    # Nothing else arrived: the pass after re-rolls nothing (only marks within the safety lag).
    assert job(store, now).run_pass()["fuel"].hours <= report.hours


def test_late_reading_inside_a_silence_re_rolls_the_next_readings_hour(store: InfluxStore) -> None:
    write_raw(store)
    now = datetime(2026, 3, 4, tzinfo=UTC)
    job(store, now).run_pass()
    assert hourly(store, "coal")[T0 + timedelta(hours=31)] == (0.0, 1, 0, 0)
    # The logger backfills one reading in the 30 h silence: 500 -> 550 (hour 20) -> 600
    # (hour 31). Hour 31 gets no new reading, yet its step now bridges 11.5 h and counts.
    arrive_late(store, "coal", "coal-1", "mass_kg", [(60 * 20, 550)])
    job(store, now).run_pass()
    coal = hourly(store, "coal")
    assert coal[T0 + timedelta(hours=20)] == (50.0, 1, 0, 0)
    assert coal[T0 + timedelta(hours=31)] == (50.0, 1, 0, 0)


def test_operator_reroll_since_repairs_unmarked_writes(store: InfluxStore) -> None:
    write_raw(store)
    now = datetime(2026, 3, 5, tzinfo=UTC)
    job(store, now).run_pass()
    # Written around the collector (no marks): only an operator's re-roll sees it.
    store.write_lines(lines("gas", "gas-1", "volume_m3", [(225, 50_085)]))
    job(store, now).run_pass()
    assert hourly(store, "gas")[T0 + timedelta(hours=3)] == (20.0, 3, 0, 1)
    job(store, now).reroll_since(T0)
    assert hourly(store, "gas")[T0 + timedelta(hours=3)] == (30.0, 4, 0, 1)


def test_empty_database_rolls_nothing(store: InfluxStore) -> None:
    assert job(store, T0).run_pass()["fuel"].watermarks == Watermarks(None, None)
    assert store.query('SELECT count("consumption") FROM "fuel_hourly"') == []


def test_rollup_cli(
    store: InfluxStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from api.__main__ import main

    write_raw(store)
    monkeypatch.setenv("PLANTWATCH_INFLUX_URL", store.url)
    monkeypatch.setenv("PLANTWATCH_INFLUX_DB", store.database)
    monkeypatch.setenv("PLANTWATCH_ROLLUP_CHUNK_DAYS", "400")
    assert main(["rollup"]) == 0
    assert "rolled up until" in capsys.readouterr().out
    assert hourly(store, "gas") == GAS_HOURS
    store.write_lines(lines("gas", "gas-1", "volume_m3", [(225, 50_085)]))  # no marks
    assert main(["rollup", "--since", "2026-03-01T08:00:00+08:00"]) == 0
    assert hourly(store, "gas")[T0 + timedelta(hours=3)] == (30.0, 4, 0, 1)
    assert main(["rollup", "--since", "2026-03-01"]) == 2
    assert "needs a UTC offset" in capsys.readouterr().err


def test_a_county_is_rolled_up_a_batch_of_plants_at_a_time(
    store: InfluxStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_raw(store)
    other = [
        line.replace("plant=ss-a", "plant=ss-b") for line in lines("gas", "gas-1", "volume_m3", GAS)
    ]
    store.write_lines(other)
    monkeypatch.setattr(rollup, "PLANTS_PER_QUERY", 1)
    job(store, datetime(2026, 3, 3, tzinfo=UTC)).run_pass()
    assert hourly(store, "gas") == GAS_HOURS
    assert hourly(store, "coal") == COAL_HOURS
    (count,) = store.query(
        'SELECT count("consumption") FROM "fuel_hourly" WHERE "plant" = \'ss-b\''
    )
    assert count.values[0][1] == len(GAS_HOURS)
