"""VOC compliance (SPEC section 7, HJ 212-2017 Appendix D) as pure functions over numpy arrays.

From readings to hours, in three steps:

1. `minute_table`: raw readings of one value to minutes. A minute's value is the mean of its
   readings flagged N or T (T, over range, is a lower bound of the truth: evidence of an
   exceedance, not a gap); its class is the best flag seen (N < T < F < D < B < other).
2. `merge_minutes`: the logger's minute data (CN 2051) gives minutes directly; real-time
   readings (CN 2011 or JSON) fill only the minutes they cover. A reading every 5 minutes
   covers 12 minutes an hour, never 60.
3. `hour_aggregates`: per hour, valid minutes and their sum, counts per flag class, minutes
   transmitted, and Σ concentration × flow over minutes where both are valid (emission).

`judge_hours` turns aggregates (rolled up or fresh) and the logger's own hour (CN 2061) into
statuses: `valid` (≥ 45 valid minutes), `stopped` (≥ 30 minutes flagged F), `insufficient`,
or `pending` (not ended); an ended hour an accepted mark covers for ≥ 30 minutes is `marked`
whatever its data (`marked_hours`). With no minute at all, the logger's hour is used. Emission rate
kg/h is the hour's mean of minute concentration × minute flow × 10⁻⁶.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from ingest.kernel.limits import O2_FIELD, Limit, o2_factor
from ingest.kernel.limits import POLLUTANTS as LIMITED_POLLUTANTS
from ingest.kernel.record import late_filled

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
MIN_VALID_MINUTES = 45
MIN_STOPPED_MINUTES = 30
FLOW_FIELD = "flow_m3h"
# Limits by process and height live in `ingest.kernel.limits` (the one home of the table).
POLLUTANTS = LIMITED_POLLUTANTS
EMISSION_KG_PER_MG = 1e-6
# A logger's hour and the computed hour disagree when they differ by more than this share
# of the larger and by more than DISAGREE_MIN_MGM3.
DISAGREE_SHARE = 0.05
DISAGREE_MIN_MGM3 = 0.01

VALID, INSUFFICIENT, STOPPED, PENDING = "valid", "insufficient", "stopped", "pending"
# An hour the plant marked (stopped, maintenance, fault, calibration) and an officer accepted:
# out of exceedance judgement like a stopped hour, declared in the rates (SPEC section 14).
MARKED = "marked"
SOURCE_MINUTES, SOURCE_LOGGER = "minutes", "logger_hour"

# Minute classes, best first: the class of a minute is the best flag among its readings.
CLASS_N, CLASS_T, CLASS_F, CLASS_D, CLASS_B, CLASS_OTHER = range(6)
CLASS_OF_FLAG = {"N": CLASS_N, "T": CLASS_T, "F": CLASS_F, "D": CLASS_D, "B": CLASS_B}
# Aggregate fields per value, in this order (the rollup stores them as `<value>_<name>`).
AGG_FIELDS = (
    "valid_minutes",
    "valid_sum",
    "over_range_minutes",
    "stopped_minutes",
    "fault_minutes",
    "comm_minutes",
    "transmitted_minutes",
    "cq_minutes",
    "cq_sum",
)

# The rollup stores a field only where it differs from its default, to keep reads small:
# these default to the hour's valid minutes (usually equal), all others to 0.
DEFAULT_TO_VALID_MINUTES = ("transmitted_minutes", "cq_minutes")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Minutes:
    """One value's minutes: start (ms, sorted, unique), value (NaN unless N/T), class."""

    start_ms: IntArray
    value: FloatArray
    cls: npt.NDArray[np.int8]

    @staticmethod
    def empty() -> Minutes:
        return Minutes(
            np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.int8)
        )


def flag_classes(flags: Sequence[str | None]) -> npt.NDArray[np.int8]:
    """HJ 212 flags to minute classes (a missing flag means N)."""
    return np.array([CLASS_OF_FLAG.get(f or "N", CLASS_OTHER) for f in flags], dtype=np.int8)


