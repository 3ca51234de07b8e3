"""The audit log's hash chain: a literal table of chains, and a real SQLite file edited behind
the triggers' back, found by `python -m api audit verify`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from api.__main__ import main
from api.audit import record_audit, verify_audit
from api.audit_chain import GENESIS, ChainRow, row_hash, verify_chain
from api.db import connect


def chain(n: int, first_id: int = 1, prev: str = GENESIS) -> list[ChainRow]:
    rows = []
    for i in range(first_id, first_id + n):
        detail = f'{{"n": {i}}}'
        digest = row_hash(prev, 1000 * i, "olga#2", "alert.ack", f"alert:{i}", detail)
        rows.append(
            ChainRow(i, 1000 * i, "olga#2", "alert.ack", f"alert:{i}", detail, prev, digest)
        )
        prev = digest
    return rows


ROWS = chain(4)
LEGACY = [ChainRow(i, i, "cli", "key.created", f"key:{i}", "{}", None, None) for i in (1, 2)]
AFTER_LEGACY = chain(2, first_id=3)
EDITED = [ROWS[0], replace(ROWS[1], detail='{"n": 99}'), *ROWS[2:]]
RELINKED = [ROWS[0], replace(ROWS[1], prev_hash="0" * 64), *ROWS[2:]]
INSERTED = [*ROWS[:2], ChainRow(9, 1, "x", "y", "z", "{}", None, None), *ROWS[2:]]


@pytest.mark.parametrize(
    ("rows", "head", "problems"),
    [
        (ROWS, (4, ROWS[-1].row_hash), []),
        ([], (0, GENESIS), []),
        ([*LEGACY, *AFTER_LEGACY], (4, AFTER_LEGACY[-1].row_hash), []),
        (EDITED, (4, ROWS[-1].row_hash), ["row 2: content does not match its hash (edited)"]),
        (
            [ROWS[0], *ROWS[2:]],
            (4, ROWS[-1].row_hash),
            ["row 3: does not follow row 1 (a row before it was deleted, or its link edited)"],
        ),
        (
            RELINKED,
            (4, ROWS[-1].row_hash),
            [
                "row 2: does not follow row 1 (a row before it was deleted, or its link edited)",
                "row 2: content does not match its hash (edited)",
            ],
        ),
        (
            ROWS[:3],
            (4, ROWS[-1].row_hash),
            [
                "the chain head (row 4) does not match the last row (3): "
                "the newest rows were deleted or the head edited"
            ],
        ),
        (INSERTED, (4, ROWS[-1].row_hash), ["row 9: has no hash inside the chain (inserted)"]),
    ],
)
def test_verify_chain(rows: list[ChainRow], head: tuple[int, str], problems: list[str]) -> None:
    assert verify_chain(rows, *head).problems == problems


def test_an_edited_and_a_deleted_row_are_found_by_audit_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Failed before the fix: with the triggers dropped, an edit or a delete left no trace."""
    url = f"sqlite:///{tmp_path}/plantwatch.db"
    engine = connect(url)
    for i in range(1, 6):
        record_audit(engine, "olga#2", "alert.ack", f"alert:{i}", {"comment": f"checked {i}"})
    monkeypatch.setenv("PLANTWATCH_DATABASE_URL", url)
    assert main(["audit", "verify"]) == 0
    assert "audit log intact: 5 chained rows checked" in capsys.readouterr().out
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        conn.execute(text("""UPDATE audit_log SET detail = '{"comment": "fine"}' WHERE id = 2"""))
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "TAMPERED: row 2: content does not match its hash (edited)" in out
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 4"))
    assert [p for p in verify_audit(engine).problems if "row 5" in p] == [
        "row 5: does not follow row 3 (a row before it was deleted, or its link edited)"
    ]


def test_rows_written_concurrently_stay_one_chain(tmp_path: Path) -> None:
    """Writers take turns on the chain head: many threads, one unbroken chain."""
    from concurrent.futures import ThreadPoolExecutor

    engine = connect(f"sqlite:///{tmp_path}/plantwatch.db")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: record_audit(engine, "t", "x.y", f"t:{i}"), range(40)))
    report = verify_audit(engine)
    assert report.intact and report.checked == 40
