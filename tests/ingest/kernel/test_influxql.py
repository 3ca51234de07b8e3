"""The InfluxDB engine's statement text for each read request (`ingest.kernel.influxql`).

A literal table: what InfluxDB is asked is read here, not searched for in the API's code.
What the statements answer is checked against a real InfluxDB by the read model's tests
(tests/api/fuel/test_exact.py sums against the pure rule, tests/api/voc, ...).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.kernel.influxql import statement
from ingest.kernel.reads import (
    Buckets,
    Column,
    Points,
    Read,
    StepSums,
    Summary,
    TagValues,
    tags,
)

T0 = datetime(2026, 11, 3, 5, 30, tzinfo=UTC)
T1 = datetime(2026, 11, 6, 5, 30, tzinfo=UTC)
RANGE = "time >= '2026-11-03T05:30:00.000000Z' AND time < '2026-11-06T05:30:00.000000Z'"
LOOKBACK = "time >= '2026-11-02T05:30:00.000000Z' AND time < '2026-11-06T05:30:00.000000Z'"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
PLANTS = tags({"plant": ["a", "b'c"]})
STEPS = (
    'SELECT non_negative_difference("gas_m3") AS "step", '
    'non_negative_derivative("gas_m3", 1h) AS "rate", elapsed("gas_m3", 1ms) AS "gap" '
    f'FROM "gas" WHERE {LOOKBACK} AND ("plant" = \'a\' OR "plant" = \'b\\\'c\') '
    'GROUP BY "plant", "meter"'
)
BY_HOUR = 'GROUP BY time(3600000ms, 1800000ms), "plant", "meter" fill(none)'


def step_sums(measure: str, first_hour: bool = False) -> StepSums:
    return StepSums(
        measure,  # type: ignore[arg-type]
        "gas",
        "gas_m3",
        T0,
        T1,
        Buckets(HOUR, timedelta(minutes=30)),
        20_000.0,
        DAY,
        PLANTS,
        ("plant", "meter"),
        first_hour,
    )


@pytest.mark.parametrize(
    ("request_", "text"),
    [
        (
            Points("gas", ("gas_m3", "gas_m3_flag"), T0, T1, (), ("plant", "meter")),
            f'SELECT "gas_m3", "gas_m3_flag" FROM "gas" WHERE {RANGE} GROUP BY "plant", "meter"',
        ),
        (
            Points("voc_hourly", (), T0, T1, tags(plant="a")),
            f'SELECT * FROM "voc_hourly" WHERE {RANGE} AND ("plant" = \'a\')',
        ),
        (
            Points(
                "gas", ("gas_m3",), T0, T1, PLANTS, match=(("gas_m3_flag", "=", "S"),), newest=1
            ),
            f'SELECT "gas_m3" FROM "gas" WHERE {RANGE} AND ("plant" = \'a\' OR '
            "\"plant\" = 'b\\'c') AND \"gas_m3_flag\" = 'S' ORDER BY time DESC LIMIT 1",
        ),
        (
            Points("revisions", ("arrived_ms",), None, None, match=(("arrived_ms", ">=", 5),)),
            'SELECT "arrived_ms" FROM "revisions" WHERE "arrived_ms" >= 5',
        ),
        (
            Summary(("gas",), (Column("last", "gas_m3"),), None, T1, tags(meter="m", plant="a")),
            'SELECT last("gas_m3") FROM "gas" WHERE time < \'2026-11-06T05:30:00.000000Z\' '
            "AND (\"meter\" = 'm') AND (\"plant\" = 'a')",
        ),
        (
            Summary(("gas",), (Column("first", "gas_m3"),)),
            'SELECT first("gas_m3") FROM "gas"',
        ),
        (
            Summary(
                ("fuel_hourly",),
                (Column("sum", "consumption", "consumption"), Column("count", "readings", "hours")),
                T0,
                T1,
                (),
                ("kind",),
                Buckets(DAY, timedelta(0), "Asia/Shanghai"),
            ),
            'SELECT sum("consumption") AS "consumption", count("readings") AS "hours" '
            f'FROM "fuel_hourly" WHERE {RANGE} GROUP BY time(86400000ms, 0ms), "kind" fill(none) '
            "tz('Asia/Shanghai')",
        ),
        (
            Summary(("voc", "voc_minute"), (Column("max", "nmhc"),), T0, T1, (), ("plant",)),
            f'SELECT max("nmhc") FROM "voc", "voc_minute" WHERE {RANGE} GROUP BY "plant"',
        ),
        (
            step_sums("consumption"),
            f'SELECT sum("step") AS "consumption" FROM ({STEPS}) WHERE {LOOKBACK} '
            f'AND "rate" <= 20000.0 AND "gap" <= 86400000 {BY_HOUR}',
        ),
        (
            step_sums("implausible_steps"),
            f'SELECT count("step") AS "implausible_steps" FROM ({STEPS}) WHERE {LOOKBACK} '
            f'AND "rate" > 20000.0 AND "gap" <= 86400000 {BY_HOUR}',
        ),
        (
            step_sums("resets"),
            'SELECT count("d") AS "resets" FROM (SELECT difference("gas_m3") AS "d", '
            'elapsed("gas_m3", 1ms) AS "gap" FROM "gas" '
            f"WHERE {LOOKBACK} AND (\"plant\" = 'a' OR \"plant\" = 'b\\'c') "
            f'GROUP BY "plant", "meter") WHERE {LOOKBACK} AND "d" < 0 AND "gap" <= 86400000 '
            f"{BY_HOUR}",
        ),
        (
            step_sums("hours", first_hour=True),
            'SELECT count("c") AS "hours" FROM (SELECT count("gas_m3") AS "c" FROM "gas" '
            f"WHERE {RANGE} AND (\"plant\" = 'a' OR \"plant\" = 'b\\'c') "
            'GROUP BY time(1h), "plant", "meter" fill(none)) '
            "WHERE time >= '2026-11-03T05:00:00.000000Z' AND "
            f"time < '2026-11-06T05:30:00.000000Z' {BY_HOUR}",
        ),
        (
            TagValues("gas", "plant"),
            'SHOW TAG VALUES FROM "gas" WITH KEY = "plant"',
        ),
    ],
)
def test_each_request_is_one_statement(request_: Read, text: str) -> None:
    assert statement(request_) == text


def test_an_empty_list_of_tag_values_is_refused() -> None:
    with pytest.raises(ValueError, match="selects nothing"):
        tags({"plant": []})


def test_requests_are_keys() -> None:
    """The read model's cache keeps answers under the request itself."""
    assert hash(step_sums("hours")) == hash(step_sums("hours"))
    assert {step_sums("hours"): 1}[step_sums("hours")] == 1
    assert step_sums("hours") != step_sums("resets")
