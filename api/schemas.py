"""Response models of every JSON route: the one shape `/docs` documents and the page reads.

Times are RFC 3339 text with an offset (UTC inside); quantities carry their unit in the
name. Routes return these models; nothing else decides what an answer looks like.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FirmStatus = Literal["gas", "mixed", "coal", "idle", "unknown"]
Sector = Literal["stainless_steel", "synthetic_leather", "other"]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorAnswer(Model):
    """Every error: a sentence for people (or, for 422 on parameters, a list), a code for programs."""

    detail: str | list[dict[str, object]]
    code: str | None = None


# --- health -------------------------------------------------------------------------------


class Health(Model):
    status: Literal["ok"]


class Labels(Model):
    """Names of codes in one language, by prefix (api.alerts.texts.labels)."""

    kind: dict[str, str] = Field(description="meter kinds and alert kinds")
    poll: dict[str, str] = Field(description="pollutants and stack values, by value name")
    status: dict[str, str] = Field(description="a firm's fuel status (gas, mixed ...)")


class LabelsAnswer(Model):
    zh: Labels
    en: Labels


class Readiness(Model):
    ready: bool
    checks: dict[str, bool] = Field(description="influxdb (or clickhouse), mqtt: reachable or not")


# --- KPI ----------------------------------------------------------------------------------


class FirmRow(Model):
    plant: str
    name: str
    status: FirmStatus
    gas_fraction: float | None = Field(
        description="gas kgce / (gas + coal kgce); null if unknown or idle"
    )
    gas_m3: float
    coal_kg: float
    gas_kgce: float
    coal_kgce: float
    co2_kg: float
    co2_avoided_kg: float
    reason: str = Field(description="why a firm is unknown or idle; empty otherwise")
    gas_coverage: float = Field(
        0.0, description="share of the window's hours the gas meter reported"
    )
    coal_coverage: float = Field(
        0.0, description="share of the window's hours the coal meter reported"
    )


class FuelTotals(Model):
    """The rows' fuel summed over every firm of the answer."""

    gas_m3: float
    coal_kg: float
    gas_kgce: float
    coal_kgce: float
    co2_kg: float
    co2_avoided_kg: float
    gas_fraction: float | None = Field(description="gas kgce / all kgce; null without fuel")


class KpiDefinitionAnswer(Model):
    window_days: float
    gas_kgce_per_m3: float
    coal_kgce_per_kg: float
    gas_status_min_fraction: float
    coal_status_max_fraction: float
    max_silent_fraction: float
    co2_kg_per_kg_coal: float
    co2_kg_per_m3_gas: float
    max_rate_per_hour: dict[str, float] = Field(
        description="plausible rate per register (volume_m3, mass_kg, ...): faster steps count nowhere"
    )
    max_gap_hours: float = Field(description="a step bridging more silence counts nowhere")
    coverage: str
    step: str
    factors_effective_from: date = Field(description="the factors above hold from this local date")
    factors_source: str
    factor_changes: list[dict[str, Any]] = Field(
        description="dated factor changes (api/factors.py); those in effect are applied above"
    )
    goal: float


class UsageSource(Model):
    source: str
    start: str
    end: str


class CountyShare(Model):
    """One county's share of its stainless-steel firms on gas, against its own goal."""

    id: str
    name: str
    goal: float
    firms: int
    active_firms: int
    counts: dict[FirmStatus, int]
    share: float | None
    share_upper: float | None
    firms_needed: int
    meets_goal: bool


class GasShareAnswer(Model):
    """SPEC section 6: the share of stainless-steel firms on gas over a trailing window."""

    at: str
    window_start: str
    window_days: float
    goal: float
    firms: int
    active_firms: int = Field(description="firms - idle: the share's denominator")
    counts: dict[FirmStatus, int]
    share: float | None
    share_upper: float | None = Field(description="share counting unknown firms as gas")
    firms_needed: int
    meets_goal: bool
    totals: FuelTotals
    rows: list[FirmRow]
    data_through: str | None = Field(
        None, description="latest fuel reading of any firm in the window"
    )
    firm_data_through: dict[str, str | None] = Field(
        default_factory=dict,
        description="per firm: until when all its fuel meters reported (null: one did not)",
    )
    sources: list[UsageSource] = Field(
        default_factory=list, description="stretches answered by daily, hourly, raw"
    )
    definition: KpiDefinitionAnswer
    timezone: str = Field(description="IANA zone of local days and months (settings)")
    records_used: dict[str, str] = Field(
        default_factory=dict,
        description="plant -> how officers' conversion records changed its figures",
    )
    counties: list[CountyShare] = Field(
        default_factory=list,
        description="each county the key sees, with its own goal (a county key: its one; "
        "the figures above are then the same county's)",
    )


