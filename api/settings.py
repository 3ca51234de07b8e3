"""Settings of `python -m api` (SPEC section 9)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, SecretStr, field_validator

from ingest.settings import CommonSettings


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
    # Steps faster than these are implausible jumps: flagged, not counted.
    max_gas_m3_per_hour: float = 20_000.0
    max_coal_kg_per_hour: float = 50_000.0


class ApiSettings(CommonSettings):
    """`python -m api`: the HTTP service."""

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    admin_key: SecretStr | None = None
    database_url: str = "sqlite:///var/plantwatch.db"
    kpi: KpiDefinition = KpiDefinition()
    # Rollups (api/rollup.py): run in the API process unless disabled.
    rollup_enabled: bool = True
    rollup_interval_seconds: float = 60.0
    rollup_reroll_hours: float = 6.0
    rollup_chunk_days: float = 7.0
    # A register step bridging more silence than this is not attributed to any hour.
    rollup_max_gap_hours: float = 24.0
    # Usage answers: at most this many intervals per request.
    usage_max_buckets: int = 5000
    # HTTP push waits this long for the broker's PUBACK before answering 503.
    push_timeout_seconds: float = 10.0

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
