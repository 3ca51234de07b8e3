"""The spool on a real file system: order, torn records, the size bound, restarts, short
writes and a full disk."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable, Iterator
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


def short_writer(most: int) -> Callable[[int, memoryview], int]:
    """An `os.write` that writes at most `most` bytes per call, as a full disk or signal may."""

    def write(fd: int, data: memoryview) -> int:
        return os.write(fd, bytes(data[:most]))

    return write


def test_short_writes_are_finished_not_acknowledged_torn(tmp_path: Path) -> None:
    """Failed before the fix: os.write's short count was ignored, the record was torn and the
    records behind it were dropped on replay although every batch had been acknowledged."""
    spool = Spool(tmp_path, 10_000, write=short_writer(3))
    spool.append(["first 1", "first 2"])
    spool.append(["second 1"])
    assert all_lines(spool) == ["first 1", "first 2", "second 1"]


def test_write_that_stops_making_progress_is_refused_and_cut_back(tmp_path: Path) -> None:
    """Failed before the fix: a zero-byte write counted as written and the batch was acked."""
    calls = {"n": 0}

    def stuck_after_one(fd: int, data: memoryview) -> int:
        calls["n"] += 1
        return os.write(fd, bytes(data[:5])) if calls["n"] == 1 else 0

    spool = Spool(tmp_path, 10_000)
    spool.append(["kept"])
    spool._write = stuck_after_one
    with pytest.raises(SpoolFull, match="no progress"):
        spool.append(["never acknowledged"])
    assert spool.refusing
    spool._write = os.write
    spool.append(["after"])
    assert not spool.refusing
    # The 5 torn bytes were cut away, so the record behind them is read back too.
    assert all_lines(spool) == ["kept", "after"]


def test_enospc_is_spool_full_and_the_segment_is_cut_back(tmp_path: Path) -> None:
    """Failed before the fix: OSError(ENOSPC) escaped append() and the collector exited."""

    def half_then_enospc(fd: int, data: memoryview) -> int:
        if len(data) > 8:
            return os.write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    spool = Spool(tmp_path, 10_000)
    spool.append(["kept"])
    size = spool.size_bytes
    spool._write = half_then_enospc
    with pytest.raises(SpoolFull, match="No space left"):
        spool.append(["x" * 40])
    assert spool.size_bytes == size
    assert sum(p.stat().st_size for p in tmp_path.glob("segment-*")) == size
    spool._write = os.write
    spool.append(["after"])
    assert all_lines(spool) == ["kept", "after"]


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs mounted for this test (root only); skipped where mounting is refused."""
    mount = shutil.which("mount")
    target = tmp_path / "small"
    target.mkdir()
    if mount is None or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(target)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_a_full_filesystem_loses_nothing_acknowledged(small_filesystem: Path) -> None:
    """Fill a real 64 KiB tmpfs: every batch append() returned for comes back, the spool keeps
    running while the disk is full, and takes batches again once space is freed.

    Failed before the fix: ENOSPC raised OSError out of append() (the collector exited)."""
    spool = Spool(small_filesystem / "spool", 10 * 1024 * 1024)
    acknowledged: list[str] = []
    refused = 0
    for i in range(400):
        line = f"m,plant=p{i:03d} v={i}i {i}" + "x" * 300
        try:
            spool.append([line])
        except SpoolFull:
            refused += 1
            assert spool.refusing
            continue
        acknowledged.append(line)
    assert acknowledged and refused, "the file system never filled"
    assert all_lines(spool) == acknowledged
    for segment in spool.closed_segments():
        spool.remove(segment)
    spool.append(["after the disk was freed"])
    assert not spool.refusing
    assert all_lines(spool) == ["after the disk was freed"]
