"""VOC compliance rules (SPEC section 7, HJ 212-2017 Appendix D) with hand-computed expectations."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from api.voc.rules import (
    CLASS_F,
    CLASS_N,
    CLASS_T,
    HOUR_MS,
    MINUTE_MS,
    LoggerHours,
    Minutes,
    capture_rates,
    emission_totals,
    flag_classes,
    hour_aggregates,
    hour_range,
    judge_stack,
    merge_minutes,
    minute_table,
    stack_aggregates,
)
from ingest.kernel.limits import resolve_limits

H0 = 1_772_323_200_000  # 2026-03-01T00:00:00Z (08:00 in Shanghai), a whole hour
LATER = H0 + 10 * HOUR_MS  # "now", long after the hours under test


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def ms(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def readings(
    start_ms: int, n: int, value: float, flag: str = "N", every_ms: int = MINUTE_MS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts = start_ms + every_ms * np.arange(n, dtype=np.int64)
    return ts, np.full(n, value), flag_classes([flag] * n)


def concat(*parts: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple:  # type: ignore[type-arg]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def test_minute_table_best_flag_and_mean() -> None:
    # minute 0: 10, 20 (N) and 99 (M) -> 15, N; minute 1: only C -> no value, other;
    # minute 2: T 300 and F 1 -> 300 as a lower bound, T; minute 3: NaN N -> not a minute
    ts = ms(H0, H0 + 30_000, H0 + 40_000, H0 + 70_000, H0 + 120_000, H0 + 130_000, H0 + 180_000)
    values = arr(10, 20, 99, 50, 300, 1, np.nan)
    classes = flag_classes(["N", "N", "M", "C", "T", "F", "N"])
    m = minute_table(ts, values, classes)
    assert m.start_ms.tolist() == [H0, H0 + MINUTE_MS, H0 + 2 * MINUTE_MS]
    assert m.value[0] == 15.0 and np.isnan(m.value[1]) and m.value[2] == 300.0
    assert m.cls.tolist() == [CLASS_N, 5, CLASS_T]


def test_minute_data_wins_and_realtime_fills_the_rest() -> None:
    minute = Minutes(ms(H0, H0 + MINUTE_MS), arr(1, 2), np.array([CLASS_N, CLASS_N], np.int8))
    realtime = Minutes(
        ms(H0 + MINUTE_MS, H0 + 5 * MINUTE_MS), arr(9, 7), np.array([CLASS_N, CLASS_F], np.int8)
    )
    merged = merge_minutes(minute, realtime)
    assert merged.start_ms.tolist() == [H0, H0 + MINUTE_MS, H0 + 5 * MINUTE_MS]
    assert merged.value[:2].tolist() == [1.0, 2.0] and merged.cls.tolist() == [0, 0, CLASS_F]


def _judge(
    conc: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    flow: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]] = (),
    minute_data: bool = False,
    n_hours: int = 1,
    logger: LoggerHours | None = None,
    overrides: dict[str, float] | None = None,
):  # type: ignore[no-untyped-def]
    source = {"dmf_mgm3": concat(*conc)} if conc else {}
    if flow:
        source["flow_m3h"] = concat(*flow)
    minute, realtime = (source, {}) if minute_data else ({}, source)
    aggs = stack_aggregates(minute, realtime, ["dmf_mgm3"], H0, n_hours)
    hours = H0 + HOUR_MS * np.arange(n_hours, dtype=np.int64)
    loggers = None if logger is None else {"dmf_mgm3": (logger, np.full(n_hours, 36_000.0))}
    stack = judge_stack(
        "sl-1", "s-1", aggs, hours, resolve_limits(overrides=overrides), LATER, loggers
    )
    return next(p for p in stack.pollutants if p.limit.pollutant == "dmf_mgm3")


@pytest.mark.parametrize(
    ("parts", "minute_data", "status", "mean"),
    [
        ([readings(H0, 60, 10.0)], True, "valid", 10.0),
        ([readings(H0, 45, 10.0)], True, "valid", 10.0),
        ([readings(H0, 44, 10.0)], True, "insufficient", None),
        # a real-time reading every 5 minutes covers 12 minutes, never 60
        ([readings(H0, 12, 10.0, every_ms=5 * MINUTE_MS)], False, "insufficient", None),
        # 20 valid minutes then the line stops: 40 minutes flagged F -> stopped
        (
            [readings(H0, 20, 10.0), readings(H0 + 20 * MINUTE_MS, 40, 0.4, "F")],
            True,
            "stopped",
            None,
        ),
        # 44 valid + 16 F: not stopped long enough, not valid either
        (
            [readings(H0, 44, 10.0), readings(H0 + 44 * MINUTE_MS, 16, 0.4, "F")],
            True,
            "insufficient",
            None,
        ),
        # T (over range) minutes count as valid lower bounds: 30 N at 40 + 30 T at 100 -> 70
        (
            [readings(H0, 30, 40.0), readings(H0 + 30 * MINUTE_MS, 30, 100.0, "T")],
            True,
            "valid",
            70.0,
        ),
        # C/M/D minutes are transmitted, not valid
        (
            [readings(H0, 40, 10.0), readings(H0 + 40 * MINUTE_MS, 20, 900.0, "C")],
            True,
            "insufficient",
            None,
        ),
    ],
)
def test_hour_status(parts, minute_data: bool, status: str, mean: float | None) -> None:  # type: ignore[no-untyped-def]
    p = _judge(parts, minute_data=minute_data)
    assert p.status == (status,)
    assert (None if np.isnan(p.mean[0]) else p.mean[0]) == mean


def test_pending_hour_is_neither_pass_nor_gap() -> None:
    aggs = stack_aggregates({}, {"dmf_mgm3": readings(H0, 30, 10.0)}, ["dmf_mgm3"], H0, 1)
    stack = judge_stack("p", "m", aggs, ms(H0), resolve_limits(), H0 + 30 * MINUTE_MS, None)
    assert stack.pollutants[0].status == ("pending",)


def test_over_range_is_exceedance_evidence() -> None:
    # 60 T minutes at the analyser's top (60 mg/m³): a lower bound above the limit 50
    p = _judge([readings(H0, 60, 60.0, "T")], minute_data=True)
    assert p.status == ("valid",) and p.exceeds.tolist() == [True]
    assert p.agg["over_range_minutes"].tolist() == [60.0]


def test_emission_rate_is_the_mean_of_minute_products() -> None:
    # The example: 30 min at 100 mg/m³ and 60 000 m³/h, then 30 min at 0 and
    # 1 000 m³/h. Hourly means multiplied would give 50 × 30 500 × 1e-6 = 1.525 kg/h;
    # the truth is (30 × 6 + 30 × 0) / 60 = 3.0 kg/h.
    conc = [readings(H0, 30, 100.0), readings(H0 + 30 * MINUTE_MS, 30, 0.0)]
    flow = [readings(H0, 30, 60_000.0), readings(H0 + 30 * MINUTE_MS, 30, 1_000.0)]
    p = _judge(conc, flow, minute_data=True)
    assert p.emission_kgh[0] == pytest.approx(3.0)
    assert p.emission_kg[0] == pytest.approx(3.0)


def test_emission_needs_45_minutes_with_both_values() -> None:
    conc = [readings(H0, 60, 100.0)]
    flow = [readings(H0, 44, 10_000.0)]
    p = _judge(conc, flow, minute_data=True)
    assert p.status == ("valid",) and np.isnan(p.emission_kgh[0])


def test_logger_hour_used_when_nothing_finer_and_shown_beside() -> None:
    logger = LoggerHours(arr(55.0, 30.0), ("N", "N"), arr(2.0, np.nan))
    # hour 0: no minute at all -> the logger's hour, its -Cou as the hour's kg
    # hour 1: 60 minutes at 20 computed; the logger says 30 -> shown, disagreeing
    p = _judge([readings(H0 + HOUR_MS, 60, 20.0)], minute_data=True, n_hours=2, logger=logger)
    assert p.status == ("valid", "valid")
    assert p.source == ("logger_hour", "minutes")
    assert p.mean.tolist() == [55.0, 20.0]
    assert p.exceeds.tolist() == [True, False]
    assert p.emission_kg[0] == 2.0
    assert p.disagrees.tolist() == [False, True]


@pytest.mark.parametrize(
    ("flag", "status"), [("F", "stopped"), ("D", "insufficient"), ("T", "valid")]
)
def test_logger_hour_flags(flag: str, status: str) -> None:
    logger = LoggerHours(arr(10.0), (flag,), arr(np.nan))
    assert _judge([], logger=logger).status == (status,)


def test_limits_and_overrides() -> None:
    limits = resolve_limits(overrides={"dmf_mgm3": 20.0})
    assert (limits["dmf_mgm3"].limit_mgm3, limits["dmf_mgm3"].source) == (20.0, "registry")
    assert limits["benzene_mgm3"].limit_mgm3 == 2.0
    p = _judge([readings(H0, 60, 20.0)], minute_data=True, overrides={"dmf_mgm3": 20.0})
    assert p.exceeds.tolist() == [False]  # exactly on the limit is a pass


def test_hour_range() -> None:
    assert hour_range(H0 + 1, H0 + HOUR_MS) == (H0, 1)
    assert hour_range(H0, H0 + HOUR_MS + 1) == (H0, 2)
    assert hour_range(H0, H0) == (H0, 0)


def test_totals_per_local_day() -> None:
    # 16:00 UTC is local midnight: the hours before it belong to the previous local day
    hours = H0 + 15 * HOUR_MS + HOUR_MS * np.arange(2, dtype=np.int64)  # 15:00, 16:00 UTC
    totals = emission_totals(hours, arr(1.5, np.nan), "Asia/Shanghai", "day")
    assert [(t.period, t.emission_kg, t.hours_with_emission) for t in totals] == [
        ("2026-03-01", 1.5, 1),
        ("2026-03-02", 0.0, 0),
    ]


def test_capture_rate() -> None:
    # 30 minutes transmitted, 20 of them valid, in an hour that has passed
    conc = concat(readings(H0, 20, 5.0), readings(H0 + 20 * MINUTE_MS, 10, 5.0, "D"))
    agg = hour_aggregates(minute_table(*conc), None, H0, 1)
    [c] = capture_rates(agg, LATER, "Asia/Shanghai", "day")
    assert (c.expected_minutes, c.transmitted_minutes, c.valid_minutes) == (60, 30, 20)
    assert (c.transmitted_share, c.valid_share) == (0.5, pytest.approx(2 / 3))
    assert agg["fault_minutes"].tolist() == [10.0]


def test_capture_of_an_hour_in_progress_expects_elapsed_minutes() -> None:
    agg = hour_aggregates(minute_table(*readings(H0, 10, 5.0)), None, H0, 1)
    [c] = capture_rates(agg, H0 + 20 * MINUTE_MS, "Asia/Shanghai", "day")
    assert c.expected_minutes == 20 and c.transmitted_share == 0.5


def test_stopped_class_constant() -> None:
    assert flag_classes(["F", None, "X"]).tolist() == [CLASS_F, CLASS_N, 5]


def test_stopped_hours_are_not_silent() -> None:
    """sl-012 stack-2 in the November report: hours flagged F were counted as silence."""
    from api.reports.data import voc_silence

    fl = {
        "dmf_mgm3": concat(
            readings(H0, 60, 10.0),  # hour 0 runs
            readings(H0 + HOUR_MS, 60, 0.4, "F"),  # hour 1 stopped
            readings(H0 + 2 * HOUR_MS, 60, 0.4, "F"),  # hour 2 stopped
        ),
        "flow_m3h": concat(
            readings(H0, 60, 9000.0),
            readings(H0 + HOUR_MS, 60, 0.0, "F"),
            readings(H0 + 2 * HOUR_MS, 60, 0.0, "F"),
        ),
    }
    aggs = stack_aggregates(fl, {}, ["dmf_mgm3"], H0, 4)  # hour 3: nothing at all
    stack = judge_stack("sl-012", "stack-2", aggs, H0 + HOUR_MS * np.arange(4), {}, LATER, None)
    assert stack.silent().tolist() == [False, False, False, True]
    (quiet,) = voc_silence([stack])
    assert (quiet.hours_reported, quiet.hours) == (3, 4)
