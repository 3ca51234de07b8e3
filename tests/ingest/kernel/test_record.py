"""First write is the record: the pure rules with literal lines and literal stored states."""

from __future__ import annotations

import pytest

from ingest.kernel.lineproto import encode, parse_line
from ingest.kernel.record import (
    LATE_FILL_AFTER_MS,
    STORED,
    LineKey,
    Point,
    RecentIndex,
    Revision,
    RevisionId,
    Sig,
    declared_source,
    late_filled,
    number_revisions,
    plan_writes,
    revision_point,
    signatures,
)

T0 = 1_772_323_200_000  # 2026-03-01T00:00:00Z
HOUR = 3_600_000
S = ("voc", "sl-001", "stack-1")


def line(values: str, ts: int = T0, arrived: int = T0 + 5_000, source: str = "mqtt") -> str:
    # as a collector writes it: fields sorted, so arrival and source first
    return f'voc,meter=stack-1,plant=sl-001 _arrived_ms={arrived}i,_source="{source}",{values} {ts}'


def parsed(text: str) -> Point:
    point = parse_line(text)
    assert point is not None
    return point


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'voc,meter=stack-1,plant=sl-001 nmhc_mgm3=12.5,nmhc_mgm3_flag="N" 1772323200000',
            Point(
                "voc",
                {"meter": "stack-1", "plant": "sl-001"},
                {"nmhc_mgm3": 12.5, "nmhc_mgm3_flag": "N"},
                T0,
            ),
        ),
        (
            'gas,meter=g\\ 1,plant=p volume_m3=3.0,x_invalid="a \\"b\\", c=d",_arrived_ms=7i 5',
            Point(
                "gas",
                {"meter": "g 1", "plant": "p"},
                {"volume_m3": 3.0, "x_invalid": 'a "b", c=d', "_arrived_ms": 7},
                5,
            ),
        ),
        (
            "coal,plant=p,meter=m mass_kg=1e3 9",
            Point("coal", {"plant": "p", "meter": "m"}, {"mass_kg": 1000.0}, 9),
        ),
        ("garbage", None),
        ("voc,plant=p nmhc=1", None),  # no time
        ('voc,plant=p nmhc="open 1', None),  # unterminated string
        ("voc,plant=p nmhc=abc 1", None),
    ],
)
def test_parse_line(text: str, expected: Point | None) -> None:
    assert parse_line(text) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"a": 1.0, "a_flag": "N"}, {"a": Sig(1.0, "N")}),
        ({"a": 1.0}, {"a": Sig(1.0, "N")}),
        ({"a": 2.0, "a_flag": "T", "_arrived_ms": 5, "_source": "http"}, {"a": Sig(2.0, "T")}),
        ({"b_invalid": "b=x is not a number"}, {"b": Sig(None, "N", "b=x is not a number")}),
    ],
)
def test_signatures(fields: dict[str, object], expected: dict[str, Sig]) -> None:
    assert signatures(fields) == expected


STORED_STATE = {(S, T0): {"nmhc_mgm3": Sig(80.0, "N"), "flow_m3h": Sig(1000.0, "N")}}


