"""The alert rules of SPEC section 7 as pure functions: observations in, conditions that hold out.

Each function sees plain data (numpy arrays, dataclasses) taken at one instant `now`; it
never reads a clock or a store. docs/alerts.md states every rule in words.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from api.alerts.model import (
    COAL_AFTER_CONVERSION,
    COUNTY,
    FRACTION,
    GAS_SHARE_OFF_TRACK,
    INGEST_STALLED,
    KG,
    KW,
    LOGGER_AUTH_FAILURES,
    LOGGER_CLOCK_DRIFT,
    METER_OFFLINE,
    METERS,
    MGM3,
    MINUTES,
    READING_REVISED,
    REVISIONS,
    SECONDS,
    SENSOR_STUCK,
    TREATMENT_NOT_RUNNING,
    VOC_DARK_AFTER_EXCEEDANCE,
    VOC_HOURLY_EXCEEDANCE,
    VOC_LATE_EXCEEDANCE,
    VOC_SPIKE,
    Alert,
    AlertKey,
    Condition,
)
from api.fuel.rules import FirmRow
from api.power.rules import (
    BUCKET_MS,
    PRODUCING_SHARE,
    RUNNING_SHARE,
    LineBuckets,
    facility_kw,
    latest_complete,
)
from api.presence import Seen, allowance_minutes, catching_up, is_reporting
from api.settings import AlertRules
from api.voc.rules import (
    FLOW_FIELD,
    HOUR_MS,
    INSUFFICIENT,
    VALID,
    Limit,
    StackCompliance,
    local_hour_text,
)

# Alert texts give the plant's local time (its officers and loggers speak it).
LOCAL_TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class Peak:
    """The highest valid reading of one value of one stack in the spike window."""

    plant: str
    meter: str
    pollutant: str
    value_mgm3: float
    ts: datetime


@dataclass(frozen=True, slots=True)
class StackSeries:
    """Raw readings of one stack: `values[name]` is NaN where missing or not flagged N."""

    plant: str
    meter: str
    ts_ms: npt.NDArray[np.int64]
    values: Mapping[str, npt.NDArray[np.float64]]


@dataclass(frozen=True, slots=True)
class MeterRef:
    plant: str
    meter: str
    kind: str


def _local(ts: datetime, timezone: str) -> str:
    return ts.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M:%S")


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _iso_ms(ms: int) -> str:
    return _dt(ms).isoformat()


def unit_of(value_name: str) -> str:
    """The unit a value name carries in its suffix (SPEC section 4), e.g. `flow_m3h` -> m³/h."""
    for suffix, unit in VALUE_UNITS:
        if value_name.endswith(suffix):
            return unit
    return ""


VALUE_UNITS = (
    ("_mgm3", MGM3),
    ("_m3h", "m³/h"),
    ("_m3", "m³"),
    ("_kgh", "kg/h"),
    ("_kg", "kg"),
    ("_kwh", "kWh"),
    ("_kw", "kW"),
    ("current_a", "A"),
    ("_c", "°C"),
    ("_kpa", "kPa"),
    ("_pct", "%"),
)


def limit_details(limit: Limit) -> dict[str, object]:
    """Which rule produced a limit, as an alert's details carry it (texts render it)."""
    return {"limit_source": limit.source, "process": limit.process, "halved": limit.halved}


def _hour_text(start_ms: int, timezone: str) -> str:
    return f"{local_hour_text(start_ms, timezone)}–{local_hour_text(start_ms + HOUR_MS, timezone)[11:]}"


def run_start(valid: Sequence[int], exceeds: npt.NDArray[np.bool_]) -> int:
    """The first hour of the exceedance run ending at the latest valid hour `valid[-1]`.

    Hours without valid data inside the run (insufficient, stopped) neither break nor
    start it: only a valid hour under the limit ends a run, as it resolves an alert.
    """
    first = valid[-1]
    for i in reversed(valid):
        if not exceeds[i]:
            break
        first = i
    return first


