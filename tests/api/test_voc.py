"""VOC compliance rules (SPEC section 7, HJ 212-2017 Appendix D) with hand-computed expectations."""

from __future__ import annotations

import numpy as np
import pytest

from api.voc import (
    HOUR_MS,
    MINUTE_MS,
    emission_rate_kgh,
    exceeds_limit,
    hour_range,
    hourly_means,
    limits_for,
    minute_means,
    stack_compliance,
)

H0 = 1_772_323_200_000  # 2026-03-01T00:00:00Z, a whole hour
LATER = H0 + 10 * HOUR_MS  # "now", long after the hours under test


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def ms(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def test_minute_means_use_only_valid_readings() -> None:
    # minute 0: 10, 20 valid and 99 flagged M -> 15; minute 1: only a C reading -> left out;
    # minute 2: 30 -> 30; a NaN never counts.
    ts = ms(H0, H0 + 30_000, H0 + 40_000, H0 + 70_000, H0 + 120_000, H0 + 150_000)
    values = arr(10, 20, 99, 50, 30, np.nan)
    valid = np.array([True, True, False, False, True, True])
    starts, means = minute_means(ts, values, valid)
    assert starts.tolist() == [H0, H0 + 2 * MINUTE_MS]
    assert means.tolist() == [15.0, 30.0]


def test_minute_means_empty() -> None:
    starts, means = minute_means(ms(H0), arr(5), np.array([False]))
    assert starts.size == 0 and means.size == 0


@pytest.mark.parametrize(
    ("valid_minutes", "status", "mean"),
    [
        (60, "valid", 10.0),
        (45, "valid", 10.0),
        (44, "insufficient", None),
        (1, "insufficient", None),
        (0, "insufficient", None),
    ],
)
def test_hourly_mean_needs_45_valid_minutes(valid_minutes: int, status: str, mean: float) -> None:
    minutes = H0 + MINUTE_MS * np.arange(valid_minutes, dtype=np.int64)
    result = hourly_means(minutes, np.full(valid_minutes, 10.0), H0, 1, LATER)
    assert result.status == (status,)
    assert result.valid_minutes.tolist() == [valid_minutes]
    if mean is None:
        assert np.isnan(result.mean[0])
    else:
        assert result.mean[0] == mean


def test_hourly_mean_is_mean_of_minute_means_per_hour() -> None:
    # hour 0: 45 minutes, 30 at 10 and 15 at 40 -> (300 + 600) / 45 = 20
    # hour 1: 44 minutes -> insufficient; hour 2: not ended at now -> pending
    minutes = np.concatenate(
        [
            H0 + MINUTE_MS * np.arange(45),
            H0 + HOUR_MS + MINUTE_MS * np.arange(44),
            H0 + 2 * HOUR_MS + MINUTE_MS * np.arange(60),
        ]
    ).astype(np.int64)
    means = np.concatenate([np.full(30, 10.0), np.full(15, 40.0), np.full(44, 5.0), np.full(60, 7)])
    now = H0 + 2 * HOUR_MS + 59 * MINUTE_MS
    result = hourly_means(minutes, means, H0, 3, now)
    assert result.status == ("valid", "insufficient", "pending")
    assert result.valid_minutes.tolist() == [45, 44, 60]
    assert result.mean[0] == pytest.approx(20.0)
    assert np.isnan(result.mean[1]) and np.isnan(result.mean[2])
    # once the hour has ended it becomes valid
    assert hourly_means(minutes, means, H0, 3, H0 + 3 * HOUR_MS).status[2] == "valid"


def test_minutes_outside_the_hours_and_duplicates_do_not_count() -> None:
    minutes = np.concatenate([H0 + MINUTE_MS * np.arange(44), ms(H0, H0 - MINUTE_MS, H0 + HOUR_MS)])
    result = hourly_means(minutes, np.full(47, 1.0), H0, 1, LATER)
    assert result.valid_minutes.tolist() == [44]
    assert result.status == ("insufficient",)


def test_first_hour_must_be_whole() -> None:
    with pytest.raises(ValueError, match="whole hour"):
        hourly_means(ms(), arr(), H0 + 1, 1, LATER)


def test_limits_defaults_and_overrides() -> None:
    limits = limits_for({"dmf_mgm3": 20.0, "thc_mgm3": 80.0})
    assert {p: (lim.limit_mgm3, lim.source) for p, lim in limits.items()} == {
        "dmf_mgm3": (20.0, "registry"),
        "benzene_mgm3": (2.0, "GB 21902-2008 Table 5"),
        "toluene_mgm3": (30.0, "GB 21902-2008 Table 5"),
        "xylene_mgm3": (40.0, "GB 21902-2008 Table 5"),
        "nmhc_mgm3": (200.0, "GB 21902-2008 Table 5"),
        "thc_mgm3": (80.0, "registry"),
    }


def test_exceedance_is_strictly_above_and_never_from_nan() -> None:
    means = arr(49.999, 50.0, 50.0 + 1e-12, 50.001, np.nan)
    assert exceeds_limit(means, 50.0).tolist() == [False, False, False, True, False]


def test_emission_rate() -> None:
    # 40 mg/m³ × 25 000 m³/h × 1e-6 = 1.0 kg/h
    rates = emission_rate_kgh(arr(40.0, 2.0, np.nan), arr(25_000.0, np.nan, 1000.0))
    assert rates[0] == pytest.approx(1.0)
    assert np.isnan(rates[1]) and np.isnan(rates[2])


@pytest.mark.parametrize(
    ("start", "end", "first", "n"),
    [
        (H0, H0 + HOUR_MS, H0, 1),
        (H0 + 1, H0 + HOUR_MS + 1, H0, 2),
        (H0 + 30 * MINUTE_MS, H0 + 90 * MINUTE_MS, H0, 2),
        (H0, H0 + 24 * HOUR_MS, H0, 24),
    ],
)
def test_hour_range(start: int, end: int, first: int, n: int) -> None:
    assert hour_range(start, end) == (first, n)


def test_stack_compliance_counts() -> None:
    # 3 hours: dmf valid 60 (mean 60 > 50), valid 45 (mean 30), insufficient 44;
    # flow valid for hours 0 and 2 only (20 000 m³/h).
    def minutes(hour: int, n: int) -> np.ndarray:
        return H0 + hour * HOUR_MS + MINUTE_MS * np.arange(n, dtype=np.int64)

    dmf_t = np.concatenate([minutes(0, 60), minutes(1, 45), minutes(2, 44)])
    dmf_v = np.concatenate([np.full(60, 60.0), np.full(45, 30.0), np.full(44, 99.0)])
    flow_t = np.concatenate([minutes(0, 50), minutes(1, 10), minutes(2, 60)])
    flow_v = np.full(flow_t.size, 20_000.0)
    stack = stack_compliance(
        "sl-001",
        "stack-1",
        {"dmf_mgm3": (dmf_t, dmf_v), "flow_m3h": (flow_t, flow_v)},
        {"toluene_mgm3": 10.0},
        H0,
        3,
        LATER,
    )
    by_name = {p.limit.pollutant: p for p in stack.pollutants}
    dmf = by_name["dmf_mgm3"]
    assert dmf.hours.status == ("valid", "valid", "insufficient")
    assert dmf.counts() == {"hours": 3, "valid": 2, "insufficient": 1, "pending": 0, "exceeding": 1}
    assert dmf.exceeds.tolist() == [True, False, False]
    # 60 mg/m³ × 20 000 m³/h × 1e-6 = 1.2 kg/h; hour 1 has no valid flow hour -> no rate
    assert dmf.emission_kgh[0] == pytest.approx(1.2)
    assert np.isnan(dmf.emission_kgh[1]) and np.isnan(dmf.emission_kgh[2])
    # a pollutant with no data at all: every hour insufficient, never a pass
    assert by_name["benzene_mgm3"].counts()["insufficient"] == 3
    assert by_name["toluene_mgm3"].limit.limit_mgm3 == 10.0
