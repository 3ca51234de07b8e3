"""The one rollup state schema: `readmodel_state`, one point per (domain, level) at epoch 0.

    readmodel_state,domain=fuel,level=cursor until_ms=…

Levels: `cursor` (dirty marks that arrived before it are rolled up), `hourly` and `daily`
(readers may use rollups for whole hours / local days before these; later hours are read
raw) and `generation` (when the domain's rollups last changed, `record_change`).
`rollup_passes` records, per pass that changed rollups, the earliest time it rewrote, so
readers keep the cached answers before it (`api.readmodel.cache`).

Before store schema version 2 fuel kept `rollup_state` and VOC `voc_rollup_state` (other
field names); the upgrade step (`ingest.kernel.store_schema`, version 2) copies them here, the
cursors included, so marks that arrived since are re-rolled by the next pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ingest.kernel.store import Store, encode_point

STATE_MEASUREMENT = "readmodel_state"
# One point per rollup pass that wrote rollups, at its generation: the earliest time it changed.
PASSES_MEASUREMENT = "rollup_passes"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def from_ms(ms: float) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def to_ms(ts: datetime) -> float:
    return float(round(ts.timestamp() * 1000))


@dataclass(frozen=True, slots=True)
class Watermarks:
    """Rollups answer whole hours before `hourly` and local days before `daily` (None: none yet)."""

    hourly: datetime | None
    daily: datetime | None
    cursor: datetime | None = None  # dirty marks that arrived before this are rolled up
    # When the rollups last changed (`record_change`): readers cache what they read from
    # the rollups and rolled-up raw hours under it (`api.readmodel.cache`). Written as now
    # if unset (recorded nowhere: readers then drop every cached answer).
    generation: datetime | None = field(default=None, compare=False)


def read_watermarks(store: Store, domain: str) -> Watermarks:
    series = store.aggregate(
        STATE_MEASUREMENT, "last", "until_ms", where={"domain": [domain]}, group_by=("level",)
    )
    found = {
        s.tags.get("level", ""): from_ms(s.values[0][1])
        for s in series
        if s.values and s.values[0][1] is not None
    }
    return Watermarks(
        found.get("hourly"), found.get("daily"), found.get("cursor"), found.get("generation")
    )


def state_lines(domain: str, marks: Watermarks) -> list[str]:
    lines = []
    for level, until in (
        ("hourly", marks.hourly),
        ("daily", marks.daily),
        ("cursor", marks.cursor),
        ("generation", marks.generation or datetime.now(UTC)),
    ):
        if until is not None:
            lines.append(
                encode_point(
                    STATE_MEASUREMENT,
                    {"domain": domain, "level": level},
                    {"until_ms": to_ms(until)},
                    0,
                )
            )
    return lines


def write_watermarks(store: Store, domain: str, marks: Watermarks) -> None:
    store.write_lines(state_lines(domain, marks))


def record_change(store: Store, domain: str, changed_from: datetime) -> datetime:
    """Record that `domain`'s rollups from `changed_from` on were just rewritten; returns
    the new generation (readers keep cached answers before `changed_from`)."""
    now = datetime.now(UTC)
    generation = now.replace(microsecond=now.microsecond // 1000 * 1000)
    store.write_lines(
        [
            encode_point(
                PASSES_MEASUREMENT,
                {"domain": domain},
                {"from_ms": to_ms(changed_from)},
                generation,
            )
        ]
    )
    return generation


def touched_since(store: Store, domain: str, after: datetime, until: datetime) -> datetime | None:
    """The earliest time changed by `domain`'s rollup passes of generations in (after, until]
    (None if no pass recorded it: the caller must assume everything changed)."""
    series = store.aggregate(
        PASSES_MEASUREMENT, "min", "from_ms", after + MS, until + MS, where={"domain": [domain]}
    )
    for s in series:
        if s.values and s.values[0][1] is not None:
            return from_ms(s.values[0][1])
    return None