def hourly_exceedances(
    stacks: Iterable[StackCompliance],
    open_keys: Collection[AlertKey] = (),
    timezone: str = LOCAL_TIMEZONE,
) -> list[Condition]:
    """Per stack and pollutant: the latest valid hour is above its limit.

    An open alert stays while no valid hour has come since: only valid hours under the
    limit resolve it, never data going missing (C/M flags, silence).
    """
    out = []
    for stack in stacks:
        for p in stack.pollutants:
            key = AlertKey(VOC_HOURLY_EXCEEDANCE, stack.plant, stack.meter, p.limit.pollutant)
            valid = [i for i, s in enumerate(p.status) if s == VALID]
            if not valid:
                if key in open_keys:
                    out.append(
                        Condition(
                            key,
                            None,
                            p.limit.limit_mgm3,
                            f"{p.limit.pollutant}: no valid hour since the exceedance; it stays "
                            f"open until valid hours are under {p.limit.limit_mgm3:g} mg/m³",
                        )
                    )
                continue
            i = valid[-1]
            if not p.exceeds[i]:
                continue
            start = int(p.hour_start_ms[i])
            mean = float(p.mean[i])
            out.append(
                Condition(
                    key,
                    round(mean, 6),
                    p.limit.limit_mgm3,
                    f"{p.limit.pollutant} hourly mean {mean:.2f} mg/m³ for "
                    f"{_hour_text(start, timezone)} above its limit {p.limit.limit_mgm3:g} mg/m³",
                    unit=MGM3,
                    since=_dt(int(p.hour_start_ms[run_start(valid, p.exceeds)])),
                    details={
                        "hour_start": _iso_ms(start),
                        "hour_end": _iso_ms(start + HOUR_MS),
                        **limit_details(p.limit),
                    },
                )
            )
    return out


# (plant, meter, pollutant) -> [start ms, end ms) spans whose exceeding hours an alert covers
Cover = Mapping[tuple[str, str, str], Sequence[tuple[int, int]]]
LATE_RUNS_SHOWN = 10


