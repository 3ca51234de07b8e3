"""The store against a real InfluxDB: escaping round-trips, typed errors."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from ingest.kernel.errors import StoreRejected, StoreUnavailable
from ingest.kernel.influxql import quote_ident, quote_literal, statement
from ingest.kernel.reads import Points, tags
from ingest.kernel.store import InfluxStore, encode_point
from scripts.devstack import free_port

pytestmark = pytest.mark.integration

HOSTILE_TAGS = [
    "plain",
    "with space",
    "comma,inside",
    "equals=inside",
    'double"quote',
    "single'quote",
    "back\\slash",
    "\\leading",
    '=," mixed ',
    "松阳县 不锈钢,有限=公司",
    "emoji 😀",
    "'; DROP DATABASE x; --",
    "a\\,b",
]
T0_MS = 1_772_323_200_000


def test_hostile_tag_values_round_trip(store: InfluxStore) -> None:
    lines = [
        encode_point("probe", {"plant": tag}, {"n": float(i), "text": tag}, T0_MS + i)
        for i, tag in enumerate(HOSTILE_TAGS)
    ]
    store.write_lines(lines)
    for i, tag in enumerate(HOSTILE_TAGS):
        series = store.query(f"SELECT n, text FROM probe WHERE plant = {quote_literal(tag)}")
        assert [row["n"] for s in series for row in s.rows()] == [i], tag
        assert series[0].rows()[0]["text"] == tag
    stored = store.query('SHOW TAG VALUES FROM probe WITH KEY = "plant"')
    assert sorted(v[1] for v in stored[0].values) == sorted(HOSTILE_TAGS)


def test_hostile_field_strings_round_trip(store: InfluxStore) -> None:
    texts = ["line\nbreak", 'quote " and \\ backslash', "tab\tand\r", "末尾\\", "esc\x1b\x85"]
    lines = [encode_point("probe", {"k": "v"}, {"text": t}, T0_MS + i) for i, t in enumerate(texts)]
    # No control character reaches InfluxDB raw (issue 14): each point is one line.
    assert all(len(line.splitlines()) == 1 for line in lines)
    store.write_lines(lines)
    rows = store.query("SELECT text FROM probe")[0].rows()
    assert [r["text"] for r in rows] == [
        "line\\nbreak",
        'quote " and \\ backslash',
        "tab\\tand\\r",
        "末尾\\",
        "esc\\u001b\\u0085",
    ]


def test_hostile_identifiers_are_quoted(store: InfluxStore) -> None:
    measurement = 'odd "name", with space=松'
    store.write_lines([encode_point(measurement, {"k": "v"}, {"x": 1.0}, T0_MS)])
    rows = store.query(f"SELECT x FROM {quote_ident(measurement)}")[0].rows()
    assert rows == [{"time": T0_MS, "x": 1.0}]


@pytest.mark.parametrize("tag", ["new\nline", "carriage\rreturn", "tab\there", "ends with\\", ""])
def test_tags_line_protocol_cannot_carry_are_refused(tag: str) -> None:
    with pytest.raises(StoreRejected):
        encode_point("probe", {"plant": tag}, {"x": 1.0}, T0_MS)


def test_same_point_written_twice_stays_one(store: InfluxStore) -> None:
    line = encode_point("gas", {"plant": "p", "meter": "m"}, {"volume_m3": 5.0}, T0_MS)
    store.write_lines([line])
    store.write_lines([line, line])
    assert store.query("SELECT count(volume_m3) FROM gas")[0].values[0][1] == 1


def test_gzip_batch(store: InfluxStore) -> None:
    lines = [
        encode_point("gas", {"plant": "p", "meter": "m"}, {"volume_m3": float(i)}, T0_MS + i)
        for i in range(5000)
    ]
    store.write_lines(lines)
    assert store.query("SELECT count(volume_m3) FROM gas")[0].values[0][1] == 5000


@pytest.mark.parametrize(("gzip_answers", "encoding"), [(False, None), (True, "gzip")])
def test_query_answers_are_plain_unless_gzip_is_asked_for(
    store: InfluxStore, gzip_answers: bool, encoding: str | None
) -> None:
    """InfluxDB compresses answers only when asked: by default a query's answer comes plain."""
    store.write_lines([encode_point("gas", {"plant": "p"}, {"volume_m3": 1.0}, T0_MS)])
    seen: list[str | None] = []
    with InfluxStore(store.url, store.database, gzip_answers=gzip_answers) as other:
        other._http.event_hooks["response"] = [
            lambda r: seen.append(r.headers.get("Content-Encoding"))
        ]
        assert other.query("SELECT volume_m3 FROM gas")[0].values[0][1] == 1.0
    assert seen == [encoding]


def test_bad_line_is_rejected_not_unavailable(store: InfluxStore) -> None:
    with pytest.raises(StoreRejected, match="400"):
        store.write_lines(["this is not line protocol"])


def test_field_type_conflict_is_rejected(store: InfluxStore) -> None:
    store.write_lines([encode_point("m", {"k": "v"}, {"x": 1.0}, T0_MS)])
    with pytest.raises(StoreRejected):
        store.write_lines([encode_point("m", {"k": "v"}, {"x": "text"}, T0_MS + 1)])


def test_bad_query_is_rejected(store: InfluxStore) -> None:
    with pytest.raises(StoreRejected, match="error parsing query"):
        store.query("SELECT FROM WHERE")


def test_unreachable_server_is_unavailable() -> None:
    with InfluxStore(f"http://127.0.0.1:{free_port()}", "x", timeout_seconds=1) as dead:
        assert dead.ping() is False
        with pytest.raises(StoreUnavailable, match="unreachable"):
            dead.write_lines(["m x=1 1"])


def test_a_server_that_accepts_but_does_not_answer_is_busy_not_unreachable() -> None:
    # What an officer saw during make run's back-fill: "unreachable" while InfluxDB was
    # only slow. A listening socket that never answers plays the busy server.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        busy = InfluxStore(url, "x", timeout_seconds=0.3)
        with busy, pytest.raises(StoreUnavailable, match=r"within 0.3 s \(busy\)"):
            busy.query("SELECT 1")


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (
            ("m", None, None, None, ()),
            'SELECT "v" FROM "m"',
        ),
        (
            (
                "m",
                datetime(2026, 3, 1, tzinfo=UTC),
                datetime(2026, 3, 2, tzinfo=UTC),
                {"plant": ["a", "b"], "domain": ["fuel"]},
                ("plant", "meter"),
            ),
            'SELECT "v" FROM "m" WHERE time >= \'2026-03-01T00:00:00.000000Z\' '
            "AND time < '2026-03-02T00:00:00.000000Z' AND (\"domain\" = 'fuel') "
            'AND ("plant" = \'a\' OR "plant" = \'b\') GROUP BY "plant", "meter"',
        ),
    ],
)
def test_the_store_interface_in_influxql(args: tuple, text: str) -> None:
    """`Store.read_range` as the InfluxDB engine words it (`influxql.statement`)."""
    measurement, start, end, where, group_by = args
    assert statement(Points(measurement, ("v",), start, end, tags(where), group_by)) == text
