"""`api.alerts.texts.render`: every kind in Chinese and English, from structured fields only."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime

import pytest

from api.alerts.model import Alert, AlertKey
from api.alerts.notify import event_body
from api.alerts.repo import EventRecord
from api.alerts.texts import LANGS, TITLES, labels, render, render_all
from ingest.kernel.registry import Registry, parse_registry
from tests.builders import MeterSpec, RegistryBuilder

TZ = "Asia/Shanghai"
AT = datetime(2026, 3, 2, 1, 7, tzinfo=UTC)  # 09:07 in Songyang


@pytest.fixture(scope="module")
def registry() -> Registry:
    builder = (
        RegistryBuilder()
        .plant("ss-051", name="松阳某不锈钢有限公司")
        .plant(
            "sl-001",
            "synthetic_leather",
            [MeterSpec("stack-1", "voc")],
            name="松阳某合成革有限公司",
        )
    )
    return parse_registry(tomllib.loads(builder.toml()))


def alert(kind: str, plant: str, meter: str = "", pollutant: str = "", **facts: object) -> Alert:
    fields: dict[str, object] = {
        "id": 1,
        "key": AlertKey(kind, plant, meter, pollutant),
        "status": "open",
        "opened_at": AT,
        "last_seen_at": AT,
        "updated_at": AT,
        "value": None,
        "limit": None,
        "message": "English log line, never shown",
    }
    fields.update(facts)
    return Alert(**fields)  # type: ignore[arg-type]


CASES = [
    (
        alert(
            "coal_after_conversion",
            "ss-051",
            value=62.0,
            limit=50.0,
            unit="kg",
            details={"window_hours": 6.0},
        ),
        "改气后又用煤",
        "松阳某不锈钢有限公司（此前判定为燃气企业）近 6 小时用煤 62 kg（阈值 50 kg）",
        "松阳某不锈钢有限公司 (on gas until now) burnt 62 kg of coal in the last 6 h (threshold 50 kg)",
    ),
    (
        alert(
            "coal_after_conversion",
            "ss-051",
            value=213.5,
            limit=50.0,
            unit="kg",
            details={"window_hours": 6.0, "recent_status": "mixed", "recent_gas_fraction": 0.45},
        ),
        "改气后又用煤",
        "松阳某不锈钢有限公司（此前判定为燃气企业）近 6 小时用煤 213.5 kg，燃气占比降至 45.0%（阈值 50 kg）",
        "松阳某不锈钢有限公司 (on gas until now) burnt 213.5 kg of coal in the last 6 h, gas down to "
        "45.0% of its fuel (threshold 50 kg)",
    ),
    (
        alert(
            "voc_hourly_exceedance",
            "sl-001",
            "stack-1",
            "dmf_mgm3",
            value=62.456,
            limit=50.0,
            unit="mg/m³",
            since=datetime(2026, 3, 2, 0, tzinfo=UTC),
            details={
                "hour_start": "2026-03-02T00:00:00+00:00",
                "hour_end": "2026-03-02T01:00:00+00:00",
            },
        ),
        "VOC 小时均值超标",
        "松阳某合成革有限公司 VOC 排口 stack-1：DMF 3月2日 08:00–09:00 小时均值 62.46 mg/m³，超过限值 50 mg/m³",
        "松阳某合成革有限公司 stack stack-1: DMF hourly mean 62.46 mg/m³ for 2 Mar 08:00–09:00, above its limit 50 mg/m³",
    ),
    (
        alert(
            "voc_spike",
            "sl-001",
            "stack-1",
            "benzene_mgm3",
            value=4.5,
            limit=4.0,
            unit="mg/m³",
            since=datetime(2026, 3, 2, 1, 5, tzinfo=UTC),
            details={"factor": 2.0, "limit_mgm3": 2.0},
        ),
        "VOC 瞬时值超 2 倍限值",
        "松阳某合成革有限公司 VOC 排口 stack-1：苯 于 3月2日 09:05 测得 4.5 mg/m³，超过限值 2 mg/m³ 的 2 倍",
        "松阳某合成革有限公司 stack stack-1: benzene reading 4.5 mg/m³ at 2 Mar 09:05, above 2 × its limit 2 mg/m³",
    ),
    (
        alert(
            "meter_offline",
            "ss-051",
            "gas-1",
            value=85.0,
            limit=60.0,
            unit="min",
            since=datetime(2026, 3, 1, 23, 42, tzinfo=UTC),
            details={"meter_kind": "gas"},
        ),
        "仪表离线",
        "松阳某不锈钢有限公司 天然气表 gas-1 自 3月2日 07:42 起没有数据，已 1 小时 25 分钟（允许 60 分钟）",
        "松阳某不锈钢有限公司 gas meter gas-1 silent since 2 Mar 07:42, for 1 h 25 min (allowed 60 min)",
    ),
    (
        alert(
            "meter_offline",
            "ss-051",
            "coal-1",
            limit=60.0,
            unit="min",
            details={"meter_kind": "coal", "lookback_hours": 48.0},
        ),
        "仪表离线",
        "松阳某不锈钢有限公司 煤计量秤 coal-1 近 48 小时没有任何数据（允许 60 分钟）",
        "松阳某不锈钢有限公司 coal scale coal-1 sent no data in the last 48 h (allowed 60 min)",
    ),
    (
        alert(
            "sensor_stuck",
            "sl-001",
            "stack-1",
            "flow_m3h",
            value=9000.0,
            limit=30.0,
            unit="m³/h",
            since=datetime(2026, 3, 2, 0, 20, tzinfo=UTC),
            details={"run_minutes": 46.0, "readings": 47},
        ),
        "传感器数值不变",
        "松阳某合成革有限公司 VOC 排口 stack-1：烟气流量 自 3月2日 08:20 起 46 分钟保持 9000 m³/h 不变（排口运行中，超过 30 分钟即告警）",
        "松阳某合成革有限公司 stack stack-1: flue-gas flow stuck at 9000 m³/h for 46 min since 2 Mar 08:20 while the stack runs (alert after 30 min)",
    ),
    (
        alert("voc_dark_after_exceedance", "sl-001", "stack-1", "dmf_mgm3", value=3.0, limit=1.0),
        "VOC 超标后无有效数据",
        "松阳某合成革有限公司 VOC 排口 stack-1：DMF 超标小时之后连续 3 小时无有效数据，请核查",
        "松阳某合成革有限公司 stack stack-1: DMF has had no valid hour for 3 h right after an exceeding hour",
    ),
    (
        alert(
            "logger_clock_drift",
            "sl-001",
            "stack-1",
            value=125.0,
            limit=60.0,
            unit="s",
            since=datetime(2026, 3, 2, 1, 30, tzinfo=UTC),
        ),
        "数采仪时钟偏差",
        "松阳某合成革有限公司 VOC 排口 stack-1 的数采仪时钟快 125 秒（允许 60 秒，3月2日 09:30 校时检查），已下发校时命令",
        "松阳某合成革有限公司 stack stack-1: the data logger's clock is 125 s ahead (allowed 60 s, checked 2 Mar 09:30); a time setting was sent",
    ),
    (
        alert(
            "reading_revised",
            "sl-001",
            "stack-1",
            value=30.0,
            unit="revisions",
            since=datetime(2026, 3, 2, 1, 30, tzinfo=UTC),
            details={
                "first_reading": "2026-02-20T02:00:00+00:00",
                "last_reading": "2026-02-20T02:29:00+00:00",
            },
        ),
        "已记录数据被改发",
        "松阳某合成革有限公司 VOC 排口 stack-1 对已记录的数据改发了不同数值：30 个修订待审核（数据时间 2月20日 10:00 至 2月20日 10:29，最早于 3月2日 09:30 收到）；原记录不变，经执法人员认可后修订值才计入",
        "松阳某合成革有限公司 stack stack-1: 30 revision(s) of recorded readings await review (readings from 20 Feb 10:00 to 20 Feb 10:29, first received 2 Mar 09:30); the records stand until an officer accepts one",
    ),
    (
        alert(
            "treatment_not_running",
            "sl-001",
            "line-1",
            value=0.3,
            limit=0.4,
            unit="kW",
            since=datetime(2026, 3, 1, 14, 0, tzinfo=UTC),
            details={
                "line": "line-1",
                "production_kw": 5.0,
                "production_rated_kw": 10.0,
                "treatment_rated_kw": 4.0,
                "minutes": 45.0,
            },
        ),
        "生产时治污设施未运行",
        "松阳某合成革有限公司 生产线 line-1：自 3月1日 22:00 起生产用电 5 kW（额定 10 kW），治污设施用电仅 0.3 kW，低于额定 4 kW 的 10%，已持续 45 分钟",
        "松阳某合成革有限公司 line line-1: producing at 5 kW (rated 10 kW) since 1 Mar 22:00 while treatment draws 0.3 kW, under 10% of its rated 4 kW, for 45 min",
    ),
    (
        alert(
            "voc_late_exceedance",
            "sl-001",
            "stack-1",
            "dmf_mgm3",
            value=85.5,
            limit=50.0,
            unit="mg/m³",
            details={
                "hours": 7,
                "first_hour": "2026-03-01T09:00:00+00:00",
                "last_hour_end": "2026-03-01T17:00:00+00:00",
            },
        ),
        "补传数据中的 VOC 超标",
        "松阳某合成革有限公司 VOC 排口 stack-1：DMF 在 3月1日 17:00 至 3月2日 01:00 间有 7 个小时均值超过限值 50 mg/m³（最高 85.5 mg/m³）",
        "松阳某合成革有限公司 stack stack-1: DMF above its limit 50 mg/m³ for 7 h between 1 Mar 17:00 and 2 Mar 01:00 (highest 85.5 mg/m³)",
    ),
    (
        alert(
            "task_overdue",
            "sl-001",
            "task-12",
            value=5.0,
            limit=0.0,
            unit="h",
            details={"task_id": 12, "assignee": "zhang", "deadline": "2026-03-02T01:00:00+00:00"},
        ),
        "处置任务逾期",
        "松阳某合成革有限公司：处置任务 #12（承办人 zhang）已超过办结期限 3月2日 09:00，请督办",
        "松阳某合成革有限公司: task #12 (assigned to zhang) is past its deadline 2 Mar 09:00; follow it up",
    ),
    (
        alert("gas_share_off_track", "_county", value=0.3125, limit=0.5, unit="fraction"),
        "天然气占比进度滞后",
        "全县不锈钢企业天然气占比年终预测 31.2%，低于目标 50.0%",
        "Projected year-end gas share of stainless-steel firms 31.2%, below the goal 50.0%",
    ),
    (
        alert(
            "ingest_stalled",
            "_county",
            value=120.0,
            limit=145.0,
            unit="meters",
            since=datetime(2026, 3, 2, 0, 50, tzinfo=UTC),
        ),
        "数据接入中断",
        "120/145 块仪表同时没有数据，且没有数据写入：请检查 MQTT 代理、采集程序和 InfluxDB（最新数据 3月2日 08:50）",
        "120 of 145 meters silent together and no data being written: check the MQTT broker, the collectors and InfluxDB (newest data 2 Mar 08:50)",
    ),
]


@pytest.mark.parametrize(("a", "title_zh", "zh", "en"), CASES, ids=[c[0].key.kind for c in CASES])
def test_render_in_both_languages(
    a: Alert, title_zh: str, zh: str, en: str, registry: Registry
) -> None:
    said = render(a, "zh", registry, TZ)
    assert (said.title, said.text) == (title_zh, zh)
    assert render(a, "en", registry, TZ).text == en
    # The published JSON renders the same as the alert itself (what notifications carry).
    assert render_all(a.as_json(), registry, TZ)["zh"] | {"firm": ""} == {
        "firm": "",
        "title": title_zh,
        "text": zh,
    }


def test_no_raw_plant_ids_utc_or_english_in_chinese(registry: Registry) -> None:
    for a, *_ in CASES:
        text = render(a, "zh", registry, TZ).text
        assert "ss-051" not in text and "sl-001" not in text and "UTC" not in text
        assert not any(w in text for w in ("silent", "limit", "above", "meter ")), text


def test_late_alerts_say_so(registry: Registry) -> None:
    a = alert(
        "coal_after_conversion",
        "ss-051",
        value=62.0,
        limit=50.0,
        unit="kg",
        late=True,
        details={"window_hours": 6.0},
    )
    assert render(a, "zh", registry, TZ).text.endswith("（据补传的迟到数据）")
    assert render(a, "en", registry, TZ).text.endswith("(found in late, backfilled data)")


def test_unknown_plant_falls_back_to_its_id(registry: Registry) -> None:
    a = alert(
        "coal_after_conversion",
        "ss-999",
        value=62.0,
        limit=50.0,
        unit="kg",
        details={"window_hours": 6.0},
    )
    assert render(a, "zh", registry, TZ).text.startswith("ss-999（")


def test_notifications_carry_both_languages(registry: Registry) -> None:
    a, title_zh, zh, en = CASES[0]
    event = EventRecord(7, 1, "raised", AT, "engine", None, a.as_json())
    body = json.loads(event_body(event, lambda snap: render_all(snap, registry, TZ)))
    assert body["texts"]["zh"] == {"firm": "松阳某不锈钢有限公司", "title": title_zh, "text": zh}
    assert body["texts"]["en"]["text"] == en
    assert "texts" not in json.loads(event_body(event))


def test_labels_name_every_alert_kind_meter_kind_and_pollutant_in_both_languages() -> None:

    for lang in LANGS:
        named = labels(lang)
        assert set(TITLES[lang]) <= set(named["kind"])
        assert {"gas", "coal", "electricity", "voc"} <= set(named["kind"])
        assert named["poll"]["dmf_mgm3"] == "DMF"
    assert labels("zh")["kind"]["meter_offline"] == "仪表离线"
    assert labels("en")["poll"]["xylene_mgm3"] == "xylene"
