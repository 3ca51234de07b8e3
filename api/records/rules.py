"""The current records as the fuel core's conversion facts (pure).

The rule itself lives in the fuel core (`api.fuel.rules.coal_removed_by`): a firm without a
coal meter whose coal boiler was removed or sealed on or before a window's start is judged
on gas alone. This module only turns records into those facts and says where they applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from api.fuel.rules import COAL_REMOVED, ConversionFact, coal_removed_by
from api.records.model import COAL_FREE_KINDS, Record
from ingest.registry import Plant


def conversion_facts(records: Iterable[Record]) -> list[ConversionFact]:
    """A fact per current (not superseded) removal or sealing record."""
    return [
        ConversionFact(r.plant, COAL_REMOVED, r.effective_at)
        for r in records
        if r.current and r.kind in COAL_FREE_KINDS
    ]


def records_used(
    facts: Sequence[ConversionFact], plants: Sequence[Plant], start: datetime
) -> dict[str, str]:
    """plant -> a note, for the firms without a coal meter whose figures the facts changed."""
    out = {}
    for p in plants:
        if not p.meters_of("coal") and coal_removed_by(facts, p.id, start):
            since = min(f.at for f in facts if f.plant == p.id and f.at <= start)
            out[p.id] = (
                f"coal boiler removed or sealed on {since.date().isoformat()}: judged on gas"
            )
    return out
