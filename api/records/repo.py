"""The SQL edge of conversion records: append a record (maybe superseding one), list them."""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from api.alerts.model import from_ms, to_ms
from api.audit import record_audit
from api.fuel.rules import ConversionFact
from api.records.model import (
    COAL_DELIVERY,
    NewRecord,
    Record,
    RecordError,
    RecordNotFound,
    with_supersession,
)
from api.records.rules import conversion_facts
from api.records.tables import conversion_records as t
from api.records.tables import record_outbox


def _record(row: object) -> Record:
    m = row._mapping  # type: ignore[attr-defined]
    return Record(
        id=m["id"],
        plant=m["plant"],
        kind=m["kind"],
        effective_at=from_ms(m["effective_at"]),  # type: ignore[arg-type]
        meter=m["meter"],
        old_register=m["old_register"],
        new_register=m["new_register"],
        mass_kg=m["mass_kg"],
        recorded_by=m["recorded_by"],
        recorded_at=from_ms(m["recorded_at"]),  # type: ignore[arg-type]
        reason=m["reason"],
        attachment=m["attachment"],
        supersedes=m["supersedes"],
    )


class RecordRepo:
    """Conversion records in the SQL database behind `engine`; rows are never updated."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, new: NewRecord, recorded_by: str, now: datetime) -> Record:
        """Append `new`; a correction names the record it supersedes (same plant, once).

        A coal delivery also leaves an outbox row in the same transaction: its readings are
        published after the commit (`api.records.outbox`), never before it.
        """
        with self.engine.begin() as conn:
            if new.supersedes is not None:
                old = conn.execute(select(t).where(t.c.id == new.supersedes)).first()
                if old is None:
                    raise RecordNotFound(f"no record {new.supersedes}")
                if old._mapping["plant"] != new.plant:
                    raise RecordError(
                        f"record {new.supersedes} belongs to {old._mapping['plant']!r}, not {new.plant!r}"
                    )
            try:
                result = conn.execute(
                    insert(t).values(
                        plant=new.plant,
                        kind=new.kind,
                        effective_at=to_ms(new.effective_at),
                        meter=new.meter,
                        old_register=new.old_register,
                        new_register=new.new_register,
                        mass_kg=new.mass_kg,
                        recorded_by=recorded_by,
                        recorded_at=to_ms(now),
                        reason=new.reason.strip(),
                        attachment=new.attachment,
                        supersedes=new.supersedes,
                    )
                )
            except IntegrityError as exc:
                raise RecordError(f"record {new.supersedes} is already superseded") from exc
            new_id = result.inserted_primary_key[0]  # type: ignore[index]
            row = conn.execute(select(t).where(t.c.id == new_id)).one()
            record_audit(
                conn,
                recorded_by,
                "manual_entry.created" if new.kind == COAL_DELIVERY else "conversion.recorded",
                f"plant:{new.plant}" + (f"/{new.meter}" if new.meter else ""),
                {"record": new_id, "kind": new.kind, "reason": new.reason.strip(),
                 "supersedes": new.supersedes},
                at=now,
            )  # fmt: skip
            if new.kind == COAL_DELIVERY:
                conn.execute(
                    insert(record_outbox).values(
                        record_id=new_id, plant=new.plant, meter=new.meter, created_at=to_ms(now)
                    )
                )
        return _record(row)

    def pending_publications(self) -> builtins.list[tuple[int, str, str]]:
        """Outbox rows (id, plant, meter) whose readings the broker has not acknowledged yet."""
        query = select(record_outbox.c.id, record_outbox.c.plant, record_outbox.c.meter)
        with self.engine.connect() as conn:
            return [
                (r.id, r.plant, r.meter) for r in conn.execute(query.order_by(record_outbox.c.id))
            ]

    def published(self, outbox_ids: builtins.list[int]) -> None:
        """The broker has these rows' readings: forget them."""
        with self.engine.begin() as conn:
            conn.execute(delete(record_outbox).where(record_outbox.c.id.in_(outbox_ids)))

    def list(self, plant: str | None = None) -> list[Record]:
        """Every record (superseded ones too, marked), in id order."""
        query = select(t).order_by(t.c.id)
        if plant is not None:
            query = query.where(t.c.plant == plant)
        with self.engine.connect() as conn:
            return with_supersession(_record(r) for r in conn.execute(query))

    def get(self, record_id: int) -> Record | None:
        return next((r for r in self.list() if r.id == record_id), None)

    def facts(self) -> builtins.list[ConversionFact]:
        """The current records as the fuel core's conversion facts."""
        return conversion_facts(self.list())