def minute_table(ts_ms: IntArray, values: FloatArray, classes: npt.NDArray[np.int8]) -> Minutes:
    """Readings of one value to minutes: mean of N/T readings, best class of the minute."""
    ts = np.asarray(ts_ms, dtype=np.int64)
    vals = np.asarray(values, dtype=np.float64)
    cls = np.asarray(classes, dtype=np.int8)
    present = np.isfinite(vals) | (cls != CLASS_N)
    ts, vals, cls = ts[present], vals[present], cls[present]
    if ts.size == 0:
        return Minutes.empty()
    minute = ts - ts % MINUTE_MS
    starts, index = np.unique(minute, return_inverse=True)
    best = np.full(starts.size, CLASS_OTHER, dtype=np.int8)
    np.minimum.at(best, index, cls)
    usable = (cls <= CLASS_T) & np.isfinite(vals)
    # A minute's value uses only readings of its best class (N, else T), never a mix.
    usable &= cls == best[index]
    sums = np.bincount(index, weights=np.where(usable, vals, 0.0), minlength=starts.size)
    counts = np.bincount(index, weights=usable.astype(np.float64), minlength=starts.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    best = np.where((best <= CLASS_T) & (counts == 0), CLASS_OTHER, best).astype(np.int8)
    return Minutes(starts.astype(np.int64), mean, best)


def merge_minutes(primary: Minutes, secondary: Minutes) -> Minutes:
    """Minutes of `primary` (the logger's minute data) plus those only `secondary` covers."""
    if secondary.start_ms.size == 0:
        return primary
    if primary.start_ms.size == 0:
        return secondary
    extra = ~np.isin(secondary.start_ms, primary.start_ms)
    start = np.concatenate([primary.start_ms, secondary.start_ms[extra]])
    order = np.argsort(start, kind="stable")
    return Minutes(
        start[order],
        np.concatenate([primary.value, secondary.value[extra]])[order],
        np.concatenate([primary.cls, secondary.cls[extra]])[order],
    )


@dataclass(frozen=True, slots=True)
class HourAgg:
    """Per-hour aggregates of one value of one stack; every array has one entry per hour."""

    hour_start_ms: IntArray
    fields: Mapping[str, FloatArray]  # AGG_FIELDS -> per-hour values

    def __getitem__(self, name: str) -> FloatArray:
        return self.fields[name]


def empty_agg(hour_start_ms: IntArray) -> HourAgg:
    n = hour_start_ms.size
    return HourAgg(hour_start_ms, {f: np.zeros(n, dtype=np.float64) for f in AGG_FIELDS})


def hour_aggregates(
    conc: Minutes, flow: Minutes | None, first_hour_ms: int, n_hours: int
) -> HourAgg:
    """Per hour: valid minutes and their sum, flag-class counts, transmitted minutes, Σ c×q."""
    if first_hour_ms % HOUR_MS:
        raise ValueError("first_hour_ms must be on a whole hour")
    hours = first_hour_ms + HOUR_MS * np.arange(n_hours, dtype=np.int64)
    inside = (conc.start_ms >= first_hour_ms) & (conc.start_ms < first_hour_ms + n_hours * HOUR_MS)
    start, value, cls = conc.start_ms[inside], conc.value[inside], conc.cls[inside]
    index = (start - first_hour_ms) // HOUR_MS

    def count(mask: npt.NDArray[np.bool_]) -> FloatArray:
        return np.bincount(index[mask], minlength=n_hours).astype(np.float64)

    valid = (cls <= CLASS_T) & np.isfinite(value)
    fields: dict[str, FloatArray] = {
        "valid_minutes": count(valid),
        "valid_sum": np.bincount(index[valid], weights=value[valid], minlength=n_hours).astype(
            np.float64
        ),
        "over_range_minutes": count(cls == CLASS_T),
        "stopped_minutes": count(cls == CLASS_F),
        "fault_minutes": count(cls == CLASS_D),
        "comm_minutes": count(cls == CLASS_B),
        "transmitted_minutes": count(np.ones(start.size, dtype=bool)),
        "cq_minutes": np.zeros(n_hours, dtype=np.float64),
        "cq_sum": np.zeros(n_hours, dtype=np.float64),
    }
    if flow is not None and start.size:
        flow_ok = (flow.cls <= CLASS_T) & np.isfinite(flow.value)
        position = np.searchsorted(flow.start_ms, start)
        position = np.minimum(position, max(flow.start_ms.size - 1, 0))
        both = valid.copy()
        if flow.start_ms.size:
            both &= (flow.start_ms[position] == start) & flow_ok[position]
            product = value * np.where(both, flow.value[position], 0.0)
            fields["cq_minutes"] = count(both)
            fields["cq_sum"] = np.bincount(
                index[both], weights=product[both], minlength=n_hours
            ).astype(np.float64)
    return HourAgg(hours, fields)


@dataclass(frozen=True, slots=True)
class LoggerHours:
    """The logger's own hourly data (CN 2061) for one value, aligned with the hours."""

    mean: FloatArray  # NaN where the logger sent none
    flag: tuple[str, ...]  # "" where none
    kg: FloatArray  # -Cou of the hour, NaN where not sent

    @staticmethod
    def none(n_hours: int) -> LoggerHours:
        nan = np.full(n_hours, np.nan)
        return LoggerHours(nan, ("",) * n_hours, nan.copy())


@dataclass(frozen=True, slots=True)
class JudgedHours:
    """One pollutant's hours: status, mean, where it came from, exceedance and emission."""

    limit: Limit
    agg: HourAgg
    status: tuple[str, ...]
    source: tuple[str, ...]
    mean: FloatArray  # NaN unless valid
    exceeds: npt.NDArray[np.bool_]
    emission_kgh: FloatArray  # NaN where unknown
    emission_kg: FloatArray  # the hour's emitted kg (logger -Cou where sent), NaN unknown
    logger: LoggerHours
    disagrees: npt.NDArray[np.bool_]

    @property
    def hour_start_ms(self) -> IntArray:
        return self.agg.hour_start_ms

    def counts(self) -> dict[str, int]:
        """Hours per status, exceeding hours, and hours where the logger disagrees.

        `running`: the ended hours the line ran (neither stopped, marked nor pending), what
        a valid-data rate is taken over (valid / running), here and nowhere else.
        """
        status = np.asarray(self.status)
        stopped, pending = int(np.sum(status == STOPPED)), int(np.sum(status == PENDING))
        marked = int(np.sum(status == MARKED))
        return {
            "hours": len(status),
            "running": len(status) - stopped - pending - marked,
            VALID: int(np.sum(status == VALID)),
            INSUFFICIENT: int(np.sum(status == INSUFFICIENT)),
            STOPPED: stopped,
            PENDING: pending,
            MARKED: marked,
            "exceeding": int(np.sum(self.exceeds)),
            "disagreeing": int(np.sum(self.disagrees)),
        }


def exceeds_limit(mean_mgm3: FloatArray, limit_mgm3: float) -> npt.NDArray[np.bool_]:
    """True where a valid hourly mean is above its limit (NaN never exceeds)."""
    # Rounded to 9 decimals so a mean exactly on the limit is not pushed over by float noise.
    with np.errstate(invalid="ignore"):
        return np.isfinite(mean_mgm3) & (np.round(mean_mgm3, 9) > limit_mgm3)


def judge_hours(
    limit: Limit,
    agg: HourAgg,
    logger: LoggerHours,
    logger_flow_m3h: FloatArray,
    now_ms: int,
    marked: npt.NDArray[np.bool_] | None = None,
) -> JudgedHours:
    """Status, mean, exceedance and emission of each hour of one pollutant of one stack."""
    ended = agg.hour_start_ms + HOUR_MS <= now_ms
    declared = ended & (marked if marked is not None else np.zeros(ended.size, dtype=bool))
    valid_min = agg["valid_minutes"]
    with np.errstate(invalid="ignore", divide="ignore"):
        computed = np.where(valid_min >= MIN_VALID_MINUTES, agg["valid_sum"] / valid_min, np.nan)
        rate = np.where(
            agg["cq_minutes"] >= MIN_VALID_MINUTES,
            agg["cq_sum"] / np.maximum(agg["cq_minutes"], 1) * EMISSION_KG_PER_MG,
            np.nan,
        )
    flags = np.asarray(logger.flag)
    use_logger = (agg["transmitted_minutes"] == 0) & (flags != "")
    logger_ok = use_logger & np.isin(flags, ("N", "T")) & np.isfinite(logger.mean)
    minutes_ok = ~use_logger & (valid_min >= MIN_VALID_MINUTES)
    stopped = np.where(use_logger, flags == "F", agg["stopped_minutes"] >= MIN_STOPPED_MINUTES) & ~(
        logger_ok | minutes_ok
    )
    state = np.where(
        ~ended,
        PENDING,
        np.where(
            declared,
            MARKED,
            np.where(logger_ok | minutes_ok, VALID, np.where(stopped, STOPPED, INSUFFICIENT)),
        ),
    )
    logger_rate = np.where(
        np.isfinite(logger.kg), logger.kg, logger.mean * logger_flow_m3h * EMISSION_KG_PER_MG
    )
    done = ended & (logger_ok | minutes_ok)
    # A marked hour keeps its emission (gas still left the stack) but is never judged.
    mean = np.where(done & ~declared, np.where(logger_ok, logger.mean, computed), np.nan)
    emission_kgh = np.where(done, np.where(logger_ok, logger_rate, rate), np.nan)
    status = state.tolist()
    source = np.where(use_logger, SOURCE_LOGGER, SOURCE_MINUTES).tolist()
    # The hour's kg: the logger's -Cou where sent (its official total), else rate × 1 h.
    emission_kg = np.where(np.isfinite(logger.kg) & ended, logger.kg, emission_kgh)
    with np.errstate(invalid="ignore"):
        gap = np.abs(computed - logger.mean)
        disagrees = (
            np.isfinite(gap)
            & (gap > DISAGREE_SHARE * np.maximum(np.abs(computed), np.abs(logger.mean)))
            & (gap > DISAGREE_MIN_MGM3)
            & ended
        )
    return JudgedHours(
        limit,
        agg,
        tuple(status),
        tuple(source),
        mean,
        exceeds_limit(mean, limit.limit_mgm3),
        emission_kgh,
        emission_kg,
        logger,
        disagrees,
    )


# Accepted marks per (plant, meter): their [start ms, end ms) spans (api.marks).
Spans = Mapping[tuple[str, str], Sequence[tuple[int, int]]]
EMPTY_SPANS: Spans = MappingProxyType({})


def marked_hours(
    hour_start_ms: IntArray, spans: Sequence[tuple[int, int]]
) -> npt.NDArray[np.bool_]:
    """Hours that accepted marks ([start ms, end ms) spans) cover for at least
    MIN_STOPPED_MINUTES: the same half hour that makes an hour of F minutes stopped."""
    hours = np.asarray(hour_start_ms, dtype=np.int64)
    covered = np.zeros(hours.size, dtype=np.int64)
    for start, end in spans:
        covered += np.clip(np.minimum(hours + HOUR_MS, end) - np.maximum(hours, start), 0, None)
    return covered >= MIN_STOPPED_MINUTES * MINUTE_MS


def hour_range(start_ms: int, end_ms: int) -> tuple[int, int]:
    """The whole hours covering [start, end): first hour start and the number of hours."""
    first = start_ms - start_ms % HOUR_MS
    last = -(-end_ms // HOUR_MS) * HOUR_MS
    return first, max(0, (last - first) // HOUR_MS)


@dataclass(frozen=True, slots=True)
class StackCompliance:
    plant: str
    meter: str
    flow: HourAgg
    pollutants: tuple[JudgedHours, ...]
    # per hour: filled long after the fact (`ingest.kernel.record.late_filled`); empty = not known
    late_filled: tuple[bool, ...] = ()

    def late_filled_hours(self) -> int:
        return sum(self.late_filled)

    marks: tuple[tuple[int, int], ...] = ()  # accepted marks' [start ms, end ms) spans

    def silent(self) -> npt.NDArray[np.bool_]:
        """Hours the stack sent nothing for: no minute of any value, whatever its flag, and no
        logger hour. The one definition of silence: a stopped hour (minutes flagged F) or a
        faulty one is not silent, the stack told us why it had no valid data."""
        sent = self.flow["transmitted_minutes"] > 0
        for p in self.pollutants:
            sent = sent | (p.agg["transmitted_minutes"] > 0) | (np.asarray(p.logger.flag) != "")
        return ~sent


def late_filled_hours(
    hour_start_ms: IntArray, latest_arrival_ms: Mapping[int, int]
) -> tuple[bool, ...]:
    """Per hour, whether its latest reading arrived long after the hour (SPEC section 14)."""
    return tuple(late_filled(h, latest_arrival_ms.get(h)) for h in hour_start_ms.tolist())


# --- totals and capture over local days and months -----------------------------------------


def local_period_starts(hour_start_ms: IntArray, timezone: str, period: str) -> list[str]:
    """The local day (`YYYY-MM-DD`) or month (`YYYY-MM`) of each hour."""
    tz = ZoneInfo(timezone)
    fmt = "%Y-%m-%d" if period == "day" else "%Y-%m"
    return [
        datetime.fromtimestamp(int(ms) / 1000, tz=UTC).astimezone(tz).strftime(fmt)
        for ms in hour_start_ms.tolist()
    ]


@dataclass(frozen=True, slots=True)
class PeriodTotal:
    period: str  # local day or month
    emission_kg: float
    hours_with_emission: int
    hours: int


def emission_totals(
    hour_start_ms: IntArray, emission_kg: FloatArray, timezone: str, period: str
) -> list[PeriodTotal]:
    """Emitted kg per local day or month: the sum of the hours whose emission is known."""
    labels = local_period_starts(hour_start_ms, timezone, period)
    out: dict[str, list[float]] = {}
    for label, kg in zip(labels, emission_kg.tolist(), strict=True):
        slot = out.setdefault(label, [0.0, 0, 0])
        slot[2] += 1
        if np.isfinite(kg):
            slot[0] += kg
            slot[1] += 1
    return [PeriodTotal(k, v[0], int(v[1]), int(v[2])) for k, v in out.items()]


@dataclass(frozen=True, slots=True)
class Capture:
    period: str
    expected_minutes: int
    transmitted_minutes: int
    valid_minutes: int
    declared_minutes: int = 0  # minutes of marked hours: declared, out of the expected ones

    @property
    def transmitted_share(self) -> float | None:
        return self.transmitted_minutes / self.expected_minutes if self.expected_minutes else None

    @property
    def valid_share(self) -> float | None:
        return self.valid_minutes / self.transmitted_minutes if self.transmitted_minutes else None


def capture_rates(
    agg: HourAgg,
    now_ms: int,
    timezone: str,
    period: str,
    marked: npt.NDArray[np.bool_] | None = None,
) -> list[Capture]:
    """Transmitted minutes / expected minutes and valid / transmitted, per local day or month.

    Expected minutes are the minutes of the period that have passed (a day in progress
    expects only its elapsed minutes); the logger's hourly data alone transmits no minute.
    Marked hours (`marked_hours`) are declared: neither expected nor counted as sent.
    """
    labels = local_period_starts(agg.hour_start_ms, timezone, period)
    elapsed = np.clip((now_ms - agg.hour_start_ms) // MINUTE_MS, 0, 60)
    declared = marked if marked is not None else np.zeros(elapsed.size, dtype=bool)
    out: dict[str, list[int]] = {}
    for label, exp, sent, ok, out_of in zip(
        labels,
        elapsed.tolist(),
        agg["transmitted_minutes"].tolist(),
        agg["valid_minutes"].tolist(),
        declared.tolist(),
        strict=True,
    ):
        slot = out.setdefault(label, [0, 0, 0, 0])
        if out_of:
            slot[3] += int(exp)
            continue
        slot[0] += int(exp)
        slot[1] += int(sent)
        slot[2] += int(ok)
    return [Capture(k, *v) for k, v in out.items()]


def local_hour_text(ms: int, timezone: str) -> str:
    """`YYYY-MM-DD HH:MM` in the plant's local time (alert texts, CSV)."""
    return (
        datetime.fromtimestamp(ms / 1000, tz=UTC)
        .astimezone(ZoneInfo(timezone))
        .strftime("%Y-%m-%d %H:%M")
    )


def whole_hours(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole UTC hours covering [start, end)."""
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    last = end.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if last < end.astimezone(UTC):
        last += timedelta(hours=1)
    return first, last


Readings = tuple[IntArray, FloatArray, npt.NDArray[np.int8]]  # time, value, flag class


def stack_aggregates(
    minute_data: Mapping[str, Readings],
    realtime: Mapping[str, Readings],
    fields: Sequence[str],
    first_hour_ms: int,
    n_hours: int,
    o2_reference_pct: float | None = None,
) -> dict[str, HourAgg]:
    """Per value of one stack: hour aggregates from its minute data and real-time readings.

    With `o2_reference_pct`, each pollutant minute is judged corrected to the reference
    oxygen by the same minute's O2 (a minute without a valid O2 cannot be corrected and is
    not valid); emission (Σ c×q) keeps the uncorrected concentration.
    """
    names = [*fields, FLOW_FIELD] + ([O2_FIELD] if o2_reference_pct is not None else [])
    minutes = {
        f: merge_minutes(
            minute_table(*minute_data[f]) if f in minute_data else Minutes.empty(),
            minute_table(*realtime[f]) if f in realtime else Minutes.empty(),
        )
        for f in dict.fromkeys(names)
    }
    flow = minutes[FLOW_FIELD]
    out = {}
    for f in dict.fromkeys([*fields, FLOW_FIELD]):
        m = minutes[f]
        if f == FLOW_FIELD:
            out[f] = hour_aggregates(m, None, first_hour_ms, n_hours)
            continue
        agg = hour_aggregates(m, flow, first_hour_ms, n_hours)
        if o2_reference_pct is not None and f != O2_FIELD and f.endswith("_mgm3"):
            judged = hour_aggregates(
                o2_corrected_minutes(m, minutes[O2_FIELD], o2_reference_pct),
                None,
                first_hour_ms,
                n_hours,
            )
            agg = HourAgg(
                agg.hour_start_ms,
                {**judged.fields, "cq_minutes": agg["cq_minutes"], "cq_sum": agg["cq_sum"]},
            )
        out[f] = agg
    return out


def o2_corrected_minutes(conc: Minutes, o2: Minutes, o2_reference_pct: float) -> Minutes:
    """Minute concentrations corrected to the reference O2 by the same minute's valid O2.

    A valid minute without a valid O2 minute (or with O2 at or above 21 %) becomes a
    minute of class `other`: transmitted, not valid.
    """
    o2_value = np.full(conc.start_ms.size, np.nan)
    if o2.start_ms.size and conc.start_ms.size:
        position = np.minimum(np.searchsorted(o2.start_ms, conc.start_ms), o2.start_ms.size - 1)
        same = (o2.start_ms[position] == conc.start_ms) & (o2.cls[position] <= CLASS_T)
        o2_value = np.where(same, o2.value[position], np.nan)
    factor = o2_factor(o2_value, o2_reference_pct)
    valid = conc.cls <= CLASS_T
    lost = valid & ~np.isfinite(factor)
    cls = np.where(lost, CLASS_OTHER, conc.cls).astype(np.int8)
    return Minutes(conc.start_ms, np.where(lost, np.nan, conc.value * factor), cls)


def stored_fields(agg: HourAgg, index: int) -> dict[str, float]:
    """The aggregates of one hour that differ from their default (what the rollup writes)."""
    valid = float(agg["valid_minutes"][index])
    out = {}
    for name in AGG_FIELDS:
        value = float(agg[name][index])
        if value != (valid if name in DEFAULT_TO_VALID_MINUTES else 0.0):
            out[name] = value
    return out


def aggregates_from_columns(
    hour_start_ms: IntArray,
    rows_ms: IntArray,
    columns: Mapping[str, FloatArray],
    field: str,
) -> HourAgg:
    """Rolled-up columns (`<field>_<agg>`, absent = default) on the hour grid; no row = 0."""
    agg = empty_agg(hour_start_ms)
    if rows_ms.size == 0 or hour_start_ms.size == 0:
        return agg
    position = (rows_ms - hour_start_ms[0]) // HOUR_MS
    inside = (position >= 0) & (position < hour_start_ms.size)
    missing = np.full(rows_ms.size, np.nan)
    valid = np.nan_to_num(columns.get(f"{field}_valid_minutes", missing))
    for name in AGG_FIELDS:
        column = columns.get(f"{field}_{name}", missing)
        default = valid if name in DEFAULT_TO_VALID_MINUTES else 0.0
        agg.fields[name][position[inside]] = np.where(np.isfinite(column), column, default)[inside]
    return agg


def splice(first: HourAgg, second: HourAgg) -> HourAgg:
    """Aggregates of the same hours: `second` where it has anything transmitted, else `first`."""
    take = second["transmitted_minutes"] > 0
    return HourAgg(
        first.hour_start_ms,
        {f: np.where(take, second[f], first[f]) for f in AGG_FIELDS},
    )


def judge_stack(
    plant: str,
    meter: str,
    aggs: Mapping[str, HourAgg],
    hour_start_ms: IntArray,
    limits: Mapping[str, Limit],
    now_ms: int,
    loggers: Mapping[str, tuple[LoggerHours, FloatArray]] | None = None,
    marks: Sequence[tuple[int, int]] = (),
) -> StackCompliance:
    """Every limited pollutant of one stack judged hour by hour against its resolved limits;
    `marks` are the [start ms, end ms) spans of the stack's accepted marks."""
    n = hour_start_ms.size
    flow = aggs.get(FLOW_FIELD) or empty_agg(hour_start_ms)
    marked = marked_hours(hour_start_ms, marks)
    judged = []
    for name, limit in limits.items():
        logger, logger_flow = (loggers or {}).get(name, (LoggerHours.none(n), np.full(n, np.nan)))
        agg = aggs.get(name) or empty_agg(hour_start_ms)
        judged.append(judge_hours(limit, agg, logger, logger_flow, now_ms, marked))
    return StackCompliance(plant, meter, flow, tuple(judged), marks=tuple(marks))
