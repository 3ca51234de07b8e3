"""Dated factors in the history and the report: each month under the factors in effect at its
last instant. A firm burns the same gas and coal every hour; the gas factor raised from
March moves it from `mixed` to `gas`, and the report's months and factors say so."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api.settings import FactorChange, KpiDefinition
from ingest.kernel.store import InfluxStore
from tests.api.support import ADMIN
from tests.builders import RegistryBuilder, register_lines

pytestmark = pytest.mark.integration

START = datetime(2025, 12, 31, 16, tzinfo=UTC)  # 2026-01-01T00:00+08:00
END = datetime(2026, 4, 30, 16, tzinfo=UTC)  # to the end of local April
GAS_M3_PER_H, COAL_KG_PER_H = 100.0, 19.6
CHANGE = FactorChange(
    effective_from=date(2026, 3, 1), gas_kgce_per_m3=1.33, co2_kg_per_kg_coal=2.0, source="市局通知"
)
MONTHS = ("2026-01", "2026-02", "2026-03", "2026-04")


def test_months_use_the_factors_of_their_last_instant(
    store: InfluxStore, make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    n = (END - START) // timedelta(hours=1) + 1
    for kind, meter, rate in (("gas", "gas-1", GAS_M3_PER_H), ("coal", "coal-1", COAL_KG_PER_H)):
        values = [rate * i for i in range(n)]
        store.write_lines(register_lines(kind, "ss-001", meter, START, timedelta(hours=1), values))
    kpi = KpiDefinition(factor_changes=[CHANGE])
    client = make_client(RegistryBuilder().plant("ss-001").toml(), kpi=kpi)
    before = KpiDefinition()
    after = before.model_copy(update={k: v for k, v in CHANGE.factors().items() if v is not None})
    # The same fuel is mixed under the standard's gas factor and gas under the raised one.
    assert 0.1 < 121.43 / (121.43 + COAL_KG_PER_H * before.coal_kgce_per_kg) < 0.9
    assert 133.0 / (133.0 + COAL_KG_PER_H * after.coal_kgce_per_kg) >= 0.9

    history = client.get("/api/v1/kpi/gas-share/history", params={"year": 2026}, headers=ADMIN)
    assert history.status_code == 200, history.text
    counts = [m["counts"] for m in history.json()["months"][:4]]
    assert [(c["mixed"], c["gas"]) for c in counts] == [(1, 0), (1, 0), (0, 1), (0, 1)]

    resp = client.get(
        "/api/v1/reports/monthly",
        params={"month": "2026-04", "format": "xlsx", "lang": "en"},
        headers=ADMIN,
    )
    assert resp.status_code == 200, resp.text
    path = tmp_path / "report.xlsx"
    path.write_bytes(resp.content)
    book = load_workbook(path)
    factors = list(book["factors"].iter_rows(min_row=3, values_only=True))
    gas_rows = [(r[0], r[2], r[5]) for r in factors if r[1] and "gas" in r[1] and "kgce" in r[3]]
    assert gas_rows == [
        ("2026-01 – 2026-02", 1.2143, "GB/T 2589-2020"),
        ("2026-03 – 2026-04", 1.33, "市局通知"),
    ]
    months = {r[0]: r for r in book["months"].iter_rows(min_row=3, values_only=True)}
    assert sorted(months) == list(MONTHS)
    for month in MONTHS:
        d = before if month < "2026-03" else after
        year, number = int(month[:4]), int(month[5:])
        usage = client.get(
            "/api/v1/plants/ss-001/usage",
            params={
                "start": f"{month}-01T00:00:00+08:00",
                "end": f"{year + number // 12}-{number % 12 + 1:02d}-01T00:00:00+08:00",
                "every": "1d",
            },
            headers=ADMIN,
        ).json()
        # usage too: each day under the factors of its last instant
        day = usage["intervals"][0]
        assert day["gas_kgce"] == pytest.approx(day["gas_m3"] * d.gas_kgce_per_m3), month
        gas_m3, coal_kg = usage["totals"]["gas_m3"], usage["totals"]["coal_kg"]
        tce = (gas_m3 * d.gas_kgce_per_m3 + coal_kg * d.coal_kgce_per_kg) / 1000
        co2_avoided_t = (
            gas_m3 * d.gas_kgce_per_m3 / d.coal_kgce_per_kg * d.co2_kg_per_kg_coal
            - gas_m3 * d.co2_kg_per_m3_gas
        ) / 1000
        assert months[month][9] == pytest.approx(tce), month
        assert months[month][10] == pytest.approx(co2_avoided_t), month