@pytest.mark.parametrize(
    ("incoming", "lines", "revised", "duplicates"),
    [
        # a new time: written as it came
        ([line('nmhc_mgm3=5.0,nmhc_mgm3_flag="N"', T0 + 60_000)], 1, [], 0),
        # an identical resend (a later arrival): nothing written
        (
            [
                line(
                    'nmhc_mgm3=80.0,nmhc_mgm3_flag="N",flow_m3h=1000.0,flow_m3h_flag="N"',
                    arrived=T0 + 9_000_000,
                )
            ],
            0,
            [],
            2,
        ),
        # a clean value over a recorded exceedance: a revision, the record untouched
        (
            [line('nmhc_mgm3=20.0,nmhc_mgm3_flag="N"', source="http")],
            0,
            [("nmhc_mgm3", 20.0, 80.0)],
            0,
        ),
        # same value, another flag: a revision too (a flag is part of the record)
        ([line('nmhc_mgm3=80.0,nmhc_mgm3_flag="M"')], 0, [("nmhc_mgm3", 80.0, 80.0)], 0),
        # a value name not recorded yet at that time: written (only that value)
        (
            [line('toluene_mgm3=3.0,toluene_mgm3_flag="N",nmhc_mgm3=80.0,nmhc_mgm3_flag="N"')],
            1,
            [],
            1,
        ),
        # within one batch the first is the record, a later different one a revision
        (
            [
                line("nmhc_mgm3=1.0", T0 + HOUR),
                line("nmhc_mgm3=2.0", T0 + HOUR),
                line("nmhc_mgm3=1.0", T0 + HOUR),
            ],
            1,
            [("nmhc_mgm3", 2.0, 1.0)],
            1,
        ),
    ],
)
def test_plan_writes(
    incoming: list[str], lines: int, revised: list[tuple[str, float, float]], duplicates: int
) -> None:
    plan = plan_writes([parsed(t) for t in incoming], STORED_STATE)
    assert len(plan.points) == lines
    assert [(r.name, r.revised.value, r.record.value) for r in plan.revisions] == revised
    assert plan.duplicates == duplicates


def test_a_value_added_later_writes_only_that_value_and_keeps_the_first_arrival() -> None:
    plan = plan_writes(
        [
            parsed(
                line(
                    'toluene_mgm3=3.0,toluene_mgm3_flag="N",nmhc_mgm3=80.0', arrived=T0 + 9_000_000
                )
            )
        ],
        STORED_STATE,
    )
    point = plan.points[0]
    assert dict(point.fields) == {"toluene_mgm3": 3.0, "toluene_mgm3_flag": "N"}
    assert plan.written[(S, T0)]["toluene_mgm3"] == Sig(3.0, "N")


def test_a_revision_keeps_source_and_arrival() -> None:
    plan = plan_writes(
        [parsed(line("nmhc_mgm3=20.0", arrived=T0 + 99, source="http"))], STORED_STATE
    )
    assert plan.revisions == [
        Revision(S, T0, "nmhc_mgm3", Sig(20.0, "N"), Sig(80.0, "N"), "http", T0 + 99)
    ]


def rev(value: float) -> Revision:
    return Revision(S, T0, "nmhc_mgm3", Sig(value, "N"), Sig(80.0, "N"), "mqtt", T0 + 1)


@pytest.mark.parametrize(
    ("kept", "incoming", "numbers", "duplicates"),
    [
        ({}, [20.0], [1], 0),
        ({}, [20.0, 20.0, 30.0], [1, 2], 1),  # a redelivered revision is a duplicate
        ({(S, T0, "nmhc_mgm3"): [(1, Sig(20.0, "N"))]}, [20.0, 30.0], [2], 1),
        ({(S, T0, "nmhc_mgm3"): [(1, Sig(20.0, "N")), (2, Sig(25.0, "N"))]}, [40.0], [3], 0),
    ],
)
def test_number_revisions(
    kept: dict, incoming: list[float], numbers: list[int], duplicates: int
) -> None:
    out, dup = number_revisions([rev(v) for v in incoming], kept)
    assert [n for n, _ in out] == numbers
    assert dup == duplicates


def test_revision_point_and_id() -> None:
    point = parse_line(encode(revision_point(2, rev(20.0))))
    assert point is not None
    assert point.measurement == "revisions"
    assert dict(point.tags) == {
        "measurement": "voc",
        "meter": "stack-1",
        "n": "2",
        "name": "nmhc_mgm3",
        "plant": "sl-001",
    }
    assert point.fields["value"] == 20.0 and point.fields["record_value"] == 80.0
    rid = RevisionId("sl-001", "stack-1", "voc", "nmhc_mgm3", T0, 2)
    assert RevisionId.parse(str(rid)) == rid
    assert str(rid) == f"sl-001.stack-1.voc.nmhc_mgm3.{T0}.2"


@pytest.mark.parametrize(
    "text", ["", "a.b.c.d.e.f", "a.b.c.d.1", "a.b.c.d.1.2.3", "a.b/../c.d.1.2", "a.b.c.d e.1.2"]
)
def test_revision_id_refuses_anything_else(text: str) -> None:
    assert RevisionId.parse(text) is None


