"""A firm's recorded facts applied to its fuel totals over a window (pure).

- A firm with no coal meter whose coal boiler was removed or sealed is coal-free from the
  record's date: its coal is 0 kg and its coal "coverage" is the part of the window after
  that date, so the KPI's silence rule judges it on gas alone once the record covers enough
  of the window (SPEC section 6), instead of leaving it `unknown`.
- A coal meter marked `manual = true` in the registry (no weighing device) is read from the
  officers' delivery records: the kg delivered in the window, with full coverage, because a
  delivery is not a register step a device observed (the 24 h gap rule would drop it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from api.kpi import FirmFuel
from api.records.model import COAL_DELIVERY, COAL_FREE_KINDS, Record
from ingest.registry import Plant


@dataclass(frozen=True, slots=True)
class PlantFacts:
    """What the current records say about one firm."""

    coal_free_since: datetime | None
    deliveries: tuple[tuple[datetime, str, float], ...]  # (when, coal meter, kg)


def facts_by_plant(records: Iterable[Record]) -> dict[str, PlantFacts]:
    """Current (not superseded) records summed up per plant."""
    since: dict[str, datetime] = {}
    deliveries: dict[str, list[tuple[datetime, str, float]]] = {}
    for r in records:
        if not r.current:
            continue
        if r.kind in COAL_FREE_KINDS and (r.plant not in since or r.effective_at < since[r.plant]):
            since[r.plant] = r.effective_at
        if r.kind == COAL_DELIVERY and r.mass_kg is not None:
            deliveries.setdefault(r.plant, []).append((r.effective_at, r.meter, r.mass_kg))
    plants = set(since) | set(deliveries)
    return {
        p: PlantFacts(since.get(p), tuple(sorted(deliveries.get(p, [])))) for p in sorted(plants)
    }


def manual_coal_meters(plant: Plant) -> tuple[str, ...]:
    return tuple(m.id for m in plant.meters_of("coal") if m.extra.get("manual") is True)


def apply_facts(
    fuel: FirmFuel, plant: Plant, facts: PlantFacts | None, start: datetime, end: datetime
) -> tuple[FirmFuel, str]:
    """`fuel` over [start, end) with the firm's facts applied, and a note saying which were used."""
    if facts is None:
        return fuel, ""
    coal_meters = plant.meters_of("coal")
    manual = manual_coal_meters(plant)
    if coal_meters and len(manual) == len(coal_meters):
        delivered = sum(
            kg for at, meter, kg in facts.deliveries if start <= at < end and meter in manual
        )
        return replace(
            fuel, coal_kg=delivered, coal_coverage=1.0
        ), "coal from manual delivery records"
    if not coal_meters and facts.coal_free_since is not None and facts.coal_free_since < end:
        after = end - max(start, facts.coal_free_since)
        coverage = after / (end - start)
        note = f"coal boiler removed or sealed on {facts.coal_free_since.date().isoformat()}: no coal since"
        return replace(fuel, coal_kg=0.0, coal_coverage=coverage), note
    return fuel, ""


def apply_all(
    fuels: Sequence[FirmFuel],
    plants: Sequence[Plant],
    facts: Mapping[str, PlantFacts],
    start: datetime,
    end: datetime,
) -> tuple[list[FirmFuel], dict[str, str]]:
    """`apply_facts` for every firm; the notes of the firms whose figures the records changed."""
    by_id = {p.id: p for p in plants}
    out, notes = [], {}
    for fuel in fuels:
        changed, note = apply_facts(fuel, by_id[fuel.plant], facts.get(fuel.plant), start, end)
        out.append(changed)
        if note:
            notes[fuel.plant] = note
    return out, notes
