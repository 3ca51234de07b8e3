"""The spool on a real file system: order, torn records, the size bound, restarts."""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import pytest

from ingest.spool import HEADER, Spool, SpoolFull, encode_record, read_records


def all_lines(spool: Spool) -> list[str]:
    return [line for seg in spool.closed_segments() for r in spool.records(seg) for line in r.lines]


def test_records_come_back_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000)
    spool.append(["a 1", "a 2"])
    spool.append(["b 1"])
    assert all_lines(spool) == ["a 1", "a 2", "b 1"]
    # Each record: header, format byte, and each line behind its 4-byte length.
    assert spool.size_bytes == 2 * (HEADER.size + 1) + 3 * (4 + 3)


def test_restart_opens_a_new_segment_and_keeps_old_records(tmp_path: Path) -> None:
    first = Spool(tmp_path, 10_000)
    first.append(["old"])
    # no close(): as after SIGKILL
    second = Spool(tmp_path, 10_000)
    second.append(["new"])
    assert [p.name for p in second.closed_segments()] == [
        "segment-000000000001.spool",
        "segment-000000000002.spool",
    ]
    assert all_lines(second) == ["old", "new"]


@pytest.mark.parametrize("cut", [1, HEADER.size - 1, HEADER.size, HEADER.size + 3])
def test_torn_last_record_is_dropped_loudly(
    tmp_path: Path, cut: int, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path, 10_000)
    spool.append(["kept 1"])
    spool.close()
    segment = spool.closed_segments()[0]
    torn = encode_record(["torn line"], 1)[:cut]
    with segment.open("ab") as fh:
        fh.write(torn)
    with caplog.at_level(logging.WARNING):
        assert all_lines(Spool(tmp_path, 10_000)) == ["kept 1"]
    assert "torn last record" in caplog.text


def test_corrupt_payload_is_detected_by_crc() -> None:
    good = encode_record(["x 1"], 5)
    bad = good[:-1] + b"2"
    assert read_records(good + good) == ([(5, ("x 1",)), (5, ("x 1",))], 0)
    assert read_records(good + bad) == ([(5, ("x 1",))], len(bad))


def test_bound_refuses_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    record_size = len(encode_record(["p" * 100], 0))
    spool = Spool(tmp_path, 5 * record_size)
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            spool.append(["p" * 100])
        assert "SPOOL NEARLY FULL" not in caplog.text  # 60 %
        spool.append(["p" * 100])  # 80 %
        assert "SPOOL NEARLY FULL" in caplog.text
        spool.append(["p" * 100])
        with pytest.raises(SpoolFull, match="bound"):
            spool.append(["p" * 100])
    assert len(all_lines(spool)) == 5


def test_remove_frees_space_and_survives_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000)
    spool.append(["a"])
    [segment] = spool.closed_segments()
    spool.append(["b"])
    spool.remove(segment)
    assert all_lines(spool) == ["b"]
    reopened = Spool(tmp_path, 10_000)
    assert reopened.size_bytes == HEADER.size + 1 + 4 + 1
    assert reopened.oldest_appended_ms() is not None
    for seg in reopened.closed_segments():
        reopened.remove(seg)
    assert reopened.is_empty() and reopened.oldest_appended_ms() is None


SMUGGLED = 'dead_letter,code=bad_json,plant=ss-001 payload="junk\ngas,plant=ss-002,meter=gas-1 volume_m3=1e11 1772323200000" 1'


@pytest.mark.parametrize(
    "lines",
    [
        [SMUGGLED],
        ["a\n", "\nb", "\r\n", ""],
        ["x" * 70_000, "\x00\x00\x00\x04gas 1", "中文 1"],
    ],
)
def test_lines_come_back_byte_for_byte_whatever_they_hold(tmp_path: Path, lines: list[str]) -> None:
    """Framing is by length: a newline inside a line never makes a second line (issue 14)."""
    spool = Spool(tmp_path, 1_000_000)
    spool.append(lines)
    spool.append(["after 1"])
    assert all_lines(spool) == [*lines, "after 1"]


def test_records_written_before_length_framing_are_still_read() -> None:
    payload = b"a 1\na 2"
    stamp = struct.pack(">Q", 7)
    old = HEADER.pack(len(payload), zlib.crc32(stamp + payload), 7) + payload
    assert read_records(old) == ([(7, ("a 1", "a 2"))], 0)
