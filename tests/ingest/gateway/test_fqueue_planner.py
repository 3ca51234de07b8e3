"""The forward queue's durability rules and the planner's gap and drift rules (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.gateway import fqueue
from ingest.gateway.forward import Target, packet_key, parse_targets, raw_key
from ingest.gateway.fqueue import FileQueue
from ingest.gateway.planner import Backfill, backfill_for, drift_seconds
from ingest.kernel import hj212
from tests.ingest.gateway.packets import REAL_PACKETS

T = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
GAP = timedelta(minutes=10)
SPAN = timedelta(hours=72)


def test_records_survive_reopening_and_the_cursor_moves_only_on_commit(tmp_path: Path) -> None:
    q = FileQueue(tmp_path)
    q.append([b"##0001A0000\r\n", b"##0002BB0000"], 1000)
    q.append([b"##0003CCC0000"], 2000)
    first = q.read(q.cursor, 10)
    assert [r.packet for r in first] == [b"##0001A0000", b"##0002BB0000", b"##0003CCC0000"]
    q.commit(first[0].end)
    q.close()
    again = FileQueue(tmp_path)
    assert [r.packet for r in again.read(again.cursor, 10)] == [b"##0002BB0000", b"##0003CCC0000"]
    assert again.oldest_queued_ms() == 1000


def test_a_torn_tail_is_cut_off(tmp_path: Path) -> None:
    q = FileQueue(tmp_path)
    q.append([b"##0001A0000"], 1)
    q.close()
    with open(tmp_path / "queue.log", "ab") as f:
        f.write(b"00000050 0000000000002 ##00")  # a crash in the middle of a record
    again = FileQueue(tmp_path)
    assert [r.packet for r in again.read(0, 10)] == [b"##0001A0000"]
    again.append([b"##0002BB0000"], 3)
    assert [r.packet for r in again.read(0, 10)] == [b"##0001A0000", b"##0002BB0000"]


def test_a_drained_queue_starts_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fqueue, "COMPACT_BYTES", 10)
    q = FileQueue(tmp_path)
    q.append([b"##0001A0000"] * 3, 1)
    q.commit(q.read(0, 3)[-1].end)
    assert (q.size, q.cursor) == (0, 0)
    q.append([b"##0002BB0000"], 2)
    assert [r.packet for r in FileQueue(tmp_path).read(0, 5)] == [b"##0002BB0000"]


def test_history_keeps_the_previous_log_after_a_new_one_begins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fqueue, "COMPACT_BYTES", 10)
    q = FileQueue(tmp_path)
    q.append([b"##0001A0000", b"##0002BB0000"], 1)
    q.commit(q.read(0, 2)[-1].end)  # delivered: a new log begins
    q.append([b"##0003CCC0000"], 2)
    q.close()
    again = FileQueue(tmp_path)
    assert [r.packet for r in again.read(again.cursor, 5)] == [b"##0003CCC0000"]  # to send
    assert [r.packet for r in again.history()] == [  # remembered
        b"##0001A0000",
        b"##0002BB0000",
        b"##0003CCC0000",
    ]


def test_a_cursor_past_the_end_is_written_back_when_the_queue_opens(tmp_path: Path) -> None:
    # a crash between starting a new log and writing the cursor leaves the old offset
    (tmp_path / "cursor").write_text("5000")
    q = FileQueue(tmp_path)
    assert q.cursor == 0
    q.append([b"##0001A0000"] * 300, 1)  # now more than 5000 bytes
    q.close()
    again = FileQueue(tmp_path)  # a second crash: none of those 300 counts as delivered
    assert (again.cursor, len(again.read(again.cursor, 500))) == (0, 300)


@pytest.mark.parametrize("raw", REAL_PACKETS)
def test_the_key_read_from_bytes_is_the_decoded_packets_key(raw: bytes) -> None:
    assert raw_key(raw) == packet_key(hj212.decode_packet(raw))


@pytest.mark.parametrize(
    ("cn", "last", "new", "expected"),
    [
        ("2051", None, T, None),  # nothing seen yet
        ("2051", T, T + 10 * MIN, None),  # within the allowed silence
        ("2051", T, T + 3 * 60 * MIN, Backfill("2051", T + MIN, T + 179 * MIN)),
        ("2011", T, T + 30 * MIN, Backfill("2051", T + MIN, T + 29 * MIN)),  # real-time gap
        ("2051", T + 60 * MIN, T, None),  # a back-filled, older packet
        ("2061", T, T + 2 * 60 * MIN, None),  # the next hour but one: not yet a gap
        ("2061", T, T + 5 * 60 * MIN, Backfill("2061", T + 60 * MIN, T + 4 * 60 * MIN)),
        ("2081", T, T + 5 * 60 * MIN, None),  # events are not data levels
        ("2051", T, T + 6000 * MIN, Backfill("2051", T + 5999 * MIN - SPAN, T + 5999 * MIN)),
    ],
)
def test_backfill_for(cn: str, last, new, expected) -> None:
    assert backfill_for(cn, last, new, GAP, SPAN) == expected


def test_drift_and_targets() -> None:
    assert drift_seconds(T + timedelta(seconds=93.5), T) == 93.5
    assert drift_seconds(T, T + MIN) == -60.0
    assert parse_targets("a.example:9212, 10.0.0.1:20001") == [
        Target("a.example", 9212),
        Target("10.0.0.1", 20001),
    ]
    with pytest.raises(ValueError, match="host:port"):
        parse_targets("nohost")


UPSTREAM_KEY = "0123456789ABCDEF0123456789ABCDEF"


def test_targets_take_a_version_each_and_a_2025_one_its_own_key() -> None:
    targets = parse_targets(
        "city:9212@2017, province:9213@2025, other:9214", f"province:9213={UPSTREAM_KEY}"
    )
    assert targets == [
        Target("city", 9212, hj212.VERSION_2017),
        Target("province", 9213, hj212.VERSION_2025, bytes.fromhex(UPSTREAM_KEY)),
        Target("other", 9214),
    ]
    assert UPSTREAM_KEY not in repr(targets) and "0123" not in repr(targets)


@pytest.mark.parametrize(
    ("targets", "keys", "error"),
    [
        ("city:9212@2019", "", "2017 or 2025"),
        ("city:9212@2017", f"city:9212={UPSTREAM_KEY}", "SM4 is HJ 212-2025's"),
        ("city:9212", f"city:9212={UPSTREAM_KEY}", "SM4 is HJ 212-2025's"),
        ("city:9212@2025", f"town:9212={UPSTREAM_KEY}", "not in PLANTWATCH_HJ212_FORWARD"),
        ("city:9212@2025", "city:9212=00FF", "32 hex"),
    ],
)
def test_bad_upstream_versions_and_keys_are_refused_naming_no_key(
    targets: str, keys: str, error: str
) -> None:
    with pytest.raises(ValueError, match=error) as refused:
        parse_targets(targets, keys)
    assert UPSTREAM_KEY not in str(refused.value) and "00FF" not in str(refused.value)