class HistoryMonth(Model):
    month: str = Field(description="YYYY-MM, local calendar month")
    start: str
    end: str
    complete: bool
    has_data: bool = Field(description="false when every firm is unknown (e.g. before monitoring)")
    firms: int
    counts: dict[FirmStatus, int]
    share: float | None
    share_upper: float | None
    firms_needed: int
    records_used: dict[str, str] = Field(
        default_factory=dict,
        description="plant -> how officers' conversion records changed its figures this month",
    )


class ProjectionAnswer(Model):
    gas_firms: float | None
    gas_firms_low: float | None
    gas_firms_high: float | None
    slope_firms_per_month: float | None
    months_used: int
    method: str
    active_firms: int
    share: float | None
    share_low: float | None
    share_high: float | None


class Candidate(Model):
    plant: str
    name: str
    status: FirmStatus
    gas_fraction: float | None
    coal_kg: float
    co2_kg: float


class HistoryDefinition(Model):
    month_window: str
    timezone: str
    source: str
    coverage: str


class GasShareHistoryAnswer(Model):
    year: int
    goal: float
    timezone: str
    months: list[HistoryMonth]
    projection: ProjectionAnswer
    on_track: bool | None
    firms_needed: int
    candidates: list[Candidate]
    data_through: str | None = Field(
        None, description="latest fuel reading of any firm in the year"
    )
    definition: HistoryDefinition


# --- plants -------------------------------------------------------------------------------


class LatestReading(Model):
    """A meter's latest reading as stored: values by name, HJ 212 flags, units from the names."""

    ts: str
    values: dict[str, float]
    flags: dict[str, str]
    units: dict[str, str]


class MeterView(Model):
    id: str
    kind: Literal["gas", "coal", "voc", "electricity"]
    hj212_mn: str | None
    limits_mgm3: dict[str, float] = Field(description="the registry's overrides only")
    # stacks: GB 21902 process, height, reference O2; power meters: facility, line, rating
    process: str | None = None
    height_m: float | None = None
    o2_reference_pct: float | None = None
    facility: str | None = None
    line: str | None = None
    rated_kw: float | None = None
    last_reading: str | None
    reporting: bool
    catching_up: bool = Field(
        False,
        description="behind by its readings' time, but its latest reading arrived within the "
        "offline allowance: delivering a back-fill, not offline (no meter_offline alert)",
    )
    offline_after_minutes: float
    latest: LatestReading | None = Field(
        None, description="the latest reading of the last two days (none if older)"
    )


class PlantView(Model):
    id: str
    name: str
    sector: Sector
    reporting: bool
    meters_reporting: int
    data_through: str | None = Field(
        description="up to when every meter of the plant has reported (its most behind meter)"
    )
    meters: list[MeterView]


class IngestView(Model):
    """How data reaches the store now (api.alerts.rules.ingest_state, docs/alerts.md)."""

    state: Literal["normal", "loading", "stalled"]
    meters: int
    silent: int
    flowing: bool
    data_through: str | None = Field(description="the newest reading of any meter")


class PlantsAnswer(Model):
    county: str
    gas_share_goal: float
    timezone: str = Field(description="IANA zone for local times on charts (settings)")
    at: str
    data_through: str | None
    ingest: IngestView
    plants: list[PlantView]


class PlantAnswer(PlantView):
    at: str
    timezone: str


class LatestAnswer(Model):
    plant: str
    name: str
    at: str
    data_through: str | None
    meters: list[MeterView]


# --- usage --------------------------------------------------------------------------------


class UsageInterval(Model):
    start: str
    end: str
    gas_m3: float
    coal_kg: float
    gas_kgce: float
    coal_kgce: float
    kgce: float
    co2_kg: float
    gas_readings: int
    coal_readings: int
    resets: int
    implausible_steps: int


