"""Segment planning of the read model: dirty marks -> hours per series -> runs (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.readmodel.plan import group_series, marked_hours, merge_hours
from ingest.dirty import DirtyRun

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
def test_merge_hours(hours: list[datetime], runs: tuple[tuple[datetime, datetime], ...]) -> None:
    assert merge_hours(hours) == runs


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


def test_series_with_the_same_hours_roll_together() -> None:
    groups = group_series(
        {("p1", "m1"): {T}, ("p2", "m1"): {T}, ("p3", "m1"): {T, T + H}, ("p4", "x"): set()}
    )
    assert groups == {
        ((T, T + H),): frozenset({("p1", "m1"), ("p2", "m1")}),
        ((T, T + 2 * H),): frozenset({("p3", "m1")}),
    }
