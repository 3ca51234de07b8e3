"""The exact KPI where plain InfluxQL panels can read it: daily `kpi_gas_share` and `kpi_firm_status`.

InfluxQL cannot compute the KPI (coverage, `unknown`, conversion facts), so the core writes
what it computes. After each rollup pass, for every local day whose trailing window the
pass may have changed (from the day of the oldest re-rolled hour, at most a window's
length onwards, to today), it writes:

- `kpi_gas_share` (no tags) at local midnight of day D: the KPI over the window ending at
  the end of D (at the pass for today): `share`, `share_upper`, `gas`, `mixed`, `coal`,
  `idle`, `unknown`, `firms`, `firms_needed`, `goal`, `window_days`, `at_ms`.
- `kpi_firm_status` (`plant`) at the same time: `status` (string), `status_code`
  (gas 4, mixed 3, coal 2, idle 1, unknown 0), `gas_fraction`, `gas_m3`, `coal_kg`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from api.fuel.service import FuelCore, whole_ms
from api.ranges import DAY, day_offset, floor_to
from api.readmodel.job import PassReport
from ingest.kernel.registry import Plant
from ingest.kernel.store import encode_point

KPI_MEASUREMENT = "kpi_gas_share"
FIRM_MEASUREMENT = "kpi_firm_status"
STATUS_CODES = {"gas": 4, "mixed": 3, "coal": 2, "idle": 1, "unknown": 0}
MAX_DAYS_PER_PASS = 400


def kpi_lines(
    core: FuelCore, plants: Sequence[Plant], day: datetime, at: datetime, window: timedelta
) -> list[str]:
    """The points of one local day (`day` its local midnight), KPI over the window ending `at`."""
    kpi = core.kpi(plants, at, window)
    share = kpi.share
    day_ms = int(day.timestamp() * 1000)
    fields: dict[str, float | int] = {
        **{status: count for status, count in share.counts.items()},
        "firms": share.firms,
        "firms_needed": share.firms_needed,
        "goal": share.goal,
        "window_days": window / DAY,
        "at_ms": int(whole_ms(at).timestamp() * 1000),
    }
    if share.share is not None:
        fields["share"] = share.share
    if share.share_upper is not None:
        fields["share_upper"] = share.share_upper
    lines = [encode_point(KPI_MEASUREMENT, {}, fields, day_ms)]
    for row in share.rows:
        firm: dict[str, float | int | str] = {
            "status": row.status,
            "status_code": STATUS_CODES[row.status],
            "gas_m3": row.gas_m3,
            "coal_kg": row.coal_kg,
        }
        if row.gas_fraction is not None:
            firm["gas_fraction"] = row.gas_fraction
        lines.append(encode_point(FIRM_MEASUREMENT, {"plant": row.plant}, firm, day_ms))
    return lines


class KpiPoints:
    """After each rollup pass, rewrite the daily KPI points the pass may have changed."""

    def __init__(
        self,
        core: FuelCore,
        plants: Sequence[Plant],
        window: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.core, self.plants, self.window, self.clock = core, tuple(plants), window, clock

    def local_midnight(self, ts: datetime) -> datetime:
        return floor_to(ts, DAY, day_offset(self.core.tz, ts))

    def days(self, report: PassReport, now: datetime) -> list[datetime]:
        """Local midnights whose trailing window holds a re-rolled hour, and today."""
        today = self.local_midnight(now)
        if report.oldest_hour is None or report.newest_hour is None:
            return [today]
        first = max(self.local_midnight(report.oldest_hour), today - MAX_DAYS_PER_PASS * DAY)
        last = min(today, report.newest_hour + self.window + DAY)
        out, day = [], first
        while day <= last:
            out.append(day)
            day = self.local_midnight(day + DAY + timedelta(hours=3))
        if not out or out[-1] != today:
            out.append(today)
        return out

    def __call__(self, report: PassReport) -> None:
        if not self.plants:
            return
        now = self.clock()
        lines: list[str] = []
        for day in self.days(report, now):
            end = self.local_midnight(day + DAY + timedelta(hours=3))
            lines += kpi_lines(self.core, self.plants, day, min(end, now), self.window)
        self.core.store.write_lines(lines)
