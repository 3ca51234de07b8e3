"""Settings of `python -m api` (SPEC section 9)."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from ingest.kernel.schema import MAX_PACKET_BYTES
from ingest.settings import CommonSettings

# The dated conversion factors (api/factors.py) and their units.
FACTOR_NAMES = {
    "gas_kgce_per_m3": "kgce/m³",
    "coal_kgce_per_kg": "kgce/kg",
    "co2_kg_per_kg_coal": "kgCO₂/kg",
    "co2_kg_per_m3_gas": "kgCO₂/m³",
}


class FactorChange(BaseModel):
    """New values of some factors, in effect from a local date on."""

    effective_from: date
    source: str = ""
    gas_kgce_per_m3: float | None = Field(None, ge=1.1, le=1.33)
    coal_kgce_per_kg: float | None = Field(None, gt=0)
    co2_kg_per_kg_coal: float | None = Field(None, gt=0)
    co2_kg_per_m3_gas: float | None = Field(None, gt=0)

    def factors(self) -> dict[str, float | None]:
        return {name: getattr(self, name) for name in FACTOR_NAMES}


class KpiDefinition(BaseModel):
    """The coal-to-gas KPI's factors and thresholds (SPEC section 6), all configurable."""

    window_days: float = 30.0
    gas_kgce_per_m3: float = 1.2143
    coal_kgce_per_kg: float = 0.7143
    gas_status_min_fraction: float = 0.9
    coal_status_max_fraction: float = 0.1
    max_silent_fraction: float = 0.2
    co2_kg_per_kg_coal: float = 1.9003
    co2_kg_per_m3_gas: float = 2.1622
    # The factors above hold from this date; later changes are listed with their dates.
    factors_effective_from: date = date(2000, 1, 1)
    factors_source: str = "GB/T 2589-2020"
    # GB/T 2589-2020 gives standard-coal factors only, not CO₂ emission factors.
    co2_factors_source: str = "configurable factors"
    factor_changes: list[FactorChange] = []


class AlertRules(BaseModel):
    """Thresholds of the alert kinds of SPEC section 7 (docs/alerts.md), all configurable."""

    # meter kind -> minutes without any reading before the meter is offline
    offline_minutes: dict[str, float] = {
        "voc": 15.0,
        "gas": 60.0,
        "coal": 60.0,
        "electricity": 60.0,
    }
    # how far back the latest reading is looked for; silent longer reads "no data in this window"
    offline_lookback_hours: float = 48.0
    spike_factor: float = 2.0
    # a valid reading above spike_factor x limit keeps the spike condition true this long
    spike_lookback_minutes: float = 15.0
    stuck_minutes: float = 30.0
    # the stack is running while every valid flow reading of the run is above this
    running_min_flow_m3h: float = 500.0
    # completed hours searched for the latest valid hourly mean
    hourly_lookback_hours: int = 3
    # hours before those searched for exceedances that back-filled data revealed (late alerts)
    late_exceedance_lookback_hours: int = 31 * 24
    # coal burnt in the trailing hours by a firm whose status (over the KPI window before them) is gas
    coal_window_hours: float = 6.0
    coal_min_kg: float = 50.0
    # At least this many meters, and this share of them, silent together is an ingest problem
    # (or a backfill loading) rather than many meter problems: see api.alerts.rules.ingest_state.
    stall_min_meters: int = 5
    stall_fraction: float = 0.5
    # Points written by a collector in this many trailing minutes means data is flowing.
    flowing_minutes: float = 3.0
    # Data flowing while even the newest reading anywhere is this old: a catch-up is running.
    catchup_lag_minutes: float = 10.0
    # Clock checks of HJ 212 loggers (hourly, by the gateway) searched for drift past threshold.
    clock_drift_lookback_hours: float = 2.0
    # Revisions of recorded readings (SPEC 14) that arrived this long ago still keep
    # `reading_revised` open until an officer accepts them.
    revision_lookback_hours: float = 168.0
    # Gateway lockouts (wrong PWs, undecryptable packets) searched; none in it: resolved.
    auth_failures_lookback_hours: float = 1.0


class RobotSettings(BaseModel):
    """One DingTalk or WeCom group robot that alert events go to (api/robots/)."""

    name: str = Field(pattern=r"^[a-z0-9-]{1,32}$")
    kind: Literal["dingtalk", "wecom"]
    webhook: str  # DingTalk: .../robot/send?access_token=...; WeCom: .../webhook/send?key=...
    secret: SecretStr | None = None  # DingTalk signing secret (SEC...), or the WeCom key
    kinds: list[str] = []  # empty: every kind
    plants: list[str] = []  # empty: every plant
    min_severity: Literal["info", "warning", "critical"] = "info"
    events: list[str] = ["raised", "reopened", "resolved"]
    quiet_hours: str | None = None  # local "22:00-07:00"
    quiet_min_severity: Literal["info", "warning", "critical"] = "critical"

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str | None) -> str | None:
        if value is not None:
            parts = value.split("-")
            if len(parts) != 2:
                raise ValueError(f"quiet hours must look like 22:00-07:00, got {value!r}")
            for part in parts:
                time.fromisoformat(part.strip())
        return value