def exceedance_cover(alerts: Iterable[Alert]) -> dict[tuple[str, str, str], list[tuple[int, int]]]:
    """The hours each exceedance alert covers, so a late one never repeats them.

    A live `voc_hourly_exceedance` covers its run, from `since` to when it was last seen
    holding; a late one that is no longer active covers the hours it reported (an active
    one does not: its own hours keep its condition holding until an officer resolves it).
    """
    out: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
    for a in alerts:
        where = (a.key.plant, a.key.meter, a.key.pollutant)
        if a.key.kind == VOC_HOURLY_EXCEEDANCE:
            start = a.since or a.opened_at
            span = (_ms(start) - _ms(start) % HOUR_MS, _ms(a.last_seen_at))
        elif a.key.kind == VOC_LATE_EXCEEDANCE and not a.active:
            first, end = a.details.get("first_hour"), a.details.get("last_hour_end")
            if first is None or end is None:
                continue
            span = (_ms(datetime.fromisoformat(first)), _ms(datetime.fromisoformat(end)))
        else:
            continue
        out.setdefault(where, []).append(span)
    return out


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def late_exceedances(
    stacks: Iterable[StackCompliance],
    covered: Cover,
    live_from_ms: int,
    timezone: str = LOCAL_TIMEZONE,
    first_heard_ms: Mapping[tuple[str, str], int] | None = None,
) -> list[Condition]:
    """Exceeding valid hours before `live_from_ms` (older than the live rule looks) that no
    alert covers: back-filled data revealed them. One late condition per stack and pollutant,
    `since` its first such hour, `value` the highest of their means, the runs in `details`.

    An hour that ended before plantwatch first heard the stack (`first_heard_ms`, its least
    arrival) is history loaded with the stack's first import, not data sent late: it is
    judged on the VOC pages and in the report, never raised as found late. A stack not in
    `first_heard_ms` (no arrival kept) has all its hours judged.
    """
    heard = first_heard_ms or {}
    out = []
    for stack in stacks:
        since_ms = heard.get((stack.plant, stack.meter), 0)
        for p in stack.pollutants:
            spans = covered.get((stack.plant, stack.meter, p.limit.pollutant), ())
            hours = [
                int(h)
                for h, over in zip(p.hour_start_ms.tolist(), p.exceeds.tolist(), strict=True)
                if over
                and since_ms < h + HOUR_MS <= live_from_ms
                and not any(a <= h < b for a, b in spans)
            ]
            if not hours:
                continue
            runs: list[list[int]] = []
            for h in hours:
                if runs and runs[-1][1] == h:
                    runs[-1][1] = h + HOUR_MS
                else:
                    runs.append([h, h + HOUR_MS])
            worst = float(np.nanmax(p.mean[np.isin(p.hour_start_ms, hours)]))
            out.append(
                Condition(
                    AlertKey(VOC_LATE_EXCEEDANCE, stack.plant, stack.meter, p.limit.pollutant),
                    round(worst, 6),
                    p.limit.limit_mgm3,
                    f"{p.limit.pollutant}: {len(hours)} h above its limit "
                    f"{p.limit.limit_mgm3:g} mg/m³ found in back-filled data, the first "
                    f"{_hour_text(hours[0], timezone)}",
                    unit=MGM3,
                    since=_dt(hours[0]),
                    late=True,
                    details={
                        "hours": len(hours),
                        "first_hour": _iso_ms(hours[0]),
                        "last_hour_end": _iso_ms(hours[-1] + HOUR_MS),
                        "max_mgm3": round(worst, 6),
                        "limit_mgm3": p.limit.limit_mgm3,
                        "runs": [[_iso_ms(a), _iso_ms(b)] for a, b in runs[:LATE_RUNS_SHOWN]],
                    },
                )
            )
    return out


def dark_after_exceedance(
    stacks: Iterable[StackCompliance],
    open_keys: Collection[AlertKey] = (),
    timezone: str = LOCAL_TIMEZONE,
    catching: Collection[tuple[str, str]] = (),
) -> list[Condition]:
    """A stack whose hours after an exceeding valid hour are all insufficient (gone dark).

    Stopped hours (flag F) are not dark: the line stopped. An open alert stays until a valid
    hour comes. A stack in `catching` (its latest reading arrived within its allowance but is
    behind: a logger emptying its buffer, a back-fill; `catching_up_meters`) is delivering its
    hours, not dark: nothing new is raised for it, and an open alert holds until they come.
    """
    out = []
    for stack in stacks:
        for p in stack.pollutants:
            key = AlertKey(VOC_DARK_AFTER_EXCEEDANCE, stack.plant, stack.meter, p.limit.pollutant)
            if (stack.plant, stack.meter) in catching:
                if key in open_keys:
                    out.append(
                        Condition(key, None, 1.0, f"{p.limit.pollutant}: its hours still arriving")
                    )
                continue
            valid = [i for i, s in enumerate(p.status) if s == VALID]
            after = p.status[valid[-1] + 1 :] if valid else p.status
            ended = [s for s in after if s != "pending"]
            dark = bool(ended) and all(s == INSUFFICIENT for s in ended)
            if valid and p.exceeds[valid[-1]] and dark:
                start = int(p.hour_start_ms[valid[-1]])
                out.append(
                    Condition(
                        key,
                        float(len(ended)),
                        1.0,
                        f"{p.limit.pollutant}: no valid data for {len(ended)} h right after the "
                        f"exceeding hour {_hour_text(start, timezone)}",
                    )
                )
            elif not valid and key in open_keys:
                out.append(Condition(key, None, 1.0, f"{p.limit.pollutant}: still no valid hour"))
    return out


