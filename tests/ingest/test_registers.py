"""Cumulative register events: a literal table of steps and what each must record."""

from __future__ import annotations

import pytest

from ingest.registers import Sample, classify, register_events

H = 3_600_000  # one hour in ms
T0 = 1_772_323_200_000


@pytest.mark.parametrize(
    ("previous", "current", "register", "expected"),
    [
        (Sample(T0, 100.0), Sample(T0 + H, 150.0), "volume_m3", None),
        (Sample(T0, 100.0), Sample(T0 + H, 100.0), "volume_m3", None),  # idle
        (Sample(T0, 100.0), Sample(T0 + H, 99.9), "volume_m3", "reset"),  # small drop
        (Sample(T0, 5e6), Sample(T0 + H, 0.0), "volume_m3", "reset"),  # register reset
        (Sample(T0, 5e6), Sample(T0 + H, 12.0), "mass_kg", "reset"),  # replaced meter
        (Sample(T0, 0.0), Sample(T0 + H, 20_000.0), "volume_m3", None),  # at the limit
        (Sample(T0, 0.0), Sample(T0 + H, 20_000.1), "volume_m3", "implausible_jump"),
        (Sample(T0, 0.0), Sample(T0 + H // 4, 5_001.0), "volume_m3", "implausible_jump"),
        (Sample(T0, 0.0), Sample(T0 + H, 50_000.0), "mass_kg", None),
        (Sample(T0, 0.0), Sample(T0 + H, 50_001.0), "mass_kg", "implausible_jump"),
        (Sample(T0, 0.0), Sample(T0 + H, 100_001.0), "energy_kwh", "implausible_jump"),
        (Sample(T0, 100.0), Sample(T0, 50.0), "volume_m3", None),  # same time: not a step
        (Sample(T0, 100.0), Sample(T0 - H, 50.0), "volume_m3", None),  # older: not a successor
    ],
)
def test_classify(previous: Sample, current: Sample, register: str, expected: str | None) -> None:
    from ingest.registers import MAX_RATE_PER_HOUR

    assert classify(previous, current, register, MAX_RATE_PER_HOUR) == expected


def test_events_in_a_batch_sorted_by_device_time() -> None:
    samples = [  # arrive out of order, one duplicated
        Sample(T0 + 3 * H, 10.0),
        Sample(T0 + 1 * H, 1100.0),
        Sample(T0 + 2 * H, 1200.0),
        Sample(T0 + 2 * H, 1200.0),
        Sample(T0 + 4 * H, 100_000.0),
    ]
    events, latest = register_events("ss-001", "gas-1", "volume_m3", Sample(T0, 1000.0), samples)
    assert [(e.event, e.ts_ms, e.previous, e.value) for e in events] == [
        ("reset", T0 + 3 * H, 1200.0, 10.0),
        ("implausible_jump", T0 + 4 * H, 10.0, 100_000.0),
    ]
    assert latest == Sample(T0 + 4 * H, 100_000.0)
    assert events[1].rate_per_hour == pytest.approx(99_990.0)


def test_no_predecessor_means_the_first_sample_is_a_baseline() -> None:
    events, latest = register_events("p", "m", "mass_kg", None, [Sample(T0, 7.0)])
    assert events == [] and latest == Sample(T0, 7.0)


def test_event_line_identity_is_plant_meter_time() -> None:
    # Line protocol without an `i` suffix is a float, so `9` is stored as 9.0.
    [event], _ = register_events("p", "m", "volume_m3", Sample(T0, 9.0), [Sample(T0 + H, 1.0)])
    assert event.line() == (
        'register_event,meter=m,plant=p event="reset",previous=9,register="volume_m3",'
        f"seconds=3600,step=-8,value=1 {T0 + H}"
    )
