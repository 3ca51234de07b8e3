"""The Grafana kit takes its time zone from settings: dashboards and daily buckets alike."""

from __future__ import annotations

import json

import pytest

from dashboards.__main__ import render
from dashboards.grafana_boards import BOARDS
from dashboards.grafana_kit import TIMEZONE, localize


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_a_board_rendered_for_another_zone_names_only_that_zone(name: str) -> None:
    text = render(name, "Europe/Berlin")
    board = json.loads(text)
    assert board["timezone"] == "Europe/Berlin"
    assert TIMEZONE not in text
    default = render(name, TIMEZONE)
    assert text.count("tz('Europe/Berlin')") == default.count(f"tz('{TIMEZONE}')")


def test_the_zone_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANTWATCH_TIMEZONE", "Asia/Urumqi")
    assert json.loads(render(sorted(BOARDS)[0]))["timezone"] == "Asia/Urumqi"


def test_a_zone_cannot_break_out_of_the_clause() -> None:
    with pytest.raises(ValueError, match="not a time zone"):
        localize({"panels": []}, "UTC') OR 1=1 --")
