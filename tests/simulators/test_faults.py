"""Fault specs, fault application and random fault rates."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from simulators.faults import (
    Fault,
    FaultRates,
    FaultSpecError,
    FaultState,
    Series,
    apply_value_faults,
    parse_fault,
    random_faults,
)

NOW = 1_780_000_000.0


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "stuck:sl-003/stack-1:dmf_mgm3",
            Fault("stuck", "sl-003", "stack-1", NOW, 2700.0, "dmf_mgm3", None),
        ),
        (
            "stuck:sl-003/stack-1:dmf_mgm3,for=45m,at=+10m",
            Fault("stuck", "sl-003", "stack-1", NOW + 600, 2700.0, "dmf_mgm3", None),
        ),
        ("dropout:ss-004,for=2h", Fault("dropout", "ss-004", "*", NOW, 7200.0, None, None)),
        (
            "skew:ss-004/gas-1,x=-300,for=1d",
            Fault("skew", "ss-004", "gas-1", NOW, 86_400.0, None, -300.0),
        ),
        (
            "spike:sl-001/stack-1:nmhc_mgm3",
            Fault("spike", "sl-001", "stack-1", NOW, 0.0, "nmhc_mgm3", 8.0),
        ),
        (
            "replace:ss-002/coal-1,x=12.5",
            Fault("replace", "ss-002", "coal-1", NOW, 0.0, None, 12.5),
        ),
        (
            "outage:ss-010/gas-1,at=2026-06-01T08:00:00+08:00",
            Fault("outage", "ss-010", "gas-1", 1780272000.0, 7200.0, None, None),
        ),
    ],
)
def test_fault_specs(spec: str, expected: Fault) -> None:
    assert parse_fault(spec, NOW) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("stuck", "must look like"),
        ("melt:ss-001", "not one of"),
        ("stuck:ss-001,for=soon", "duration 'soon'"),
        ("stuck:ss-001,at=2026-06-01T08:00", "needs a UTC offset"),
        ("spike:ss-001,x=big", "must be a number"),
        ("stuck:ss-001,when=+1m", "unknown option"),
    ],
)
def test_bad_fault_specs_say_what_to_fix(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        parse_fault(spec, NOW)


def _series(n: int = 10, start: int = 0) -> Series:
    t = np.arange(start, start + n, dtype=np.int64) * 60
    return Series(
        "p",
        "m",
        t,
        {
            "volume_m3": 100.0 + 10.0 * np.arange(start, start + n),
            "flow_m3h": 1.0 + np.arange(start, start + n, dtype=float),
        },
    )


def test_stuck_holds_its_first_value_across_blocks() -> None:
    fault = Fault("stuck", "p", "m", 120.0, 300.0, "flow_m3h")
    state = FaultState()
    first, _ = apply_value_faults(_series(4), [fault], state)
    second, _ = apply_value_faults(_series(4, start=4), [fault], state)
    assert list(first.values["flow_m3h"]) == [1.0, 2.0, 3.0, 3.0]
    assert list(second.values["flow_m3h"]) == [3.0, 3.0, 3.0, 8.0]


def test_dropout_skew_and_spike() -> None:
    faults = [
        Fault("dropout", "p", "*", 120.0, 120.0),
        Fault("skew", "p", "m", 300.0, 120.0, amount=-30.0),
        Fault("spike", "p", "m", 400.0, 0.0, "flow_m3h", 10.0),
        Fault("dropout", "other", "*", 0.0, 1e9),
    ]
    out, device_t = apply_value_faults(_series(), faults, FaultState())
    assert list(out.times_s) == [0, 60, 240, 300, 360, 420, 480, 540]
    assert list(device_t) == [0, 60, 240, 270, 330, 420, 480, 540]
    assert list(out.values["flow_m3h"]) == [1.0, 2.0, 5.0, 6.0, 7.0, 80.0, 9.0, 10.0]


def test_reset_and_replacement_restart_the_register_and_stay() -> None:
    state = FaultState()
    faults = [
        Fault("reset", "p", "m", 180.0, 0.0),
        Fault("replace", "p", "m", 420.0, 0.0, amount=5.0),
    ]
    first, _ = apply_value_faults(_series(5), faults, state)
    second, _ = apply_value_faults(_series(5, start=5), faults, state)
    assert list(first.values["volume_m3"]) == [100.0, 110.0, 120.0, 0.0, 10.0]
    assert list(second.values["volume_m3"]) == [20.0, 30.0, 5.0, 15.0, 25.0]


def test_rate_overrides_and_none() -> None:
    rates = FaultRates().with_overrides(["dropout=0.5", "reset=2"])
    assert rates.dropout_per_day == 0.5 and rates.reset_per_year == 2.0
    assert all(getattr(FaultRates.none(), f.name) == 0.0 for f in fields(FaultRates))
    with pytest.raises(FaultSpecError, match="KIND=RATE"):
        FaultRates().with_overrides(["melt=1"])


def test_random_faults_arrive_at_their_rates() -> None:
    rates = FaultRates(
        dropout_per_day=0.2,
        outage_per_day=0.1,
        duplicate_per_day=0.05,
        reset_per_year=36.5,
        stuck_per_day=0.3,
    )
    rng = np.random.default_rng(9)
    days = 2000
    gas = [
        f for d in range(days) for f in random_faults("p", "gas-1", "gas", d * 86_400.0, rates, rng)
    ]
    voc = [
        f
        for d in range(days)
        for f in random_faults("p", "stack-1", "voc", d * 86_400.0, rates, rng)
    ]
    for kind, per_day in (("dropout", 0.2), ("outage", 0.1), ("duplicate", 0.05), ("reset", 0.1)):
        count = sum(f.kind == kind for f in gas)
        expected = per_day * days
        assert abs(count - expected) < 5 * np.sqrt(expected), (kind, count, expected)
    assert not any(f.kind == "stuck" for f in gas)  # registers don't get stuck, analysers do
    assert not any(f.kind in ("reset", "replace") for f in voc)
    assert abs(sum(f.kind == "stuck" for f in voc) - 600) < 5 * np.sqrt(600)
    assert all(f.duration_s <= 86_400 for f in gas + voc)
