"""The Chinese robot message of an alert event: firm name, value, limit, unit, local time, link (pure).

Titles, pollutant names and the sentence come from the project's one alert renderer
(`api.alerts.texts`); this module only lays them out as a robot's markdown.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from api.alerts.model import (
    COAL_AFTER_CONVERSION,
    COUNTY,
    GAS_SHARE_OFF_TRACK,
    METER_OFFLINE,
    SENSOR_STUCK,
    VOC_HOURLY_EXCEEDANCE,
    VOC_SPIKE,
    is_county_wide,
)
from api.alerts.texts import TITLES, pollutant_name
from api.robots.filters import severity_of

SEVERITY_ZH = {"critical": "严重", "warning": "警告", "info": "提示"}
EVENT_ZH = {
    "raised": "新告警",
    "reopened": "再次发生",
    "acknowledged": "已确认",
    "resolved": "已解除",
}
UNIT_BY_KIND = {
    VOC_HOURLY_EXCEEDANCE: "mg/m³",
    VOC_SPIKE: "mg/m³",
    METER_OFFLINE: "分钟",
    COAL_AFTER_CONVERSION: "kg",
}


# Markdown (and DingTalk's @mention) characters become their full-width forms in text that
# people typed: an officer's comment is shown as written, never as a link, heading or list.
PLAIN = str.maketrans(
    {
        "[": "［",
        "]": "］",
        "(": "（",
        ")": "）",
        "*": "＊",
        "_": "＿",
        "#": "＃",
        ">": "＞",
        "<": "＜",
        "`": "｀",
        "|": "｜",
        "!": "！",
        "@": "＠",
        "~": "～",
        "\\": "＼",
        "\r": " ",
        "\n": " ",
    }
)


def plain(text: str) -> str:
    """Typed text made inert in a robot's markdown: one line, no markup characters."""
    return text.translate(PLAIN)


def _number(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "%":
        return f"{100 * float(value):.1f} %"
    return f"{float(value):g} {unit}"


def render(
    event: Mapping[str, Any],
    names: Mapping[str, str],
    county: str,
    tz: ZoneInfo,
    public_url: str,
    sentence: str | None = None,
) -> tuple[str, str]:
    """(title, markdown) of one outbox event message (`EventRecord.message()`).

    `sentence` is the alert in Chinese from `api.alerts.texts.render`; without one the
    alert's log line stands in.
    """
    alert = event["alert"]
    text = sentence if sentence is not None else alert.get("message", "")
    kind, plant = alert["kind"], alert["plant"]
    kind_zh = TITLES["zh"].get(kind, kind)
    firm = county if plant == COUNTY else names.get(plant, plant)
    severity = SEVERITY_ZH[severity_of(kind)]
    pollutant = alert.get("pollutant") or ""
    pollutant_zh = pollutant_name(pollutant, "zh")
    if kind == GAS_SHARE_OFF_TRACK:
        value_unit = limit_unit = "%"
    elif kind == SENSOR_STUCK:
        value_unit = "mg/m³" if pollutant.endswith("_mgm3") else ""
        limit_unit = "分钟"
    else:
        value_unit = limit_unit = UNIT_BY_KIND.get(kind, "")
    at = datetime.fromisoformat(event["at"]).astimezone(tz)
    link = f"{public_url.rstrip('/')}/dashboard/#/alerts/{alert['id']}"
    title = f"【{severity}】{kind_zh} {firm}"
    lines = [
        f"### 【{severity}】{kind_zh}（{EVENT_ZH.get(event['event'], event['event'])}）",
        f"- 企业：{firm}" + ("" if is_county_wide(plant) else f"（{plant}）"),
    ]
    if alert.get("meter"):
        lines.append(
            f"- 仪表：{alert['meter']}" + (f"，污染物：{pollutant_zh}" if pollutant else "")
        )
    lines += [
        f"- 数值：{_number(alert.get('value'), value_unit)}",
        f"- 限值：{_number(alert.get('limit'), limit_unit)}",
        f"- 时间：{at:%Y-%m-%d %H:%M}（{tz.key}）",
        f"- 说明：{text}",
    ]
    if event.get("actor") and event["event"] in ("acknowledged", "resolved"):
        lines.append(
            f"- 处理人：{plain(event['actor'])}"
            + (f"，备注：{plain(event['comment'])}" if event.get("comment") else "")
        )
    lines.append(f"\n[查看告警 #{alert['id']}]({link})")
    return title, "\n".join(lines)
