"""Limits by process and height, overrides, and the O2 correction (ingest.kernel.limits): literal tables."""

from __future__ import annotations

import numpy as np
import pytest

from api.voc.rules import (
    HOUR_MS,
    MINUTE_MS,
    flag_classes,
    judge_stack,
    stack_aggregates,
)
from ingest.kernel.limits import (
    PROCESSES,
    REGISTRY,
    STANDARD,
    TABLE5_MGM3,
    o2_corrected,
    resolve_limits,
)
from ingest.kernel.registry import parse_registry

H0 = 1_767_225_600_000  # 2026-01-01T00:00Z
NOW = H0 + 2 * HOUR_MS


@pytest.mark.parametrize(
    ("process", "expected"),
    [
        ("pu_wet", {"dmf_mgm3": 50.0, "nmhc_mgm3": 200.0}),
        (
            "pu_dry",
            {
                "dmf_mgm3": 50.0,
                "benzene_mgm3": 2.0,
                "toluene_mgm3": 30.0,
                "xylene_mgm3": 40.0,
                "nmhc_mgm3": 200.0,
            },
        ),
        (
            "pvc",
            {
                "benzene_mgm3": 2.0,
                "toluene_mgm3": 30.0,
                "xylene_mgm3": 40.0,
                "nmhc_mgm3": 150.0,
                "particulate_mgm3": 10.0,
            },
        ),
        (
            "post_treatment",
            {"benzene_mgm3": 2.0, "toluene_mgm3": 30.0, "xylene_mgm3": 40.0, "nmhc_mgm3": 200.0},
        ),
        (
            "other",
            {"benzene_mgm3": 2.0, "toluene_mgm3": 30.0, "xylene_mgm3": 40.0, "nmhc_mgm3": 200.0},
        ),
    ],
)
def test_table5_by_process(process: str, expected: dict[str, float]) -> None:
    limits = resolve_limits(process)
    assert {k: v.limit_mgm3 for k, v in limits.items()} == expected
    assert all(v.source == STANDARD and not v.halved for v in limits.values())
    assert limits["nmhc_mgm3"].proxy_of == "VOCs"


def test_every_process_has_a_voc_limit() -> None:
    assert set(TABLE5_MGM3["nmhc_mgm3"]) == set(PROCESSES)


@pytest.mark.parametrize(
    ("height_m", "dmf", "halved"),
    [(None, 50.0, False), (25.0, 50.0, False), (15.0, 50.0, False), (12.0, 25.0, True)],
)
def test_short_stack_halves(height_m: float | None, dmf: float, halved: bool) -> None:
    limit = resolve_limits("pu_dry", height_m)["dmf_mgm3"]
    assert (limit.limit_mgm3, limit.halved, limit.table_mgm3) == (dmf, halved, 50.0)
    assert ("stack under 15 m" in limit.rule) is halved


def test_registry_override_wins_over_process_and_height() -> None:
    limits = resolve_limits("pvc", 10.0, {"nmhc_mgm3": 120.0, "dmf_mgm3": 40.0})
    assert (limits["nmhc_mgm3"].limit_mgm3, limits["nmhc_mgm3"].source) == (120.0, REGISTRY)
    assert limits["nmhc_mgm3"].rule == "registry override"
    assert limits["dmf_mgm3"].limit_mgm3 == 40.0  # an override may add a pollutant
    assert limits["benzene_mgm3"].limit_mgm3 == 1.0  # the rest: PVC, halved


def test_unknown_process_refused() -> None:
    with pytest.raises(ValueError, match="process"):
        resolve_limits("pu_foam")


@pytest.mark.parametrize(
    ("conc", "o2", "ref", "expected"),
    [
        (40.0, 15.0, 3.0, 120.0),  # the example
        (40.0, 3.0, 3.0, 40.0),
        (40.0, 21.0, 3.0, np.nan),  # air: cannot be corrected
        (40.0, np.nan, 3.0, np.nan),
        (10.0, 11.0, 11.0, 10.0),
    ],
)
def test_o2_correction(conc: float, o2: float, ref: float, expected: float) -> None:
    got = float(o2_corrected([conc], [o2], ref)[0])
    assert got == pytest.approx(expected, nan_ok=True)