class UsageTotals(Model):
    gas_m3: float
    coal_kg: float
    gas_kgce: float
    coal_kgce: float
    kgce: float
    co2_kg: float
    gas_readings: int
    coal_readings: int
    resets: int
    implausible_steps: int
    gas_fraction: float | None = Field(description="gas kgce / all kgce; null without fuel")


class UsageAnswer(Model):
    plant: str | None = None
    name: str | None = None
    sector: Sector
    plants: list[str] | None = None
    start: str
    end: str
    every: str
    timezone: str
    units: dict[str, str]
    intervals: list[UsageInterval]
    totals: UsageTotals
    data_through: str | None = Field(
        None, description="latest fuel reading of the plants in the range"
    )
    sources: list[UsageSource]
    records: list[dict[str, Any]] | None = Field(
        None, description="a plant's current conversion records (api/records), for context"
    )


# --- conversion records -------------------------------------------------------------------


class RecordAnswer(Model):
    """An officer's conversion record or manual entry (api/records), never edited."""

    id: int
    plant: str
    kind: Literal["boiler_removed", "boiler_sealed", "meter_replaced", "coal_delivery"]
    effective_at: str
    meter: str
    old_register: float | None
    new_register: float | None
    mass_kg: float | None
    recorded_by: str
    recorded_at: str
    reason: str
    attachment: str
    supersedes: int | None
    superseded_by: int | None
    current: bool


class RecordCreated(RecordAnswer):
    readings_published: int = Field(description="manual readings (flag S) sent to the broker")


class RecordsAnswer(Model):
    plant: str | None = None
    kinds: list[str] | None = None
    records: list[RecordAnswer]


# --- VOC ----------------------------------------------------------------------------------


class VocHour(Model):
    start: str
    end: str
    status: Literal["valid", "insufficient", "stopped", "pending", "marked"] = Field(
        description="marked: an accepted mark (SPEC section 14) covers the hour, not judged"
    )
    source: Literal["minutes", "logger_hour"] = Field(
        description="minutes: from minute data and real-time readings; logger_hour: the "
        "logger's CN 2061 hour, used when no minute was sent"
    )
    valid_minutes: int
    mean_mgm3: float | None
    exceeds: bool
    logger_mean_mgm3: float | None = Field(description="the logger's own hour (CN 2061)")
    logger_flag: str | None
    disagrees: bool = Field(description="computed and logger hour differ (> 5 %)")
    over_range_minutes: int = Field(description="minutes flagged T (counted valid, lower bound)")
    stopped_minutes: int
    fault_minutes: int
    comm_minutes: int
    transmitted_minutes: int
    emission_kgh: float | None
    emission_kg: float | None = Field(description="the logger's -Cou where sent, else rate × 1 h")
    late_filled: bool = Field(
        False, description="a reading of the hour arrived long after it (SPEC section 14)"
    )


class VocCounts(Model):
    """Hours by state."""

    hours: int
    running: int = Field(
        description="ended hours the line ran (hours - stopped - marked - pending): a valid-data "
        "rate is valid / running"
    )
    valid: int
    insufficient: int
    stopped: int
    pending: int
    marked: int = Field(0, description="hours accepted marks declared (out of judgement)")
    exceeding: int
    disagreeing: int


class VocPollutant(Model):
    pollutant: str
    limit_mgm3: float
    limit_source: str
    # which rule produced the limit (process, height halving, override), and what NMHC stands for
    limit_rule: str = ""
    process: str = ""
    halved: bool = False
    proxy_of: str | None = None
    counts: VocCounts
    hours: list[VocHour]


class MarkSpan(Model):
    start: str
    end: str


class VocStack(Model):
    meter: str
    late_filled_hours: int = Field(0, description="hours filled in long after the fact")
    pollutants: list[VocPollutant]
    marks: list[MarkSpan] = Field(
        default_factory=list, description="accepted marks of the stack in the window (bands)"
    )


class VocAnswer(Model):
    plant: str
    start: str
    end: str
    timezone: str
    definition: dict[str, str | int] = Field(description="the rules applied, in words")
    stacks: list[VocStack]


