"""The audit log's hash chain, pure: what a row's hash covers, and checking a chain of rows.

Each row's `row_hash` is SHA-256 over the previous row's hash and the row's own content
(time, actor, action, target, detail). Editing a row changes its hash; deleting one breaks
the link of the row after it; deleting the newest rows disagrees with the chain head (the
one-row `audit_chain` table that records the last hash). Rows written before the chain
existed have no hash and come first; they are counted, not checked.

The chain proves that the rows are as written unless someone recomputed every hash after
the edit; the head hash printed by `python -m api audit verify` and kept elsewhere (a
report, a notebook) makes that visible too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

GENESIS = ""  # the previous hash of the first chained row


@dataclass(frozen=True, slots=True)
class ChainRow:
    """An audit row as stored (detail as its stored JSON text)."""

    id: int
    at_ms: int
    actor: str
    action: str
    target: str
    detail: str
    prev_hash: str | None
    row_hash: str | None


@dataclass
class ChainReport:
    """What `verify_chain` found: rows checked, rows from before the chain, and problems."""

    checked: int = 0
    unchained: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def row_hash(prev_hash: str, at_ms: int, actor: str, action: str, target: str, detail: str) -> str:
    """SHA-256 (hex) over the previous hash and the row's content, canonically encoded."""
    content = json.dumps(
        [prev_hash, at_ms, actor, action, target, detail], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def verify_chain(
    rows: Iterable[ChainRow], head_id: int | None, head_hash: str | None
) -> ChainReport:
    """Check rows in id order against each other and against the chain head."""
    report = ChainReport()
    previous: str | None = None  # None: no chained row seen yet
    last_id: int | None = None
    for row in rows:
        if row.row_hash is None:
            if previous is None:
                report.unchained += 1
            else:
                report.problems.append(f"row {row.id}: has no hash inside the chain (inserted)")
            last_id = row.id
            continue
        report.checked += 1
        expected_prev = GENESIS if previous is None else previous
        if row.prev_hash != expected_prev:
            report.problems.append(
                f"row {row.id}: does not follow row {last_id} "
                "(a row before it was deleted, or its link edited)"
            )
        recomputed = row_hash(
            row.prev_hash or GENESIS, row.at_ms, row.actor, row.action, row.target, row.detail
        )
        if recomputed != row.row_hash:
            report.problems.append(f"row {row.id}: content does not match its hash (edited)")
        previous, last_id = row.row_hash, row.id
    report.head_hash = previous or GENESIS
    if (head_hash or GENESIS) != report.head_hash or (
        head_id is not None and previous is not None and head_id != last_id
    ):
        report.problems.append(
            f"the chain head (row {head_id}) does not match the last row ({last_id}): "
            "the newest rows were deleted or the head edited"
        )
    return report