class ApiSettings(CommonSettings):
    """`python -m api`: the HTTP service."""

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    admin_key: SecretStr | None = None
    database_url: str = "sqlite:///var/plantwatch.db"
    # `make run`'s data folder (broker state for `python -m api backup`) and InfluxDB's RPC
    # address (`influxd backup` / `restore`); `make run` writes both into var/.env.
    var_dir: Path = Path("var")
    influx_rpc: str = "127.0.0.1:8088"
    kpi: KpiDefinition = KpiDefinition()

    # Alert engine (docs/alerts.md)
    alert_engine_enabled: bool = True
    alert_interval_seconds: float = Field(30.0, gt=0)
    # KPI-based kinds (coal_after_conversion, gas_share_off_track) query 30 days: less often
    alert_kpi_interval_seconds: float = Field(300.0, gt=0)
    alert_hold_off_seconds: float = Field(600.0, ge=0)
    alert_raise_after_evaluations: int = Field(2, ge=1)
    alert_reopen_window_seconds: float = Field(3600.0, ge=0)
    alert_lease_seconds: float = Field(90.0, gt=0)
    alert_stream_poll_seconds: float = Field(1.0, gt=0)
    alert_rules: AlertRules = AlertRules()
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_timeout_seconds: float = 5.0
    webhook_max_attempts: int = Field(8, ge=1)
    webhook_backoff_seconds: float = Field(1.0, gt=0)
    webhook_max_backoff_seconds: float = 60.0
    # DingTalk/WeCom group robots (JSON list of RobotSettings); links point at public_url.
    robots: list[RobotSettings] = Field(default_factory=list)
    public_url: str = "http://127.0.0.1:8000"
    # Monthly reports kept on disk by the report job (api/reports/job.py).
    reports_dir: str = "var/reports"
    reports_keep: int = Field(24, ge=1)
    reports_job_enabled: bool = True
    # Rollups (api/fuel/rollup.py): run in the API process unless disabled.
    rollup_enabled: bool = True
    rollup_interval_seconds: float = 60.0
    # Dirty marks are re-read this far behind the cursor (writes in flight, clock skew).
    rollup_mark_lag_seconds: float = Field(120.0, ge=0)
    rollup_chunk_days: float = 7.0
    # A register step bridging more silence than this is not attributed to any hour.
    rollup_max_gap_hours: float = 24.0
    # Usage answers: at most this many intervals per request.
    usage_max_buckets: int = 5000
    # HTTP push waits this long for the broker's PUBACK before answering 503.
    push_timeout_seconds: float = 10.0
    # The broker's `max_packet_size`: a push whose PUBLISH would pass it is refused with 413
    # before it is published (the broker would drop the API's shared connection).
    mqtt_max_packet_bytes: int = Field(MAX_PACKET_BYTES, gt=1024)
    # Limits before work (api/limits.py): request bodies other than HTTP push are small JSON;
    # expensive reads (KPI, usage, VOC, exports) in flight at once per key; raw data one
    # usage request may scan where rollups do not answer (buckets not whole hours, or not
    # rolled up yet).
    api_max_body_bytes: int = Field(65_536, gt=0)
    api_max_concurrent_reads: int = Field(4, ge=1)
    # Per key: monthly reports at once and per hour, alert streams open at once (api/limits.py).
    api_max_concurrent_reports: int = Field(1, ge=1)
    api_reports_per_key_per_hour: int = Field(30, ge=1)
    api_max_streams_per_key: int = Field(3, ge=1)
    usage_max_raw_days: float = Field(31.0, gt=0)
    # An open alert stream re-checks its key this often and closes once the key is revoked.
    stream_key_check_seconds: float = Field(10.0, gt=0)
    # HTTPS: both set, uvicorn serves TLS with them (docs/operations.md).
    api_tls_certfile: Path | None = None
    api_tls_keyfile: Path | None = None

    @model_validator(mode="after")
    def _tls_pair(self) -> ApiSettings:
        # Half a TLS setup would silently serve plain HTTP: refuse it at start.
        given = (self.api_tls_certfile, self.api_tls_keyfile)
        if (given[0] is None) != (given[1] is None):
            raise ValueError("set both PLANTWATCH_API_TLS_CERTFILE and PLANTWATCH_API_TLS_KEYFILE")
        for path in given:
            if path is not None and not path.is_file():
                raise ValueError(f"TLS file {path} does not exist")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        # Local days and months (usage, history, rollups) need a real IANA zone.
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)"
            ) from exc
        return value
