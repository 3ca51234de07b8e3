"""Officers' facts applied to a firm's fuel totals: literal tables, no store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest

from api.kpi import FirmFuel, classify
from api.records.model import NewRecord, Record, RecordError, check, with_supersession
from api.records.rules import PlantFacts, apply_facts, facts_by_plant
from api.settings import KpiDefinition
from ingest.registry import Meter, Plant

END = datetime(2026, 3, 31, 16, tzinfo=UTC)
START = END - timedelta(days=30)
GAS_ONLY = Plant("ss-1", "甲", "stainless_steel", (Meter("gas-1", "gas"),))
BOTH = Plant("ss-2", "乙", "stainless_steel", (Meter("gas-1", "gas"), Meter("coal-1", "coal")))
MANUAL = Plant(
    "ss-3",
    "丙",
    "stainless_steel",
    (Meter("gas-1", "gas"), Meter("coal-m", "coal", extra=MappingProxyType({"manual": True}))),
)


def fuel(plant: Plant, coal_kg: float | None) -> FirmFuel:
    return FirmFuel(plant.id, plant.name, 1000.0, coal_kg, 1.0, 1.0 if coal_kg is not None else 0.0)


def record(
    rid: int, kind: str, at: datetime, supersedes: int | None = None, **kw: object
) -> Record:
    base = dict(meter="", old_register=None, new_register=None, mass_kg=None)
    base.update(kw)
    return Record(
        rid,
        "ss-1",
        kind,
        at,
        recorded_by="o",
        recorded_at=at,
        reason="seen",
        attachment="",
        supersedes=supersedes,
        **base,
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("removed", "status", "coverage"),
    [
        (None, "unknown", None),  # no record: no coal meter, stays unknown
        (START - timedelta(days=3), "gas", 1.0),  # removed before the window: gas alone
        (START + timedelta(days=3), "gas", 0.9),  # 90 % of the window after it: gas
        (START + timedelta(days=15), "unknown", 0.5),  # half the window: still unknown
        (END + timedelta(days=1), "unknown", None),  # after the window: no effect
    ],
)
def test_removal_judges_a_firm_without_coal_meter_on_gas(
    removed: datetime | None, status: str, coverage: float | None
) -> None:
    facts = PlantFacts(removed, ()) if removed else None
    changed, note = apply_facts(fuel(GAS_ONLY, None), GAS_ONLY, facts, START, END)
    assert classify(changed, KpiDefinition()).status == status
    if coverage is not None:
        assert changed.coal_kg == 0.0
        assert changed.coal_coverage == pytest.approx(coverage)
        assert "removed or sealed" in note
    else:
        assert changed.coal_kg is None and note == ""


def test_a_firm_with_a_coal_meter_is_judged_by_its_meter() -> None:
    facts = PlantFacts(START - timedelta(days=3), ())
    changed, note = apply_facts(fuel(BOTH, 500.0), BOTH, facts, START, END)
    assert changed.coal_kg == 500.0 and note == ""


def test_manual_coal_meter_reads_the_deliveries_in_the_window() -> None:
    deliveries = (
        (START - timedelta(days=1), "coal-m", 9999.0),  # before the window
        (START + timedelta(days=2), "coal-m", 300.0),
        (START + timedelta(days=20), "coal-m", 200.0),
        (END, "coal-m", 7777.0),  # at the (exclusive) end
    )
    changed, note = apply_facts(fuel(MANUAL, 0.0), MANUAL, PlantFacts(None, deliveries), START, END)
    assert changed.coal_kg == 500.0 and changed.coal_coverage == 1.0
    assert note == "coal from manual delivery records"


def test_a_superseded_record_no_longer_counts() -> None:
    first = record(1, "boiler_removed", START - timedelta(days=5))
    correction = record(2, "boiler_removed", START + timedelta(days=20), supersedes=1)
    records = with_supersession([correction, first])
    assert [r.current for r in records] == [False, True]
    assert records[0].superseded_by == 2
    assert facts_by_plant(records)["ss-1"].coal_free_since == START + timedelta(days=20)


@pytest.mark.parametrize(
    ("new", "message"),
    [
        (NewRecord("ss-2", "boiler_moved", END, "x"), "kind must be one of"),
        (NewRecord("ss-2", "boiler_removed", END, "  "), "needs a reason"),
        (NewRecord("ss-2", "meter_replaced", END, "x", meter="nope"), "not a meter"),
        (NewRecord("ss-2", "meter_replaced", END, "x", meter="gas-1"), "old_register"),
        (
            NewRecord("ss-2", "coal_delivery", END, "x", meter="gas-1", mass_kg=5),
            "not a coal meter",
        ),
        (NewRecord("ss-2", "coal_delivery", END, "x", meter="coal-1"), "needs mass_kg"),
    ],
)
def test_records_that_do_not_fit_their_kind_are_refused(new: NewRecord, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        check(new, {"gas-1": "gas", "coal-1": "coal"})
