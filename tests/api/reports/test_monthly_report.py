"""The monthly report over HTTP: PDF pages rendered with poppler, XLSX read back with openpyxl,
every figure checked against the API's own answers for the same month."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import insert

from api.alerts.tables import alerts
from ingest.kernel.points import dead_letter_line
from ingest.kernel.store import InfluxStore
from tests.api.support import ADMIN
from tests.builders import MeterSpec, RegistryBuilder

pytestmark = pytest.mark.integration

START = datetime(2024, 12, 31, 16, tzinfo=UTC)  # 2025-01-01T00:00+08:00
END = datetime(2025, 3, 31, 16, tzinfo=UTC)  # to the end of local March
MARCH = datetime(2025, 2, 28, 16, tzinfo=UTC)
SWITCH = {"ss-001": 1, "ss-002": 2, "ss-003": 3, "ss-004": None, "ss-005": None}
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


def registry() -> str:
    b = RegistryBuilder(county="松阳县")
    for plant in SWITCH:
        b.plant(plant, name=f"松阳{plant[-1]}号不锈钢有限公司")
    b.plant(
        "sl-001",
        "synthetic_leather",
        [MeterSpec("stack-1", "voc", {"hj212_mn": "33112400SL001STACK000001"})],
        name="松阳某合成革有限公司",
    )
    return b.toml()


def local_month(ts: datetime) -> int:
    return (ts + timedelta(hours=8)).month


def write_fuel(store: InfluxStore) -> None:
    lines = []
    for plant, switch in SWITCH.items():
        gas = coal = 0.0
        ts = START
        while ts < END:
            if plant == "ss-005" and ts >= MARCH + timedelta(days=10):
                ts += timedelta(hours=1)
                continue  # silent from March 11: unknown in March
            if switch is not None and local_month(ts) >= switch:
                gas += 50.0
            else:
                coal += 80.0
            ms = int(ts.timestamp() * 1000)
            lines.append(f"gas,plant={plant},meter=gas-1 volume_m3={gas!r} {ms}")
            lines.append(f"coal,plant={plant},meter=coal-1 mass_kg={coal!r} {ms}")
            ts += timedelta(hours=1)
    store.write_lines(lines)


def write_voc(store: InfluxStore) -> None:
    """Two days of minute data in March; DMF at 60 mg/m³ (limit 50) for hours 10..12 of day 1."""
    lines = []
    day = MARCH + timedelta(days=4)
    for minute in range(2 * 24 * 60):
        ts = day + timedelta(minutes=minute)
        dmf = 60.0 if 10 * 60 <= minute < 13 * 60 else 20.0
        ms = int(ts.timestamp() * 1000)
        lines.append(
            "voc,plant=sl-001,meter=stack-1 "
            f'dmf_mgm3={dmf!r},dmf_mgm3_flag="N",nmhc_mgm3=30.0,nmhc_mgm3_flag="N",'
            f'flow_m3h=20000.0,flow_m3h_flag="N" {ms}'
        )
    store.write_lines(lines)


def write_alerts(client: TestClient) -> None:
    def ms(ts: datetime) -> int:
        return int(ts.timestamp() * 1000)

    opened = MARCH + timedelta(days=4, hours=11)
    rows = [
        # raised in March, acknowledged after 30 min, resolved in March
        dict(
            kind="voc_hourly_exceedance",
            plant="sl-001",
            meter="stack-1",
            pollutant="dmf_mgm3",
            status="resolved",
            opened=opened,
            ack=opened + timedelta(minutes=30),
            resolved=opened + timedelta(hours=3),
            value=60.0,
            limit=50.0,
        ),
        # raised in March, acknowledged after 90 min, still open
        dict(
            kind="voc_hourly_exceedance",
            plant="sl-001",
            meter="stack-1",
            pollutant="nmhc_mgm3",
            status="acknowledged",
            opened=opened,
            ack=opened + timedelta(minutes=90),
            resolved=None,
            value=250.0,
            limit=200.0,
        ),
        # raised in March, never acknowledged, still open
        dict(
            kind="meter_offline",
            plant="ss-005",
            meter="gas-1",
            pollutant="",
            status="open",
            opened=MARCH + timedelta(days=10, hours=2),
            ack=None,
            resolved=None,
            value=None,
            limit=None,
        ),
        # found late, in April, in back-filled March hours: March's, as its hours are
        dict(
            kind="voc_late_exceedance",
            plant="sl-001",
            meter="stack-1",
            pollutant="dmf_mgm3",
            status="open",
            opened=MARCH + timedelta(days=40),
            ack=None,
            resolved=None,
            value=70.0,
            limit=50.0,
            since=MARCH + timedelta(days=6),
        ),
        # raised in February, resolved in February: not part of March
        dict(
            kind="voc_spike",
            plant="sl-001",
            meter="stack-1",
            pollutant="dmf_mgm3",
            status="resolved",
            opened=MARCH - timedelta(days=5),
            ack=None,
            resolved=MARCH - timedelta(days=4),
            value=120.0,
            limit=100.0,
        ),
    ]
    with client.app.state.db.begin() as conn:  # type: ignore[attr-defined]
        for r in rows:
            key = (
                None
                if r["status"] == "resolved"
                else f"{r['kind']}/{r['plant']}/{r['meter']}/{r['pollutant']}"
            )
            conn.execute(
                insert(alerts).values(
                    kind=r["kind"],
                    plant=r["plant"],
                    meter=r["meter"],
                    pollutant=r["pollutant"],
                    open_key=key,
                    status=r["status"],
                    message="test",
                    value=r["value"],
                    limit=r["limit"],
                    opened_at=ms(r["opened"]),
                    last_seen_at=ms(r["opened"]),
                    updated_at=ms(r["opened"]),
                    acknowledged_by="officer" if r["ack"] else None,
                    acknowledged_at=ms(r["ack"]) if r["ack"] else None,
                    resolved_at=ms(r["resolved"]) if r["resolved"] else None,
                    since=ms(r["since"]) if r.get("since") else None,  # type: ignore[arg-type]
                    late=bool(r.get("since")),
                )
            )


def write_refusals(store: InfluxStore) -> None:
    at = MARCH + timedelta(days=2)
    lines = [
        dead_letter_line(
            "plantwatch/plants/ss-002/meters/gas-1/readings",
            "ss-002",
            "invalid_payload",
            "not JSON",
            b"{",
            at + timedelta(seconds=i),
            i,
        )
        for i in range(3)
    ]
    lines.append(dead_letter_line("", "sl-001", "hj212", "bad CRC", b"##", at, 9))
    store.write_lines(lines)


@pytest.fixture
def county(store: InfluxStore, make_client: Callable[..., TestClient]) -> TestClient:
    write_fuel(store)
    write_voc(store)
    write_refusals(store)
    client = make_client(registry(), alert_engine_enabled=False)
    write_alerts(client)
    return client


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True
    )
    return out.stdout


def render_pages(pdf: bytes, tmp_path: Path, name: str) -> list[Path]:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "90", "-png", str(path), str(tmp_path / name)], check=True)
    pages = sorted(tmp_path.glob(f"{name}-*.png"))
    if os.environ.get("PLANTWATCH_SAVE_ARTIFACTS"):
        ARTIFACTS.mkdir(exist_ok=True)
        for page in pages:
            shutil.copy(page, ARTIFACTS / page.name)
    return pages


def test_monthly_report_pdf_and_xlsx_match_the_api(county: TestClient, tmp_path: Path) -> None:
    client = county
    history = client.get(
        "/api/v1/kpi/gas-share/history", params={"year": 2025}, headers=ADMIN
    ).json()
    march = history["months"][2]
    assert march["month"] == "2025-03"
    # The data make March: ss-001..003 on gas, ss-004 on coal, ss-005 silent (unknown).
    assert march["counts"] == {"gas": 3, "mixed": 0, "coal": 1, "idle": 0, "unknown": 1}

    resp = client.get(
        "/api/v1/reports/monthly", params={"month": "2025-03", "format": "pdf"}, headers=ADMIN
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    assert "plantwatch-2025-03-zh.pdf" in resp.headers["content-disposition"]
    text = pdf_text(resp.content, tmp_path)
    squashed = "".join(text.split())
    assert "松阳县节能减排月报2025-03" in squashed
    assert f"天然气企业占比{100 * march['share']:.1f}%" in squashed
    assert "燃气企业/在产企业3/5" in squashed
    assert (
        "最小二乘直线拟合" in squashed and "least squares" not in squashed
    )  # the method, in Chinese
    assert f"尚需改造企业数{march['firms_needed']}" in squashed
    for name in ("松阳4号不锈钢有限公司", "松阳某合成革有限公司", "GB/T2589-2020"):
        assert name in squashed

    pages = render_pages(resp.content, tmp_path, "report-zh")
    assert len(pages) >= 2
    assert all(p.stat().st_size > 10_000 for p in pages)  # charts and tables, not blank pages

    xlsx = client.get(
        "/api/v1/reports/monthly",
        params={"month": "2025-03", "format": "xlsx", "lang": "en"},
        headers=ADMIN,
    )
    assert xlsx.status_code == 200, xlsx.text
    path = tmp_path / "report.xlsx"
    path.write_bytes(xlsx.content)
    book = load_workbook(path)
    assert {
        "summary",
        "months",
        "projection",
        "candidates",
        "firms",
        "voc_county",
        "voc_valid",
        "voc_exceedance",
        "voc_emission",
        "alerts",
        "open_alerts",
        "silent_meters",
        "refused",
        "factors",
        "tasks",
    } <= set(book.sheetnames)
    assert list(book["tasks"].iter_rows(min_row=3, values_only=True)) == [(0, 0, 0, 0)]

    months = list(book["months"].iter_rows(min_row=3, values_only=True))
    assert [r[0] for r in months] == ["2025-01", "2025-02", "2025-03"]
    for row, api_month in zip(months, history["months"], strict=False):
        assert list(row[1:6]) == [
            api_month["counts"][s] for s in ("gas", "mixed", "coal", "idle", "unknown")
        ]
        assert row[6] == pytest.approx(api_month["share"])
        assert isinstance(row[6], float)

    # The usage endpoint follows the one consumption rule (SPEC section 6) the report reads.
    firms = {r[0]: r for r in book["firms"].iter_rows(min_row=3, values_only=True)}
    for plant in SWITCH:
        usage = client.get(
            f"/api/v1/plants/{plant}/usage",
            params={
                "start": "2025-03-01T00:00:00+08:00",
                "end": "2025-04-01T00:00:00+08:00",
                "every": "1d",
            },
            headers=ADMIN,
        ).json()
        assert firms[plant][4] == pytest.approx(usage["totals"]["gas_m3"])
        assert firms[plant][5] == pytest.approx(usage["totals"]["coal_kg"])

    voc = client.get(
        "/api/v1/plants/sl-001/voc",
        params={"start": "2025-03-05T00:00:00+08:00", "end": "2025-03-07T00:00:00+08:00"},
        headers=ADMIN,
    ).json()
    dmf = next(p for p in voc["stacks"][0]["pollutants"] if p["pollutant"] == "dmf_mgm3")
    exceed = list(book["voc_exceedance"].iter_rows(min_row=2, values_only=True))
    header, stack_row = exceed[0], exceed[1]
    assert stack_row[header.index("DMF")] == dmf["counts"]["exceeding"] == 3
    emission = list(book["voc_emission"].iter_rows(min_row=2, values_only=True))
    kg = sum(h["emission_kgh"] or 0.0 for h in dmf["hours"])
    assert emission[1][emission[0].index("DMF")] == pytest.approx(kg)

    by_kind = {r[0]: r for r in book["alerts"].iter_rows(min_row=3, values_only=True)}
    assert by_kind["VOC hourly mean above limit"][1:] == (2, 2, 60.0, 60.0, 1)
    assert by_kind["Meter offline"][1:] == (1, 0, None, None, 1)
    assert by_kind["VOC reading above twice the limit"][1:] == (0, 0, None, None, 0)
    assert by_kind["VOC exceedance found in back-filled data"][1:] == (1, 0, None, None, 1)
    opened = [r[4] for r in book["open_alerts"].iter_rows(min_row=3, values_only=True)]
    assert opened and all(isinstance(v, datetime) for v in opened)
    assert datetime(2025, 3, 5, 11, 0) in opened  # local time, no offset

    refused = {(r[0], r[2]): r[3] for r in book["refused"].iter_rows(min_row=3, values_only=True)}
    # named in the report's language, not by their dead-letter codes
    assert refused == {
        ("ss-002", "refused whole: structure, time or values"): 3,
        ("sl-001", "HJ 212 packet failed its checks"): 1,
    }
    silent = {(r[0], r[2]) for r in book["silent_meters"].iter_rows(min_row=3, values_only=True)}
    assert ("ss-005", "gas-1") in silent and ("ss-001", "gas-1") not in silent
    assert ("sl-001", "stack-1") in silent  # two days of data in a month

    # The zh workbook: sheet names in Chinese, the summary's figures numbers with formats.
    zh = client.get(
        "/api/v1/reports/monthly", params={"month": "2025-03", "format": "xlsx"}, headers=ADMIN
    )
    (tmp_path / "zh.xlsx").write_bytes(zh.content)
    zh_book = load_workbook(tmp_path / "zh.xlsx")
    assert zh_book.sheetnames[0] == "摘要" and "月度占比" in zh_book.sheetnames
    assert not {"summary", "months", "alerts"} & set(zh_book.sheetnames)
    summary = {
        r[0]: r[1] for r in zh_book["摘要"].iter_rows(min_row=1, max_col=2, values_only=True)
    }
    share = summary["天然气企业占比"]
    assert isinstance(share, float) and share == pytest.approx(march["share"])
    assert isinstance(summary["尚需改造企业数"], int)


def test_share_chart_draws_months_without_data_as_gaps() -> None:
    """January–October on the demo: no data is a gap, never 0 % under a 100 % upper bound."""
    import math
    from types import SimpleNamespace

    from api.fuel.rules import STATUSES, GasShare
    from api.reports.charts import share_series

    def month(unknown: int, gas: int) -> Any:
        counts = dict.fromkeys(STATUSES, 0) | {"unknown": unknown, "gas": gas}
        kpi = GasShare(0.5, 5, counts, gas / 5, (gas + unknown) / 5, 0, False)
        return SimpleNamespace(kpi=kpi)

    content: Any = SimpleNamespace(figures=SimpleNamespace(months=[month(5, 0), month(1, 3)]))
    share, upper = share_series(content)
    assert math.isnan(share[0]) and math.isnan(upper[0])
    assert share[1] == pytest.approx(60.0) and upper[1] == pytest.approx(80.0)


def test_monthly_report_refuses_bad_months(county: TestClient) -> None:
    for month in ("2025-13", "25-03", "2099-12"):
        resp = county.get("/api/v1/reports/monthly", params={"month": month}, headers=ADMIN)
        assert resp.status_code == 422, (month, resp.text)


def test_monthly_job_writes_last_month_and_keeps_the_newest(
    store: InfluxStore, make_settings: Callable[..., Any], tmp_path: Path
) -> None:
    write_fuel(store)
    reports = tmp_path / "reports"
    settings = make_settings(registry(), reports_dir=str(reports), reports_keep=2)
    from api.app import create_app
    from api.reports.job import ReportJob

    app = create_app(settings)
    job = ReportJob(settings, app.state.registry, store, app.state.db)
    for old in ("2024-11", "2024-12"):
        for fmt in ("pdf", "xlsx"):
            (reports / f"plantwatch-{old}-zh.{fmt}").parent.mkdir(exist_ok=True)
            (reports / f"plantwatch-{old}-zh.{fmt}").write_bytes(b"old")
    (reports / "notes.txt").write_text("kept")
    written = job.run_once(datetime(2025, 2, 10, tzinfo=UTC))
    assert [p.name for p in written] == ["plantwatch-2025-01-zh.pdf", "plantwatch-2025-01-zh.xlsx"]
    assert written[0].read_bytes().startswith(b"%PDF")
    assert load_workbook(written[1])["月度占比"]["A3"].value == "2025-01"
    assert job.run_once(datetime(2025, 2, 11, tzinfo=UTC)) == []  # already there
    assert sorted(p.name for p in reports.iterdir()) == [
        "notes.txt",
        "plantwatch-2024-12-zh.pdf",
        "plantwatch-2024-12-zh.xlsx",
        "plantwatch-2025-01-zh.pdf",
        "plantwatch-2025-01-zh.xlsx",
    ]


@pytest.mark.parametrize(
    ("unknown", "gas", "lang", "expected"),
    [
        (0, 3, "zh", "60.0 %"),
        (5, 0, "zh", "0.0 % 至 100.0 %（数据不足 5 家）"),  # the month began before the data
        (5, 0, "en", "0.0 % to 100.0 % (Unknown: 5)"),
        (1, 3, "en", "60.0 % to 80.0 % (Unknown: 1)"),
    ],
)
def test_headline_share_gives_its_range_while_some_firms_cannot_be_told(
    unknown: int, gas: int, lang: str, expected: str
) -> None:
    # An inspector read "天然气企业占比 0.0 %" for a month whose first week had no data yet:
    # the share may be anything up to the upper bound, and the headline says so.
    from api.fuel.rules import STATUSES, GasShare
    from api.reports.content import share_text

    counts = dict.fromkeys(STATUSES, 0) | {
        "unknown": unknown,
        "gas": gas,
        "coal": 5 - gas - unknown,
    }
    kpi = GasShare(0.5, 5, counts, gas / 5, (gas + unknown) / 5, 0, False)
    assert share_text(kpi, lang) == expected