class VocEmissionRow(Model):
    plant: str
    meter: str
    pollutant: str
    period: str = Field(description="local day YYYY-MM-DD or month YYYY-MM")
    emission_kg: float
    hours_with_emission: int
    hours: int


class VocPlantEmission(Model):
    plant: str
    pollutant: str
    period: str
    emission_kg: float


class VocCountyEmission(Model):
    pollutant: str
    period: str
    emission_kg: float


class VocEmissionsAnswer(Model):
    plant: str | None = None
    county: str | None = None
    start: str
    end: str
    period: Literal["day", "month"]
    timezone: str
    definition: dict[str, str | int]
    stacks: list[VocEmissionRow]
    plants: list[VocPlantEmission]
    totals: list[VocCountyEmission] = Field(description="summed over the stacks answered")


class VocCaptureRow(Model):
    plant: str
    meter: str
    pollutant: str
    period: str
    expected_minutes: int
    transmitted_minutes: int
    valid_minutes: int
    declared_minutes: int = Field(0, description="minutes of marked hours, not expected")
    transmitted_share: float | None
    valid_share: float | None


class VocCaptureAnswer(Model):
    plant: str
    start: str
    end: str
    period: Literal["day", "month"]
    timezone: str
    definition: dict[str, str]
    capture: list[VocCaptureRow]


# --- push ---------------------------------------------------------------------------------


class PushInvalidValue(Model):
    reading: int = Field(description="position of the reading in the message (0 if bare)")
    ts: str = Field(description="the reading's time, RFC 3339 UTC")
    value: str = Field(description="the value name, stored as `<value>_invalid` with the reason")
    reason: str


class PushDroppedReading(Model):
    reading: int = Field(description="position of the reading in the message (0 if bare)")
    ts: str
    reason: str


class PushAccepted(Model):
    accepted: int = Field(description="readings kept (handed to the broker)")
    plant: str
    meter: str
    topic: str
    invalid: list[PushInvalidValue] = Field(
        default_factory=list, description="values stored as invalid (at most 100 listed)"
    )
    invalid_total: int = 0
    dropped: list[PushDroppedReading] = Field(
        default_factory=list, description="readings not kept (at most 100 listed)"
    )
    dropped_total: int = 0


# --- keys ---------------------------------------------------------------------------------


class KeyView(Model):
    id: int
    name: str
    role: Literal["admin", "officer", "viewer", "plant", "inspector"]
    plant: str | None
    created_at: str
    revoked_at: str | None
    expires_at: str | None = Field(None, description="after this the key is refused")
    replaced_by: int | None = Field(None, description="the key that replaced it (rotation)")
    county: str | None = Field(
        None, description="the county the key is scoped to; null: every county (province)"
    )


class NewKeyAnswer(KeyView):
    key: str = Field(description="the secret: shown in this answer only")


class KeyList(Model):
    keys: list[KeyView]


# --- alerts -------------------------------------------------------------------------------


class AlertView(Model):
    id: int
    kind: str
    plant: str
    meter: str | None
    pollutant: str | None
    status: Literal["open", "acknowledged", "resolved"]
    message: str
    value: float | None
    limit: float | None
    opened_at: str
    last_seen_at: str
    updated_at: str
    cleared_since: str | None
    acknowledged_by: str | None
    acknowledged_at: str | None
    ack_comment: str | None
    resolved_at: str | None
    resolved_by: str | None
    resolve_comment: str | None
    reopen_count: int
    unit: str | None = Field(description="unit of `value`")
    limit_unit: str | None = Field(description="unit of `limit` (minutes for sensor_stuck)")
    since: str | None = Field(description="when the condition began")
    late: bool = Field(description="found in late, backfilled data")
    details: dict[str, Any]
    firm: str = Field(description="the firm's registry name (the county for `_county`)")
    lang: Literal["zh", "en"]
    title: str = Field(description="api.alerts.texts.render in `lang`")
    text: str = Field(description="the alert as a sentence in `lang`, local time, units")


class AlertList(Model):
    alerts: list[AlertView]


class AlertEventView(Model):
    event_id: int
    event: str
    at: str
    actor: str | None
    comment: str | None
    status: str


class AlertDetail(AlertView):
    events: list[AlertEventView]


# --- audit --------------------------------------------------------------------------------


