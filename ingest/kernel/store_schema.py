"""The shape version of the InfluxDB measurements, kept in the store itself.

Measurements change shape between releases (a rollup's fields, a tag that becomes a field).
The store carries one point, `plantwatch_schema version=N`, at epoch 0: the shape its data
has. Every process that writes or reads at start (`python -m ingest`, `python -m api`) calls
`ensure_store_schema`: a store without the mark is from before marks (version 1, today's
shapes) or new, and is marked; an older mark runs the upgrade steps in `UPGRADES` in order,
then moves the mark; a newer mark stops the process with a sentence the operator can act on.

Changing a measurement's shape: raise STORE_SCHEMA_VERSION and add the step that brings the
previous shape to it (docs/operations.md, "Changing an InfluxDB measurement's shape").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ingest.kernel.errors import StoreSchemaError
from ingest.kernel.influxql import quote_ident
from ingest.kernel.store import InfluxStore, encode_point

log = logging.getLogger(__name__)

STORE_SCHEMA_VERSION = 2
SCHEMA_MEASUREMENT = "plantwatch_schema"


def _levels(store: InfluxStore, measurement: str, column: str) -> dict[str, float]:
    """The last `column` per `level` tag of a (version 1) rollup state measurement."""
    series = store.query(
        f'SELECT last({quote_ident(column)}) FROM {quote_ident(measurement)} GROUP BY "level"'
    )
    return {
        s.tags.get("level", ""): float(s.values[0][1])
        for s in series
        if s.values and s.values[0][1] is not None
    }


def one_rollup_state(store: InfluxStore) -> None:
    """2: fuel's `rollup_state` and VOC's `voc_rollup_state` (its own field names) become one
    `readmodel_state` with a `domain` tag (api/readmodel/state.py). The cursors are copied,
    so the first pass after the upgrade re-rolls every hour whose dirty marks arrived since
    the old cursor (lag included): nothing late is lost; a domain without old state catches
    up from its first reading. The old measurements stay (a downgrade still finds them)."""
    copied: dict[tuple[str, str], float] = {}
    for level, ms in _levels(store, "rollup_state", "until_ms").items():
        copied[("fuel", level)] = ms
    voc_hourly = _levels(store, "voc_rollup_state", "until_ms").get("hourly")
    voc_cursor = _levels(store, "voc_rollup_state", "arrived_ms").get("marks")
    if voc_hourly is not None:
        copied[("voc", "hourly")] = voc_hourly
    if voc_cursor is not None:
        copied[("voc", "cursor")] = voc_cursor
    lines = [
        encode_point("readmodel_state", {"domain": d, "level": level}, {"until_ms": ms}, 0)
        for (d, level), ms in sorted(copied.items())
    ]
    if lines:
        store.write_lines(lines)


# Version N's step turns a store of shape N-1 into shape N.
UPGRADES: Mapping[int, Callable[[InfluxStore], None]] = {2: one_rollup_state}


@dataclass(frozen=True, slots=True)
class SchemaPlan:
    """What a start does with the store: the steps to run (versions), the mark to write."""

    steps: tuple[int, ...]
    mark: int | None  # None: the mark is already right


def plan_schema(found: int | None, current: int = STORE_SCHEMA_VERSION) -> SchemaPlan:
    """Pure: from the store's mark (None: no mark) to the steps and the mark to write."""
    # A store from before marks has version 1's shapes; a new one has no data at all.
    version = 1 if found is None else found
    if version > current:
        raise StoreSchemaError(
            f"the InfluxDB data has schema version {version}, newer than this release "
            f"understands ({current}): run the release that wrote it, or restore a backup "
            "made before the upgrade (docs/operations.md)"
        )
    steps = tuple(range(version + 1, current + 1))
    return SchemaPlan(steps, current if steps or found is None else None)


def read_mark(store: InfluxStore) -> int | None:
    series = store.query(f"SELECT last(version) FROM {quote_ident(SCHEMA_MEASUREMENT)}", epoch="ms")
    rows = [row for s in series for row in s.rows()]
    return int(rows[0]["last"]) if rows else None


def ensure_store_schema(
    store: InfluxStore,
    upgrades: Mapping[int, Callable[[InfluxStore], None]] = UPGRADES,
    current: int = STORE_SCHEMA_VERSION,
) -> int:
    """Create the database if needed, upgrade its shapes, mark it; the version it now has."""
    store.create_database()
    found = read_mark(store)
    plan = plan_schema(found, current)
    for version in plan.steps:
        log.warning("upgrading the InfluxDB data", extra={"to_version": version})
        upgrades[version](store)
    if plan.mark is None:
        return current
    store.write_lines([encode_point(SCHEMA_MEASUREMENT, {}, {"version": plan.mark}, 0)])
    return plan.mark