@pytest.mark.parametrize(
    ("hour_start", "arrived", "late"),
    [
        (T0, None, False),
        (T0, T0 + 30 * 60_000, False),  # within the hour
        (T0, T0 + HOUR + LATE_FILL_AFTER_MS, False),  # exactly at the allowance
        (T0, T0 + HOUR + LATE_FILL_AFTER_MS + 1, True),
        (T0, T0 + 3 * 86_400_000, True),  # days later
    ],
)
def test_late_filled(hour_start: int, arrived: int | None, late: bool) -> None:
    assert late_filled(hour_start, arrived) is late


@pytest.mark.parametrize(
    ("declared", "source"),
    [(None, "mqtt"), ("http", "http"), ("records", "records"), ("hj212", "mqtt"), (3, "mqtt")],
)
def test_declared_source(declared: object, source: str) -> None:
    assert declared_source(declared) == source


@pytest.mark.parametrize(
    ("text", "same_as"),
    [
        # arrival and source are not part of the values
        (line("nmhc_mgm3=1.0", T0, arrived=5), "voc,meter=stack-1,plant=sl-001 nmhc_mgm3=1.0 {ts}"),
        (
            line("nmhc_mgm3=1.0", T0, arrived=9, source="http"),
            "voc,meter=stack-1,plant=sl-001 nmhc_mgm3=1.0 {ts}",
        ),
        # the order of fields is not part of the values either
        (
            'voc,meter=stack-1,plant=sl-001 A=1.0,_arrived_ms=1i,_source="mqtt",b=2.0 {ts}',
            "voc,meter=stack-1,plant=sl-001 b=2.0,A=1.0 {ts}",
        ),
    ],
)
def test_line_key_digests_values_only(text: str, same_as: str) -> None:
    found = LineKey.of(parsed(text.format(ts=T0)))
    assert found.key == (S, T0)
    assert found.values == LineKey.of(parsed(same_as.format(ts=T0))).values


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("nmhc_mgm3=1.0", "nmhc_mgm3=2.0"),
        ('nmhc_mgm3=1.0,nmhc_mgm3_flag="N"', 'nmhc_mgm3=1.0,nmhc_mgm3_flag="M"'),
        ("nmhc_mgm3=1.0", "nmhc_mgm3=1i"),  # a float and an integer are not the same value
        ("nmhc_mgm3=1.0", "nmhc_mgm3=1.0,backfill=true"),
    ],
)
def test_line_key_tells_other_values_apart(first: str, second: str) -> None:
    assert LineKey.of(parsed(line(first))).values != LineKey.of(parsed(line(second))).values


def key(values: str, ts: int, arrived: int = T0 + 5_000) -> LineKey:
    return LineKey.of(parsed(line(values, ts, arrived)))


def test_recent_index_answers_only_from_its_horizon_on() -> None:
    index = RecentIndex(points_per_series=3)
    k1 = key("nmhc_mgm3=1.0", T0 + 60_000)
    assert index.verdict(k1) is None  # nothing known yet: ask the store
    index.learn(S, T0, [T0])
    assert index.verdict(k1) == "new"
    assert index.verdict(key("nmhc_mgm3=80.0", T0)) is None  # stored, values unknown here
    index.remember({k1.key: k1.values})
    assert index.verdict(key("nmhc_mgm3=1.0", T0 + 60_000, arrived=T0 + 9_000_000)) == "duplicate"
    assert index.verdict(key("nmhc_mgm3=2.0", T0 + 60_000)) is None  # the store decides
    assert index.verdict(key("nmhc_mgm3=1.0", T0 - 1)) is None  # older than the horizon
    index.remember({(S, T0 + k * 60_000): STORED for k in (2, 3)})
    # four entries over a cap of three: the oldest goes, the horizon moves past it
    assert index.horizon(S) == T0 + 1
    assert index.verdict(key("nmhc_mgm3=80.0", T0)) is None
