"""Records as the fuel core's conversion facts, corrections and validation: literal tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.fuel.rules import COAL_REMOVED, ConversionFact
from api.records.model import NewRecord, Record, RecordError, check, with_supersession
from api.records.rules import conversion_facts, records_used
from ingest.kernel.registry import Meter, Plant

START = datetime(2026, 3, 1, 16, tzinfo=UTC)
END = START + timedelta(days=30)
GAS_ONLY = Plant("ss-1", "甲", "stainless_steel", (Meter("gas-1", "gas"),))
BOTH = Plant("ss-2", "乙", "stainless_steel", (Meter("gas-1", "gas"), Meter("coal-1", "coal")))


def record(
    rid: int, kind: str, at: datetime, plant: str = "ss-1", supersedes: int | None = None
) -> Record:
    return Record(rid, plant, kind, at, "", None, None, None, "o", at, "seen", "", supersedes)


def test_current_removals_and_sealings_become_facts() -> None:
    records = with_supersession(
        [
            record(1, "boiler_removed", START - timedelta(days=5)),
            record(2, "boiler_removed", START + timedelta(days=20), supersedes=1),
            record(3, "boiler_sealed", START - timedelta(days=1), plant="ss-2"),
            record(4, "meter_replaced", START, plant="ss-2"),
        ]
    )
    assert [r.current for r in records] == [False, True, True, True]
    assert records[0].superseded_by == 2
    assert conversion_facts(records) == [
        ConversionFact("ss-1", COAL_REMOVED, START + timedelta(days=20)),
        ConversionFact("ss-2", COAL_REMOVED, START - timedelta(days=1)),
    ]


@pytest.mark.parametrize(
    ("at", "plant", "used"),
    [
        (START - timedelta(days=2), GAS_ONLY, True),
        (START, GAS_ONLY, True),
        (START + timedelta(hours=1), GAS_ONLY, False),  # inside the window: not yet
        (START - timedelta(days=2), BOTH, False),  # a coal meter decides for itself
    ],
)
def test_records_used_names_the_firms_the_facts_changed(
    at: datetime, plant: Plant, used: bool
) -> None:
    facts = [ConversionFact(plant.id, COAL_REMOVED, at)]
    notes = records_used(facts, [plant], START)
    assert (plant.id in notes) == used
    if used:
        assert at.date().isoformat() in notes[plant.id]


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
