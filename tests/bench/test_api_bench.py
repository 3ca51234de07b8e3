"""The API benchmark's moving `at`: every request a different hour; the one-`at` row repeats."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.api import endpoints, request_params

END = datetime(2026, 12, 7, 19, 30, tzinfo=UTC)


def test_moving_rows_ask_a_new_hour_every_time_and_the_cache_hit_row_one() -> None:
    rows = {e.name: e for e in endpoints(END, 365.0)}
    moving = [e for e in rows.values() if e.moving_at]
    assert {e.params[0].get("window_days", "30") for e in moving} == {"30", "365"}
    for endpoint in moving:
        asked = [request_params(endpoint, endpoint.params[0], i)["at"] for i in range(1, 50)]
        assert len(set(asked)) == len(asked)
        assert "at moves 1 h per request" in endpoint.name
    (same,) = [e for e in rows.values() if "cache hits" in e.name]
    assert not same.moving_at
    assert {request_params(same, same.params[0], i)["at"] for i in range(1, 5)} == {END.isoformat()}