def spikes(
    peaks: Iterable[Peak],
    limits: Mapping[tuple[str, str], Mapping[str, Limit]],
    factor: float,
    timezone: str = LOCAL_TIMEZONE,
) -> list[Condition]:
    """A single valid reading above `factor` × its limit (stacks and pollutants with a limit only)."""
    out = []
    for peak in peaks:
        limit = limits.get((peak.plant, peak.meter), {}).get(peak.pollutant)
        if limit is None:
            continue
        threshold = factor * limit.limit_mgm3
        if round(peak.value_mgm3, 9) > threshold:
            out.append(
                Condition(
                    AlertKey(VOC_SPIKE, peak.plant, peak.meter, peak.pollutant),
                    peak.value_mgm3,
                    threshold,
                    f"{peak.pollutant} reading {peak.value_mgm3:g} mg/m³ at "
                    f"{_local(peak.ts, timezone)} above "
                    f"{factor:g} × its limit {limit.limit_mgm3:g} mg/m³",
                    unit=MGM3,
                    since=peak.ts,
                    details={
                        "factor": factor,
                        "limit_mgm3": limit.limit_mgm3,
                        **limit_details(limit),
                    },
                )
            )
    return out


def catching_up_meters(
    meters: Iterable[MeterRef],
    latest: Mapping[tuple[str, str], Seen],
    now: datetime,
    rules: AlertRules,
) -> set[tuple[str, str]]:
    """The meters catching up now (`api.presence.catching_up` with their kind's allowance)."""
    return {
        (m.plant, m.meter)
        for m in meters
        if (seen := latest.get((m.plant, m.meter))) is not None
        and catching_up(seen, now, allowance_minutes(m.kind, rules.offline_minutes))
    }


def offline(
    meters: Iterable[MeterRef],
    last_seen: Mapping[tuple[str, str], datetime],
    now: datetime,
    rules: AlertRules,
    timezone: str = LOCAL_TIMEZONE,
    arrived: Mapping[tuple[str, str], datetime | None] | None = None,
) -> list[Condition]:
    """A meter with no reading for longer than its kind's allowance (or none in the lookback),
    unless its latest reading `arrived` within the allowance: a meter catching up (a logger
    emptying its buffer after an outage, a back-fill) is delivering, not silent."""
    meters = list(meters)
    arrivals = arrived or {}
    latest = {key: Seen(at, arrivals.get(key)) for key, at in last_seen.items()}
    catching = catching_up_meters(meters, latest, now, rules)
    out = []
    for m in meters:
        allowance_min = allowance_minutes(m.kind, rules.offline_minutes)
        seen = last_seen.get((m.plant, m.meter))
        if (m.plant, m.meter) in catching:
            continue
        key = AlertKey(METER_OFFLINE, m.plant, m.meter)
        if seen is None:
            out.append(
                Condition(
                    key,
                    None,
                    allowance_min,
                    f"{m.kind} meter {m.meter} sent no data in the last "
                    f"{rules.offline_lookback_hours:g} h (allowance {allowance_min:g} min)",
                    unit=MINUTES,
                    details={"meter_kind": m.kind, "lookback_hours": rules.offline_lookback_hours},
                )
            )
            continue
        silent_min = (now - seen).total_seconds() / 60
        if not is_reporting(seen, now, allowance_min):
            out.append(
                Condition(
                    key,
                    round(silent_min, 2),
                    allowance_min,
                    f"{m.kind} meter {m.meter} silent for {silent_min:.1f} min since "
                    f"{_local(seen, timezone)} "
                    f"(allowance {allowance_min:g} min)",
                    unit=MINUTES,
                    since=seen,
                    details={"meter_kind": m.kind},
                )
            )
    return out


