"""Settings shared by every plantwatch process (SPEC section 9).

Each process has one pydantic-settings class; they all derive from `CommonSettings` so the
same `PLANTWATCH_*` variables (or a `.env` file) configure the whole system.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ingest.kernel.catalogue import MAX_RATE_PER_HOUR
from ingest.partition import Partition

RUN_ENV_FILE = "var/.env"
# Names the settings file to read instead of `var/.env` and `.env`; set but empty: none (tests).
ENV_FILE_VAR = "PLANTWATCH_ENV_FILE"


def demo_registry_path() -> Path:
    """The demo county's registry shipped inside the package."""
    return Path(str(resources.files("ingest") / "data" / "songyang-demo.toml"))


class CommonSettings(BaseSettings):
    """What every process needs: the registry, the broker and the time-series store."""

    # `var/.env` is written by `make run` (its services' ports and paths), so commands run
    # beside it reach the same InfluxDB and broker; a hand-written `.env` overrides it, and
    # real environment variables override both.
    model_config = SettingsConfigDict(
        env_prefix="PLANTWATCH_",
        env_file=(RUN_ENV_FILE, ".env"),
        extra="ignore",
        populate_by_name=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """`PLANTWATCH_ENV_FILE` replaces the default files (an explicit `_env_file` wins)."""
        chosen = os.environ.get(ENV_FILE_VAR)
        default = settings_cls.model_config.get("env_file")
        if chosen is not None and getattr(dotenv_settings, "env_file", None) == default:
            dotenv_settings = DotEnvSettingsSource(settings_cls, env_file=chosen or None)
        return init_settings, env_settings, dotenv_settings, file_secret_settings

    registry: Path = Field(default_factory=demo_registry_path)
    topic_root: str = "plantwatch"
    # IANA zone of the county's local time: HJ 212 DataTime, local days and months, charts.
    timezone: str = "Asia/Shanghai"
    # Readings stamped further ahead than this are refused (collectors and HTTP push alike).
    future_tolerance_seconds: float = 300.0

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    # CA that signed the broker's certificate: set it to connect over TLS (scripts/tls.py).
    mqtt_tls_ca: Path | None = None

    influx_url: str = "http://127.0.0.1:8086"
    influx_db: str = "plantwatch"
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    influx_timeout_seconds: float = 10.0
    # Ask InfluxDB for gzip-compressed query answers: worth it over a slow WAN link only.
    # On the same host or LAN, InfluxDB 1.x spends more CPU compressing a month of rollups
    # than the transfer saves (0.39 s plain vs 1.0 s gzip for 5.4 MB, `make bench`/docs).
    influx_gzip_answers: bool = False

    # The store engine (SPEC 15): InfluxDB 1.x for one machine (the default), or ClickHouse
    # for a province on a cluster (ingest/kernel/clickhouse.py). `clickhouse_cluster` names the
    # cluster of the server's `remote_servers` (None: one node, plain MergeTree); an insert
    # there is acknowledged once `clickhouse_insert_quorum` replicas hold it.
    store: Literal["influxdb", "clickhouse"] = "influxdb"
    clickhouse_url: str = "http://127.0.0.1:8123"
    clickhouse_db: str = "plantwatch"
    clickhouse_username: str | None = None
    clickhouse_password: SecretStr | None = None
    clickhouse_timeout_seconds: float = 10.0
    clickhouse_cluster: str | None = None
    clickhouse_insert_quorum: int = 2

    # Plant and service MQTT passwords (ingest/credentials.py); keep it 0600.
    credentials_file: Path = Path("var/mqtt-credentials.json")

    log_level: str = "WARNING"
    log_json: bool = True

    # The one plausible rate per register (per hour): faster steps are recorded by the
    # collector as implausible jumps and counted in no interval by every fuel figure.
    max_rate_per_hour: dict[str, float] = Field(default_factory=lambda: dict(MAX_RATE_PER_HOUR))

    @property
    def mqtt_password_text(self) -> str | None:
        """The MQTT password as plain text for the client library, or None."""
        return self.mqtt_password.get_secret_value() if self.mqtt_password else None

    @property
    def influx_password_text(self) -> str | None:
        """The InfluxDB password (or 2.x token) as plain text, or None."""
        return self.influx_password.get_secret_value() if self.influx_password else None

    @property
    def clickhouse_password_text(self) -> str | None:
        """The ClickHouse password as plain text, or None."""
        return self.clickhouse_password.get_secret_value() if self.clickhouse_password else None


class CollectorSettings(CommonSettings):
    """`python -m ingest`: one collector process."""

    collector_id: str = "collector-1"
    # The MQTT client id of the collector's persistent session; empty: the collector id.
    # NATS binds no client id to a user, so `make cluster` sets one no plant can guess
    # (ingest/natsauth.py `session_client_id`; docs/decisions.md).
    mqtt_client_id: str = ""
    # Scale-out on Mosquitto: collector i of N takes the plants of hash bucket i over plain,
    # persistent subscriptions (ingest/partition.py). `$share` only by choice, on brokers that
    # keep shared subscriptions over a restart (EMQX); Mosquitto 2.0 does not (SPEC section 5).
    collector_partition: str = "1/1"
    share_group: str = ""
    batch_max_points: int = 5000
    batch_max_seconds: float = 0.5
    # Unacknowledged messages are capped by the broker (Mosquitto: max_inflight_messages,
    # 2000 in our config); closing a batch at half of that keeps the next one filling.
    batch_max_messages: int = 1000
    # Each collector spools under spool_dir/<collector_id>, so several can share a machine.
    spool_dir: Path = Path("var/spool")
    spool_max_bytes: int = 1_000_000_000
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None  # Prometheus `GET /metrics`; None: not served
    stats_interval_seconds: float = 10.0  # how often an `ingest_stats` point is written
    # First write is the record (SPEC 14, ingest/keeper.py); off only to measure its cost.
    first_write_check: bool = True
    # Points per series the recent index holds (ingest/kernel/record.py): batches newer than its
    # horizon are checked without asking InfluxDB.
    record_index_points: int = 1024

    @field_validator("collector_partition")
    @classmethod
    def _partition_spec(cls, value: str) -> str:
        Partition.parse(value)  # raises PartitionError (a ValueError) with the reason
        return value.strip()

    @model_validator(mode="after")
    def _one_way_to_share(self) -> CollectorSettings:
        if self.share_group and self.partition.count > 1:
            raise ValueError(
                "PLANTWATCH_SHARE_GROUP and a PLANTWATCH_COLLECTOR_PARTITION of several "
                "partitions are two ways to share the plants; choose one"
            )
        return self

    @property
    def partition(self) -> Partition:
        return Partition.parse(self.collector_partition)

    @property
    def session_client_id(self) -> str:
        """The client id of the collector's persistent session."""
        return self.mqtt_client_id or self.collector_id


class GatewaySettings(CommonSettings):
    """`python -m ingest hj212-gateway`: the HJ 212 TCP gateway (SPEC section 11)."""

    hj212_host: str = "127.0.0.1"
    hj212_port: int = 9212
    hj212_gateway_id: str = "hj212-gateway-1"  # MQTT client id and metrics label
    hj212_max_data_length: int = 4096  # the standard says 1024; field loggers send more
    hj212_idle_timeout_seconds: float = 600.0  # loggers send at least every 10 minutes
    hj212_frame_timeout_seconds: float = 60.0  # a started packet must complete (slow senders)
    hj212_max_connections: int = 5000
    hj212_max_connections_per_address: int = 200  # 4G loggers often share a carrier NAT
    hj212_answer_timeout_seconds: float = 30.0  # a PUBACK later than this is counted, logged
    # Packets of one connection awaiting their PUBACK at most: at this many the gateway stops
    # reading that connection (TCP backpressure) until the broker catches up.
    hj212_max_pending_per_connection: int = 64
    hj212_write_buffer_bytes: int = 65536  # a logger not reading its answers is closed
    # Balancers in front of the gateway (HAProxy `send-proxy`, `make cluster`): a connection
    # from one of these addresses starts with a PROXY v1 header naming the logger, whose
    # address then counts for every per-address limit and lock (ingest/gateway/proxyline.py).
    # A header from any other address is not believed. Empty: no balancer.
    hj212_proxy_from: list[str] = []
    # Abuse limits (docs/hj212-gateway.md): lockout after wrong PWs or undecryptable
    # packets, per MN and per address, doubling up to the maximum; a connection sending
    # this many bad frames (CRC, syntax, garbage) is closed; refusals kept a minute a source.
    hj212_auth_max_failures: int = 5
    hj212_auth_window_seconds: float = 300.0
    hj212_auth_lock_seconds: float = 60.0
    hj212_auth_max_lock_seconds: float = 3600.0
    hj212_max_bad_frames: int = 10
    hj212_refusals_kept_per_minute: int = 5
    # A stack without `hj212_pw` would take any PW: the gateway refuses to start unless this
    # says the registry is a test's (the demo county, a bench).
    hj212_allow_no_pw: bool = False
    hj212_metrics_host: str = "127.0.0.1"
    hj212_metrics_port: int | None = None
    # Commands (CN 1011/1012/2051/2061) and their audit log, in the API's SQL database.
    database_url: str = "sqlite:///var/plantwatch.db"
    hj212_commands_enabled: bool = True
    hj212_command_timeout_seconds: float = 60.0
    hj212_command_retries: int = 3
    hj212_clock_check_interval_seconds: float = 3600.0
    hj212_clock_drift_threshold_seconds: float = 60.0
    hj212_backfill_min_gap_seconds: float = 600.0  # a silence this long triggers a back-fill
    hj212_backfill_max_hours: float = 72.0
    # Store-and-forward to upstream platforms: "host:port" entries, comma-separated;
    # "host:port@2017" or "host:port@2025" sends that upstream every packet in that HJ 212
    # version (default: each packet in its logger's version).
    hj212_forward: str = ""
    # A 2025 upstream's own SM4 key: "host:port=<32 hex>" entries, comma-separated (a secret).
    hj212_forward_sm4_keys: SecretStr | None = None
    hj212_forward_dir: Path = Path("var/hj212-forward")
    hj212_forward_answer_timeout_seconds: float = 10.0
    # Per upstream; near full raises an alarm, full leaves packets unanswered (resent later).
    hj212_forward_max_queue_bytes: int = 2 << 30
    future_tolerance_seconds: float = 300.0
