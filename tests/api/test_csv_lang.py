"""CSV exports: Chinese headers on request, local times, statuses in Chinese."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api.export import KPI_COLUMNS, USAGE_COLUMNS, to_csv
from ingest.kernel.store import InfluxStore
from tests.api.support import ADMIN
from tests.builders import FUEL_METERS, register_lines, registry_toml

TZ = ZoneInfo("Asia/Shanghai")


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_usage_rows_in_chinese_with_local_times() -> None:
    row = {
        "start": "2026-02-28T16:00:00+00:00",
        "end": datetime(2026, 3, 1, 16, tzinfo=UTC),
        "gas_m3": 12.5,
    }
    header, values = parse(to_csv(USAGE_COLUMNS, [row], "zh", TZ))
    assert header[:3] == [
        "开始时间（Asia/Shanghai）",
        "结束时间（Asia/Shanghai）",
        "天然气（立方米）",
    ]
    assert values[:3] == ["2026-03-01 00:00:00", "2026-03-02 00:00:00", "12.5"]
    english, _ = parse(to_csv(USAGE_COLUMNS, [row], "en", TZ))
    assert english[:3] == ["start (Asia/Shanghai)", "end (Asia/Shanghai)", "gas_m3"]


def test_kpi_statuses_in_chinese() -> None:
    rows = [
        {"plant": "ss-1", "name": "甲", "status": "unknown"},
        {"plant": "ss-2", "status": "gas"},
    ]
    header, first, second = parse(to_csv(KPI_COLUMNS, rows, "zh", TZ))
    assert header[:3] == ["企业编号", "企业名称", "状态"]
    assert (first[2], second[2]) == ("数据不足", "燃气")
    assert parse(to_csv(KPI_COLUMNS, rows))[1][2] == "unknown"  # default: value names


@pytest.mark.integration
def test_usage_csv_over_http_in_chinese(
    store: InfluxStore, make_client: Callable[..., TestClient]
) -> None:
    start = datetime(2026, 2, 28, 16, tzinfo=UTC)
    store.write_lines(
        register_lines("gas", "ss-a", "gas-1", start, timedelta(hours=1), [0, 10, 20])
    )
    client = make_client(registry_toml({"ss-a": ("stainless_steel", FUEL_METERS)}))
    resp = client.get(
        "/api/v1/plants/ss-a/usage",
        params={
            "start": "2026-03-01T00:00:00+08:00",
            "end": "2026-03-02T00:00:00+08:00",
            "every": "1d",
            "format": "csv",
            "lang": "zh",
        },
        headers=ADMIN,
    )
    assert resp.status_code == 200, resp.text
    header, row = parse(resp.content.decode("utf-8-sig"))
    assert header[0] == "开始时间（Asia/Shanghai）" and row[0] == "2026-03-01 00:00:00"
    assert float(row[header.index("天然气（立方米）")]) == 20.0