class AuditEntryView(Model):
    id: int
    at: str
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class AuditList(Model):
    entries: list[AuditEntryView]


ERROR_TEXT = {
    401: "no or unknown API key",
    403: "the role may not do this",
    404: "not found (plant, alert or key)",
    409: "the action does not fit the alert's state",
    413: "payload too large",
    422: "bad parameter or refused input",
    429: "this key runs too many expensive reads at once (Retry-After)",
    502: "InfluxDB refused a query",
    503: "InfluxDB or the broker unreachable",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the usual errors (401, 403, 422, 503) and `statuses`."""
    return {
        status: {"model": ErrorAnswer, "description": ERROR_TEXT[status]}
        for status in sorted({401, 403, 422, 503, *statuses})
    }


ERROR_RESPONSES = error_responses()


# --- HJ 212 data loggers (api/routes/hj212.py) ----------------------------------------------


class Hj212Exchange(Model):
    """One packet of a command's exchange: sent to the logger ("out") or received ("in")."""

    direction: Literal["out", "in"]
    cn: str
    qn: str
    at: str
    packet: str


class Hj212Command(Model):
    id: int
    cn: str  # 1011 get time, 1012 set time, 2051 minute / 2061 hour history
    qn: str | None
    params: dict[str, str]
    reason: str
    requested_by: str
    status: Literal["requested", "sent", "accepted", "done", "refused", "failed", "timeout"]
    attempts: int
    created_at: str
    sent_at: str | None
    finished_at: str | None
    result: dict[str, Any] | None
    packets: list[Hj212Exchange]


class Hj212CommandLog(Model):
    plant: str
    meter: str
    mn: str
    commands: list[Hj212Command]


class Hj212Queued(Model):
    """A command queued for the HJ 212 gateway, which sends it once the logger is connected."""

    id: int
    cn: str
    params: dict[str, str]
    status: Literal["requested"]


# --- revisions of recorded readings (SPEC section 14) --------------------------------------


class RevisionView(Model):
    """A later different value for a recorded reading; the record stands until accepted."""

    id: str = Field(description="plant.meter.measurement.name.ts_ms.n")
    plant: str
    meter: str
    measurement: str = Field(description="where the record is stored (voc, voc_minute, gas, ...)")
    name: str = Field(description="the value name, e.g. nmhc_mgm3")
    ts: str = Field(description="the reading's time (device time)")
    number: int = Field(description="1 for the first revision of this reading, then 2, ...")
    value: float | None = Field(description="the revised value (null if it was not a number)")
    flag: str
    invalid: str | None
    record_value: float | None = Field(description="the recorded value it would replace")
    record_flag: str
    record_invalid: str | None
    arrived_at: str | None = Field(description="when the revision reached the collector")
    source: str = Field(description="mqtt, http, hj212, gateway-backfill or records")
    status: Literal["pending", "accepted"]
    accepted_by: str | None
    accepted_at: str | None
    accept_comment: str | None


class RevisionList(Model):
    plant: str
    revisions: list[RevisionView]


# --- power monitoring (SPEC section 13) --------------------------------------------------------


class LineMeter(Model):
    meter: str
    facility: str = Field(description="production | treatment")
    rated_kw: float | None = Field(description="registry rated_kw, else learned; null: unknown")
    rated_learned: bool = Field(description="learned from the trailing 60 days (SPEC 13)")


class LineBucket(Model):
    start: str
    production_kw: float | None = Field(description="15-minute mean, sum of production meters")
    treatment_kw: float | None = Field(description="15-minute mean, sum of treatment meters")
    producing: bool
    treatment_not_running: bool
    out_of_sync: bool


class LinePeriod(Model):
    start: str
    end: str
    minutes: float


class LineView(Model):
    plant: str
    line: str
    production_rated_kw: float | None
    treatment_rated_kw: float | None
    meters: list[LineMeter]
    out_of_sync_minutes: float
    periods: list[LinePeriod] = Field(description="runs of out-of-sync quarter hours")
    buckets: list[LineBucket] = Field(default_factory=list)


class LinesAnswer(Model):
    start: str
    end: str
    timezone: str
    definition: dict[str, str | float] = Field(description="the rules applied, in words")
    lines: list[LineView]
