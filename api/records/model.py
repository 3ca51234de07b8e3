"""Conversion records as plain data, their validation and which of them are current (pure).

PlantwatchError
└── RecordError          a record cannot be kept (the message says why)
    └── RecordNotFound   a superseded id that does not exist
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from ingest.kernel.errors import PlantwatchError

BOILER_REMOVED = "boiler_removed"
BOILER_SEALED = "boiler_sealed"
METER_REPLACED = "meter_replaced"
COAL_DELIVERY = "coal_delivery"
KINDS = (BOILER_REMOVED, BOILER_SEALED, METER_REPLACED, COAL_DELIVERY)
COAL_FREE_KINDS = (BOILER_REMOVED, BOILER_SEALED)
MAX_DELIVERY_KG = 10_000_000.0


class RecordError(PlantwatchError):
    """A record cannot be kept; `str(exc)` says why."""


class RecordNotFound(RecordError):
    """The record named by `supersedes` does not exist."""


@dataclass(frozen=True, slots=True)
class NewRecord:
    """What an officer enters."""

    plant: str
    kind: str
    effective_at: datetime
    reason: str
    meter: str = ""
    old_register: float | None = None
    new_register: float | None = None
    mass_kg: float | None = None
    attachment: str = ""
    supersedes: int | None = None


@dataclass(frozen=True, slots=True)
class Record:
    id: int
    plant: str
    kind: str
    effective_at: datetime
    meter: str
    old_register: float | None
    new_register: float | None
    mass_kg: float | None
    recorded_by: str
    recorded_at: datetime
    reason: str
    attachment: str
    supersedes: int | None
    superseded_by: int | None = None

    @property
    def current(self) -> bool:
        return self.superseded_by is None

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["effective_at"] = self.effective_at.isoformat()
        out["recorded_at"] = self.recorded_at.isoformat()
        out["current"] = self.current
        return out


def check(new: NewRecord, meter_kinds: dict[str, str]) -> None:
    """Refuse a record that does not fit its kind; `meter_kinds` are the plant's meters."""
    if new.kind not in KINDS:
        raise RecordError(f"kind must be one of {', '.join(KINDS)}, got {new.kind!r}")
    if not new.reason.strip():
        raise RecordError("a record needs a reason")
    if new.kind == METER_REPLACED:
        if new.meter not in meter_kinds:
            raise RecordError(f"meter {new.meter!r} is not a meter of plant {new.plant!r}")
        if new.old_register is None or new.new_register is None:
            raise RecordError("a meter replacement needs old_register and new_register")
    if new.kind == COAL_DELIVERY:
        if meter_kinds.get(new.meter) != "coal":
            raise RecordError(f"meter {new.meter!r} is not a coal meter of plant {new.plant!r}")
        if new.mass_kg is None or not 0 < new.mass_kg <= MAX_DELIVERY_KG:
            raise RecordError(f"a coal delivery needs mass_kg in (0, {MAX_DELIVERY_KG:.0f}]")


def with_supersession(records: Iterable[Record]) -> list[Record]:
    """The records with `superseded_by` filled in, in id order."""
    ordered = sorted(records, key=lambda r: r.id)
    by = {r.supersedes: r.id for r in ordered if r.supersedes is not None}
    return [replace(r, superseded_by=by.get(r.id)) for r in ordered]