def _stack_hour(values: dict[str, float], o2_ref: float | None = None):  # type: ignore[no-untyped-def]
    """One whole hour of minute readings of constant values, judged against a pu_dry stack."""
    ts = H0 + MINUTE_MS * np.arange(60, dtype=np.int64)
    data = {
        name: (ts, np.full(60, value), flag_classes(["N"] * 60)) for name, value in values.items()
    }
    fields = [n for n in values if n != "o2_pct"]
    aggs = stack_aggregates(data, {}, fields, H0, 1, o2_ref)
    hours = np.array([H0], dtype=np.int64)
    return aggs, hours


def _verdict(registry_meter: dict[str, object], values: dict[str, float], pollutant: str):  # type: ignore[no-untyped-def]
    doc = {
        "plants": [
            {
                "id": "sl-1",
                "sector": "synthetic_leather",
                "meters": [{"id": "s-1", "kind": "voc", **registry_meter}],
            }
        ]
    }
    meter = parse_registry(doc).plants[0].meters[0]
    aggs, hours = _stack_hour(values, meter.o2_reference_pct)
    stack = judge_stack("sl-1", "s-1", aggs, hours, meter.limits(), NOW)
    return next(p for p in stack.pollutants if p.limit.pollutant == pollutant)


@pytest.mark.parametrize(
    ("meter", "values", "pollutant", "mean", "limit", "over"),
    [
        # a PVC stack at 160 mg/m³ VOCs (NMHC) is over (150); a PU-dry stack at 160 is not
        ({"process": "pvc"}, {"nmhc_mgm3": 160.0}, "nmhc_mgm3", 160.0, 150.0, True),
        ({"process": "pu_dry"}, {"nmhc_mgm3": 160.0}, "nmhc_mgm3", 160.0, 200.0, False),
        # a 12 m PU stack at DMF 30 is over (25)
        ({"process": "pu_dry", "height_m": 12.0}, {"dmf_mgm3": 30.0}, "dmf_mgm3", 30, 25, True),
        ({"process": "pu_wet", "height_m": 20.0}, {"dmf_mgm3": 30.0}, "dmf_mgm3", 30, 50, False),
        # 15 % O2 measuring 40 with reference 3 % is judged at 120
        (
            {"process": "pu_dry", "o2_reference_pct": 3.0},
            {"nmhc_mgm3": 40.0, "o2_pct": 15.0, "flow_m3h": 10_000.0},
            "nmhc_mgm3",
            120.0,
            200.0,
            False,
        ),
    ],
)
def test_compliance_answers(
    meter: dict[str, object],
    values: dict[str, float],
    pollutant: str,
    mean: float,
    limit: float,
    over: bool,
) -> None:
    judged = _verdict(meter, values, pollutant)
    assert judged.status == ("valid",)
    assert float(judged.mean[0]) == pytest.approx(mean)
    assert judged.limit.limit_mgm3 == limit
    assert bool(judged.exceeds[0]) is over


def test_emission_rate_uses_uncorrected_concentration() -> None:
    values = {"nmhc_mgm3": 40.0, "o2_pct": 15.0, "flow_m3h": 10_000.0}
    judged = _verdict({"o2_reference_pct": 3.0}, values, "nmhc_mgm3")
    assert float(judged.emission_kgh[0]) == pytest.approx(40.0 * 10_000.0 * 1e-6)


def test_minutes_without_o2_are_not_valid_on_a_corrected_stack() -> None:
    judged = _verdict({"o2_reference_pct": 3.0}, {"nmhc_mgm3": 40.0}, "nmhc_mgm3")
    assert judged.status == ("insufficient",)
    assert int(judged.agg["transmitted_minutes"][0]) == 60
