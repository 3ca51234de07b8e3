"""Segment planning of the read model: dirty marks -> hours per series -> runs (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.readmodel.plan import hour_groups, marked_hours
from ingest.kernel.dirty import DirtyRun

T = datetime(2026, 3, 1, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("hours", "runs"),
    [
        ([], ()),
        ([T], ((T, T + H),)),
        ([T + H, T, T + 3 * H], ((T, T + 2 * H), (T + 3 * H, T + 4 * H))),
        ([T, T], ((T, T + H),)),
    ],
)
def test_one_series_rolls_its_contiguous_hours_together(
    hours: list[datetime], runs: tuple[tuple[datetime, datetime], ...]
) -> None:
    key = ("p1", "m1")
    assert hour_groups({key: set(hours)}) == [(a, b, frozenset({key})) for a, b in runs]


def run(plant: str, meter: str, first: int, end: int) -> DirtyRun:
    return DirtyRun("gas", plant, meter, T + first * H, T + end * H, T)


@pytest.mark.parametrize(
    ("before", "hours"),
    [
        (None, {("p1", "m1"): {T, T + H, T + 5 * H}, ("p2", "m1"): {T}}),
        (T + H, {("p1", "m1"): {T}, ("p2", "m1"): {T}}),  # complete hours only
    ],
)
def test_marked_hours(before: datetime | None, hours: dict[tuple[str, str], set[datetime]]) -> None:
    runs = [run("p1", "m1", 0, 2), run("p1", "m1", 5, 6), run("p2", "m1", 0, 1)]
    assert marked_hours(runs, before) == hours


def test_hours_marked_for_the_same_series_roll_together() -> None:
    groups = hour_groups(
        {
            ("p1", "m1"): {T, T + H, T + 2 * H},
            ("p2", "m1"): {T, T + H},  # its back-fill arrived an hour short of p1's
            ("p3", "m1"): {T + 5 * H},
            ("p4", "x"): set(),
        }
    )
    assert groups == [
        (T, T + 2 * H, frozenset({("p1", "m1"), ("p2", "m1")})),
        (T + 2 * H, T + 3 * H, frozenset({("p1", "m1")})),
        (T + 5 * H, T + 6 * H, frozenset({("p3", "m1")})),
    ]


def test_a_back_fill_of_every_series_rolls_each_hour_once() -> None:
    """25 stacks, each a month back-filled up to a slightly different hour: the hours all
    share are one run, and no hour is rolled twice (grouped by series, every stack had its
    own month-long roll)."""
    hours = {("sl", f"stack-{k}"): {T + i * H for i in range(720 - k)} for k in range(25)}
    groups = hour_groups(hours)
    assert groups[0] == (T, T + 696 * H, frozenset(hours))
    assert len(groups) == 25
    assert sum((end - start) // H for start, end, _ in groups) == 720
