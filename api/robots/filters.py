"""Which alert events a robot channel takes, and its quiet hours (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from api.alerts.model import (
    COAL_AFTER_CONVERSION,
    GAS_SHARE_OFF_TRACK,
    INGEST_STALLED,
    LOGGER_AUTH_FAILURES,
    LOGGER_CLOCK_DRIFT,
    METER_OFFLINE,
    SENSOR_STUCK,
    VOC_DARK_AFTER_EXCEEDANCE,
    VOC_HOURLY_EXCEEDANCE,
    VOC_SPIKE,
)

SEVERITIES = ("info", "warning", "critical")
SEVERITY_BY_KIND = {
    VOC_HOURLY_EXCEEDANCE: "critical",
    COAL_AFTER_CONVERSION: "critical",
    VOC_SPIKE: "warning",
    GAS_SHARE_OFF_TRACK: "warning",
    METER_OFFLINE: "warning",
    SENSOR_STUCK: "info",
    LOGGER_CLOCK_DRIFT: "info",
    LOGGER_AUTH_FAILURES: "warning",
    VOC_DARK_AFTER_EXCEEDANCE: "critical",
    INGEST_STALLED: "critical",
}


def severity_of(kind: str) -> str:
    return SEVERITY_BY_KIND.get(kind, "warning")


def rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local [start, end) each day; start > end spans midnight (22:00-07:00)."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        try:
            a, b = text.split("-")
            return cls(time.fromisoformat(a.strip()), time.fromisoformat(b.strip()))
        except ValueError:
            raise ValueError(f"quiet hours must look like 22:00-07:00, got {text!r}") from None

    def covers(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Empty `kinds`/`plants` take every kind/plant."""

    kinds: frozenset[str] = frozenset()
    plants: frozenset[str] = frozenset()
    min_severity: str = "info"
    events: frozenset[str] = frozenset({"raised", "reopened", "resolved"})
    quiet_hours: QuietHours | None = None
    # During quiet hours only events at least this severe go out; the rest are skipped.
    quiet_min_severity: str = "critical"


def decide(f: EventFilter, event: str, alert: Mapping[str, Any], local_now: datetime) -> str | None:
    """None to send, else the reason this channel skips the event."""
    kind, plant = str(alert.get("kind", "")), str(alert.get("plant", ""))
    severity = severity_of(kind)
    if event not in f.events:
        return f"event {event!r} not taken"
    if f.kinds and kind not in f.kinds:
        return f"kind {kind!r} not taken"
    if f.plants and plant not in f.plants:
        return f"plant {plant!r} not taken"
    if rank(severity) < rank(f.min_severity):
        return f"severity {severity} below {f.min_severity}"
    if (
        f.quiet_hours is not None
        and f.quiet_hours.covers(local_now.time())
        and rank(severity) < rank(f.quiet_min_severity)
    ):
        return f"quiet hours ({severity} below {f.quiet_min_severity})"
    return None