def latest_run(
    ts_ms: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> tuple[int, int, float, int] | None:
    """The run of identical values ending at the latest finite value: (start ms, end ms, value, n)."""
    keep = np.isfinite(values)
    ts, vals = ts_ms[keep], values[keep]
    if ts.size == 0:
        return None
    order = np.argsort(ts, kind="stable")
    ts, vals = ts[order], vals[order]
    last = vals[-1]
    differs = np.nonzero(vals != last)[0]
    first = int(differs[-1]) + 1 if differs.size else 0
    return int(ts[first]), int(ts[-1]), float(last), int(ts.size - first)


def stuck_sensors(
    stacks: Iterable[StackSeries], names: Sequence[str], rules: AlertRules
) -> list[Condition]:
    """A value repeated exactly for over `stuck_minutes` while the stack runs (flow above threshold).

    Zero counts too: an analyser reading exactly 0 for half an hour while the stack runs is
    stuck (a real reading near its detection limit still varies).
    """
    out = []
    stuck_ms = rules.stuck_minutes * 60_000
    for stack in stacks:
        flow = stack.values.get(FLOW_FIELD)
        for name in names:
            values = stack.values.get(name)
            if values is None:
                continue
            run = latest_run(stack.ts_ms, values)
            if run is None:
                continue
            start, end, value, n = run
            if n < 2 or end - start <= stuck_ms:
                continue
            if flow is None:
                continue
            in_run = (stack.ts_ms >= start) & (stack.ts_ms <= end) & np.isfinite(flow)
            if not in_run.any() or not np.all(flow[in_run] > rules.running_min_flow_m3h):
                continue
            minutes = (end - start) / 60_000
            out.append(
                Condition(
                    AlertKey(SENSOR_STUCK, stack.plant, stack.meter, name),
                    value,
                    rules.stuck_minutes,
                    f"{name} stuck at {value:g} for {minutes:.0f} min ({n} readings) "
                    f"while the stack runs",
                    unit=unit_of(name),
                    since=_dt(start),
                    details={"run_minutes": round(minutes, 1), "readings": n},
                )
            )
    return out


# The recent statuses that say coal is being burnt in place of gas (api.fuel.rules.classify).
COAL_BURNING = frozenset({"mixed", "coal"})


def coal_after_conversion(
    trailing: Iterable[FirmRow], recent: Mapping[str, FirmRow], rules: AlertRules
) -> list[Condition]:
    """A firm `gas` over the KPI window before the recent hours is no longer `gas` in them.

    Both judged by the one status rule (api.fuel.rules.classify): a gas firm may burn a
    little coal (a gas fraction of 0.9 or more is `gas`), so coal alone is not the signal;
    the recent hours must burn more than `coal_min_kg` of coal *and* be `mixed` or `coal`
    themselves. `unknown` (a meter silent for part of the hours) never counts as burning
    coal: the coal kilograms on record then say nothing about the gas fraction.
    """
    out = []
    for row in trailing:
        now = recent.get(row.plant)
        if row.status != "gas" or now is None or now.status not in COAL_BURNING:
            continue
        if round(now.coal_kg, 9) > rules.coal_min_kg:
            fraction = "n/a" if now.gas_fraction is None else f"{now.gas_fraction:.0%}"
            out.append(
                Condition(
                    AlertKey(COAL_AFTER_CONVERSION, row.plant),
                    round(now.coal_kg, 3),
                    rules.coal_min_kg,
                    f"{row.plant} (status gas) burnt {now.coal_kg:.1f} kg of coal in the last "
                    f"{rules.coal_window_hours:g} h, status {now.status} (gas fraction "
                    f"{fraction}; threshold {rules.coal_min_kg:g} kg)",
                    unit=KG,
                    details={
                        "window_hours": rules.coal_window_hours,
                        "recent_status": now.status,
                        "recent_gas_fraction": now.gas_fraction,
                    },
                )
            )
    return out


def gas_share_off_track(
    projected_share: float | None, goal: float, where: str = COUNTY
) -> list[Condition]:
    """The projected year-end share of firms on gas is below the goal (no projection: no alert);
    `where`: the alert's plant slot, the county's (`COUNTY`, or `county_alert_plant`)."""
    if projected_share is None or round(projected_share, 9) >= goal:
        return []
    return [
        Condition(
            AlertKey(GAS_SHARE_OFF_TRACK, where),
            round(projected_share, 6),
            goal,
            f"projected year-end gas share {100 * projected_share:.1f}% is below the goal "
            f"{100 * goal:g}%",
            unit=FRACTION,
        )
    ]


# -- ingest health: one county alert in place of a flood, silence while data is loading --

NORMAL, LOADING, STALLED = "normal", "loading", "stalled"


@dataclass(frozen=True, slots=True)
class IngestState:
    """How data reaches the store now; `silent` meters are over their offline allowance."""

    state: str
    meters: int
    silent: int
    flowing: bool
    data_through: datetime | None

    @property
    def quiet_offline(self) -> bool:
        """Per-meter offline alerts say nothing useful now (loading, or all stalled at once)."""
        return self.state != NORMAL


def ingest_state(
    silent: int,
    meters: int,
    flowing: bool,
    data_through: datetime | None,
    rules: AlertRules,
    now: datetime,
) -> IngestState:
    """Many meters silent together: still `loading` if points are being written, else `stalled`.

    A backfill or catch-up writes old readings: meters look silent while data flows, and
    that is no meter's fault. The same silence with nothing written is one outage upstream
    (broker, collector, network), not one problem per meter. While points flow and even the
    newest reading anywhere lags `now` by over `catchup_lag_minutes`, the county is still
    catching up, however few meters are behind.
    """
    threshold = max(rules.stall_min_meters, rules.stall_fraction * meters)
    lagging = (
        data_through is not None
        and (now - data_through).total_seconds() > 60 * rules.catchup_lag_minutes
    )
    if meters == 0 or silent == 0:
        return IngestState(NORMAL, meters, silent, flowing, data_through)
    if flowing and (silent >= threshold or lagging):
        return IngestState(LOADING, meters, silent, flowing, data_through)
    if silent >= threshold and not flowing:
        return IngestState(STALLED, meters, silent, flowing, data_through)
    return IngestState(NORMAL, meters, silent, flowing, data_through)


def ingest_stalled(state: IngestState) -> list[Condition]:
    """The county-wide alert while the state is `stalled`."""
    if state.state != STALLED:
        return []
    return [
        Condition(
            AlertKey(INGEST_STALLED, COUNTY),
            float(state.silent),
            float(state.meters),
            f"{state.silent} of {state.meters} meters silent and no points written: "
            "check the broker, the collectors and InfluxDB",
            unit=METERS,
            since=state.data_through,
            details={"silent": state.silent, "meters": state.meters},
        )
    ]


@dataclass(frozen=True, slots=True)
class ClockCheck:
    """The gateway's latest clock check of one stack's logger that found drift past threshold."""

    plant: str
    meter: str
    at_ms: int
    drift_seconds: float
    threshold_seconds: float


def clock_drift(checks: Iterable[ClockCheck]) -> list[Condition]:
    """One alert per logger whose latest clock check in the lookback drifted past threshold.

    The gateway writes a check only when it drifts too far (and then sets the clock), so a
    logger with no such check in the lookback has a clock that is right again.
    """
    return [
        Condition(
            AlertKey(LOGGER_CLOCK_DRIFT, c.plant, c.meter),
            round(c.drift_seconds, 3),
            c.threshold_seconds,
            f"data logger clock {c.drift_seconds:+.0f} s off (threshold {c.threshold_seconds:g} s)",
            unit=SECONDS,
            since=_dt(c.at_ms),
            details={"checked_at": _iso_ms(c.at_ms)},
        )
        for c in checks
        if abs(c.drift_seconds) > c.threshold_seconds
    ]


@dataclass(frozen=True, slots=True)
class PendingRevisions:
    """Revisions of one meter's recorded readings not accepted yet (ingest/kernel/record.py)."""

    plant: str
    meter: str
    count: int
    first_arrived_ms: int
    first_reading_ms: int
    last_reading_ms: int


def revised_readings(pending: Iterable[PendingRevisions]) -> list[Condition]:
    """One alert per meter with revisions that arrived in the lookback and await an officer.

    The records stand whatever the plant sends (SPEC section 14); the alert counts what it
    sent and clears once officers have accepted them or they leave the lookback.
    """
    return [
        Condition(
            AlertKey(READING_REVISED, p.plant, p.meter),
            float(p.count),
            None,
            f"{p.count} revision(s) of recorded readings await review",
            unit=REVISIONS,
            since=_dt(p.first_arrived_ms),
            details={
                "first_reading": _iso_ms(p.first_reading_ms),
                "last_reading": _iso_ms(p.last_reading_ms),
            },
        )
        for p in pending
        if p.count > 0
    ]


@dataclass(frozen=True, slots=True)
class AuthLockouts:
    """The HJ 212 gateway's lockouts of one stack's MN (or of addresses guessing it)."""

    plant: str
    meter: str
    lockouts: int
    failures: int
    addresses: tuple[str, ...]
    first_ms: int
    last_ms: int


def auth_failures(found: Iterable[AuthLockouts]) -> list[Condition]:
    """One alert per stack whose MN drew a lockout in the lookback; none in it: resolved."""
    return [
        Condition(
            AlertKey(LOGGER_AUTH_FAILURES, a.plant, a.meter),
            float(a.failures),
            None,
            f"{a.failures} wrong passwords or undecryptable packets, {a.lockouts} lockouts "
            f"(from {', '.join(a.addresses)})",
            since=_dt(a.first_ms),
            details={
                "lockouts": a.lockouts,
                "addresses": ", ".join(a.addresses),
                "last_at": _iso_ms(a.last_ms),
            },
        )
        for a in found
        if a.lockouts > 0
    ]


def treatment_not_running(lines: Iterable[LineBuckets], now: datetime) -> list[Condition]:
    """A line whose latest complete quarter hour produced while its treatment did not run.

    Only the quarter hour that ended last before `now` counts: a backfill of past nights
    shows in the lines view and the report, never as an alert about now. The alert holds
    while each new quarter hour is out of sync; `since` is where the run of them began.
    """
    out = []
    now_ms = int(now.timestamp() * 1000)
    for line in lines:
        i = latest_complete(line.grid_ms, now_ms)
        if i is None or not line.out_of_sync[i]:
            continue
        first = i
        while first > 0 and line.out_of_sync[first - 1]:
            first -= 1
        production_kw, production_rated = facility_kw(line, "production", i)
        treatment_kw, treatment_rated = facility_kw(line, "treatment", i)
        if treatment_rated is None:
            continue
        minutes = (i + 1 - first) * BUCKET_MS / 60_000
        start = int(line.grid_ms[first])
        out.append(
            Condition(
                AlertKey(TREATMENT_NOT_RUNNING, line.plant, line.line),
                round(treatment_kw or 0.0, 3),
                round(RUNNING_SHARE * treatment_rated, 3),
                f"line {line.line}: production {production_kw or 0:.1f} kW (rated "
                f"{production_rated or 0:g} kW) while treatment draws {treatment_kw or 0:.2f} kW, "
                f"under {RUNNING_SHARE:.0%} of its rated {treatment_rated:g} kW, for "
                f"{minutes:.0f} min",
                unit=KW,
                since=_dt(start),
                details={
                    "line": line.line,
                    "production_kw": None if production_kw is None else round(production_kw, 3),
                    "production_rated_kw": production_rated,
                    "producing_share": PRODUCING_SHARE,
                    "treatment_rated_kw": treatment_rated,
                    "running_share": RUNNING_SHARE,
                    "minutes": minutes,
                },
            )
        )
    return out
