"""The current records as the fuel core's conversion facts (pure).

The rule itself lives in the fuel core (`api.fuel.rules.coal_removed_by`): a firm without a
coal meter whose coal boiler was removed or sealed on or before a window's start is judged
on gas alone. This module only turns records into those facts and says where they applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from api.fuel.rules import COAL_REMOVED, MANUAL_METER, ConversionFact, coal_removed_by
from api.records.model import COAL_DELIVERY, COAL_FREE_KINDS, Record
from ingest.kernel.registry import Plant


def conversion_facts(records: Iterable[Record]) -> list[ConversionFact]:
    """A fact per current (not superseded) removal or sealing record, and one per coal
    meter kept by hand, since its first current delivery (its coverage comes from that)."""
    records = list(records)
    facts = [
        ConversionFact(r.plant, COAL_REMOVED, r.effective_at)
        for r in records
        if r.current and r.kind in COAL_FREE_KINDS
    ]
    opened: dict[tuple[str, str], datetime] = {}
    for r in records:
        if r.current and r.kind == COAL_DELIVERY:
            key = (r.plant, r.meter)
            opened[key] = min(r.effective_at, opened.get(key, r.effective_at))
    facts += [ConversionFact(p, MANUAL_METER, at, m) for (p, m), at in sorted(opened.items())]
    return facts


def records_used(
    facts: Sequence[ConversionFact], plants: Sequence[Plant], start: datetime
) -> dict[str, str]:
    """plant -> a note, for the firms whose figures the facts changed: without a coal meter
    after a removal, or with a coal meter kept by hand (deliveries flagged S)."""
    out = {}
    for p in plants:
        manual = sorted(
            (f.meter, f.at) for f in facts if f.plant == p.id and f.kind == MANUAL_METER
        )
        if manual:
            out[p.id] = "; ".join(
                f"coal meter {m} kept by hand since {at.date().isoformat()}: "
                "deliveries entered by officers (flag S), coverage from the records"
                for m, at in manual
            )
        if not p.meters_of("coal") and coal_removed_by(facts, p.id, start):
            since = min(
                f.at for f in facts if f.plant == p.id and f.kind == COAL_REMOVED and f.at <= start
            )
            out[p.id] = (
                f"coal boiler removed or sealed on {since.date().isoformat()}: judged on gas"
            )
    return out
