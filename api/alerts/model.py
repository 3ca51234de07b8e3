"""Plain data of the alert engine: keys, conditions, stored alerts and the errors.

PlantwatchError
└── AlertError
    ├── AlertNotFound   no alert with that id
    ├── AlertConflict   the action does not fit the alert's state (e.g. ack a resolved alert)
    └── LeaseLost       this engine no longer holds the evaluation lease
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from api.errors import Conflict, NotFound
from ingest.gateway.lockout import AUTH_FAILURES_KIND
from ingest.kernel.errors import PlantwatchError
from ingest.kernel.schema import to_epoch_ms

VOC_HOURLY_EXCEEDANCE = "voc_hourly_exceedance"
VOC_SPIKE = "voc_spike"
VOC_DARK_AFTER_EXCEEDANCE = "voc_dark_after_exceedance"
METER_OFFLINE = "meter_offline"
SENSOR_STUCK = "sensor_stuck"
COAL_AFTER_CONVERSION = "coal_after_conversion"
GAS_SHARE_OFF_TRACK = "gas_share_off_track"
# Many meters silent together while no data reaches InfluxDB: one alert for the county
# (ingest, broker or collector down) in place of one `meter_offline` per meter.
INGEST_STALLED = "ingest_stalled"
# The HJ 212 gateway found a stack's data logger clock off by more than its threshold.
LOGGER_CLOCK_DRIFT = "logger_clock_drift"
# A plant sent a different value for a reading already recorded (SPEC section 14).
READING_REVISED = "reading_revised"
# The HJ 212 gateway locked out an MN or an address after repeated wrong PWs or
# undecryptable packets (SPEC section 12); the kind's name is the gateway's.
LOGGER_AUTH_FAILURES = AUTH_FAILURES_KIND
# A line's production draws power while its treatment facility does not (SPEC section 13).
TREATMENT_NOT_RUNNING = "treatment_not_running"
# Exceeding hours older than the live look-back that only back-filled data revealed, and
# no `voc_hourly_exceedance` covered: always `late` (SPEC section 5).
VOC_LATE_EXCEEDANCE = "voc_late_exceedance"
# An open task (api.tasks) past its deadline: the escalation to officers and robots.
TASK_OVERDUE = "task_overdue"
KINDS = (
    VOC_HOURLY_EXCEEDANCE,
    VOC_SPIKE,
    VOC_DARK_AFTER_EXCEEDANCE,
    METER_OFFLINE,
    SENSOR_STUCK,
    COAL_AFTER_CONVERSION,
    GAS_SHARE_OFF_TRACK,
    INGEST_STALLED,
    LOGGER_CLOCK_DRIFT,
    READING_REVISED,
    LOGGER_AUTH_FAILURES,
    TREATMENT_NOT_RUNNING,
    VOC_LATE_EXCEEDANCE,
    TASK_OVERDUE,
)

# The unit of an alert's `value` (and of its `limit`, save for `limit_unit` below).
MGM3, MINUTES, KG, FRACTION, METERS = "mg/m³", "min", "kg", "fraction", "meters"
HOURS = "h"
SECONDS = "s"
REVISIONS = "revisions"
KW = "kW"

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATUSES = (OPEN, ACKNOWLEDGED, RESOLVED)
ACTIVE = frozenset({OPEN, ACKNOWLEDGED})
RAISED, REOPENED = "raised", "reopened"
ENGINE_ACTOR = "engine"
# County-wide alerts (gas_share_off_track) use this in place of a plant id; it cannot clash
# with a registry id, which is [a-z0-9-].
COUNTY = "_county"
# A county-wide alert of one county of several (counties as tenants): `_county-<county id>`.
COUNTY_PREFIX = COUNTY + "-"


def county_alert_plant(county_id: str) -> str:
    """The plant slot of a county-wide alert about one county of a multi-county registry."""
    return COUNTY_PREFIX + county_id


def county_of_alert(plant: str) -> str | None:
    """The county id of a `county_alert_plant` slot; None for a firm or the whole (`_county`)."""
    return plant.removeprefix(COUNTY_PREFIX) if plant.startswith(COUNTY_PREFIX) else None


def is_county_wide(plant: str) -> bool:
    """Whether an alert's plant slot names no firm but the county (or one county)."""
    return plant == COUNTY or plant.startswith(COUNTY_PREFIX)


class AlertError(PlantwatchError):
    """Base of the alert engine's errors."""


class AlertNotFound(AlertError, NotFound):
    """No alert with that id."""


class AlertConflict(AlertError, Conflict):
    """The action does not fit the alert's current state."""


class LeaseLost(AlertError):
    """Another engine holds the evaluation lease."""


@dataclass(frozen=True, slots=True, order=True)
class AlertKey:
    """At most one active alert per key; empty strings where a part does not apply."""

    kind: str
    plant: str
    meter: str = ""
    pollutant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.kind, self.plant, self.meter, self.pollutant) if p)


def limit_unit(kind: str, unit: str) -> str:
    """The unit of an alert's `limit`: a stuck sensor's limit is minutes, else the value's unit."""
    return MINUTES if kind == SENSOR_STUCK else unit


EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Condition:
    """A rule's finding that holds now: what, how much, against what limit, since when.

    `message` is a plain English sentence for logs; readers get `api.alerts.texts.render`
    of the structured fields. `details` holds kind-specific facts (JSON-able scalars).
    `late` marks a finding about the past that only a late (backfilled) reading revealed.
    """

    key: AlertKey
    value: float | None
    limit: float | None
    message: str
    unit: str = ""
    since: datetime | None = None
    late: bool = False
    details: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    key: AlertKey
    status: str
    opened_at: datetime
    last_seen_at: datetime
    updated_at: datetime
    value: float | None
    limit: float | None
    message: str
    cleared_since: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    ack_comment: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolve_comment: str | None = None
    reopen_count: int = 0
    unit: str = ""
    since: datetime | None = None
    late: bool = False
    details: Mapping[str, Any] = field(default_factory=lambda: EMPTY)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def as_json(self) -> dict[str, Any]:
        """The alert as published and served (times RFC 3339 UTC, absent parts null)."""
        return {
            "id": self.id,
            "kind": self.key.kind,
            "plant": self.key.plant,
            "meter": self.key.meter or None,
            "pollutant": self.key.pollutant or None,
            "status": self.status,
            "message": self.message,
            "value": self.value,
            "limit": self.limit,
            "unit": self.unit or None,
            "limit_unit": limit_unit(self.key.kind, self.unit) or None,
            "since": iso(self.since),
            "late": self.late,
            "details": dict(self.details),
            "opened_at": iso(self.opened_at),
            "last_seen_at": iso(self.last_seen_at),
            "updated_at": iso(self.updated_at),
            "cleared_since": iso(self.cleared_since),
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": iso(self.acknowledged_at),
            "ack_comment": self.ack_comment,
            "resolved_at": iso(self.resolved_at),
            "resolved_by": self.resolved_by,
            "resolve_comment": self.resolve_comment,
            "reopen_count": self.reopen_count,
        }


def iso(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds") if ts is not None else None


def to_ms(ts: datetime) -> int:
    """Epoch milliseconds of an aware datetime (how times are stored in SQL)."""
    return to_epoch_ms(ts)


def from_ms(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)
