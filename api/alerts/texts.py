"""The one renderer of alerts for people: title and sentence in Chinese or English.

Every reader of an alert goes through `render`: the web page (the API adds `title`/`text`
in the caller's language), MQTT and webhook notifications (both languages), and chat
robots. It reads only the structured fields of an alert (kind, plant, meter, pollutant,
value, limit, unit, since, late, details), never the English `message`, and it names firms
by their registry name, times in the county's local time, and every number with its unit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from api.alerts.model import (
    COAL_AFTER_CONVERSION,
    COUNTY,
    GAS_SHARE_OFF_TRACK,
    INGEST_STALLED,
    LOGGER_AUTH_FAILURES,
    LOGGER_CLOCK_DRIFT,
    METER_OFFLINE,
    READING_REVISED,
    SENSOR_STUCK,
    TASK_OVERDUE,
    TREATMENT_NOT_RUNNING,
    VOC_DARK_AFTER_EXCEEDANCE,
    VOC_HOURLY_EXCEEDANCE,
    VOC_LATE_EXCEEDANCE,
    VOC_SPIKE,
    Alert,
    county_of_alert,
)
from api.power.rules import RUNNING_SHARE
from ingest.kernel.catalogue import FIRM_STATUSES, LANGS
from ingest.kernel.registry import Registry

TITLES = {
    "zh": {
        VOC_HOURLY_EXCEEDANCE: "VOC 小时均值超标",
        VOC_SPIKE: "VOC 瞬时值超 2 倍限值",
        METER_OFFLINE: "仪表离线",
        SENSOR_STUCK: "传感器数值不变",
        COAL_AFTER_CONVERSION: "改气后又用煤",
        GAS_SHARE_OFF_TRACK: "天然气占比进度滞后",
        INGEST_STALLED: "数据接入中断",
        VOC_DARK_AFTER_EXCEEDANCE: "VOC 超标后无有效数据",
        LOGGER_CLOCK_DRIFT: "数采仪时钟偏差",
        READING_REVISED: "已记录数据被改发",
        LOGGER_AUTH_FAILURES: "数采仪密码反复错误",
        TREATMENT_NOT_RUNNING: "生产时治污设施未运行",
        VOC_LATE_EXCEEDANCE: "补传数据中的 VOC 超标",
        TASK_OVERDUE: "处置任务逾期",
    },
    "en": {
        VOC_HOURLY_EXCEEDANCE: "VOC hourly mean above limit",
        VOC_SPIKE: "VOC reading above twice the limit",
        METER_OFFLINE: "Meter offline",
        SENSOR_STUCK: "Sensor stuck",
        COAL_AFTER_CONVERSION: "Coal burnt after conversion",
        GAS_SHARE_OFF_TRACK: "Gas share off track",
        INGEST_STALLED: "Data ingest stalled",
        VOC_DARK_AFTER_EXCEEDANCE: "VOC stack went dark after an exceedance",
        LOGGER_CLOCK_DRIFT: "Data logger clock drift",
        READING_REVISED: "Recorded readings sent again with other values",
        LOGGER_AUTH_FAILURES: "Repeated wrong data logger passwords",
        TREATMENT_NOT_RUNNING: "Treatment not running while producing",
        VOC_LATE_EXCEEDANCE: "VOC exceedance found in back-filled data",
        TASK_OVERDUE: "Task overdue",
    },
}

POLLUTANTS = {
    "zh": {
        "nmhc_mgm3": "非甲烷总烃（VOCs 代表值）",
        "particulate_mgm3": "颗粒物",
        "thc_mgm3": "总烃",
        "dmf_mgm3": "DMF",
        "benzene_mgm3": "苯",
        "toluene_mgm3": "甲苯",
        "xylene_mgm3": "二甲苯",
        "flow_m3h": "烟气流量",
        "temp_c": "烟气温度",
        "pressure_kpa": "烟气压力",
        "humidity_pct": "烟气湿度",
        "o2_pct": "含氧量",
    },
    "en": {
        "nmhc_mgm3": "NMHC (VOCs proxy)",
        "particulate_mgm3": "particulates",
        "thc_mgm3": "THC",
        "dmf_mgm3": "DMF",
        "benzene_mgm3": "benzene",
        "toluene_mgm3": "toluene",
        "xylene_mgm3": "xylene",
        "flow_m3h": "flue-gas flow",
        "temp_c": "flue-gas temperature",
        "pressure_kpa": "flue-gas pressure",
        "humidity_pct": "flue-gas humidity",
        "o2_pct": "O₂",
    },
}

METER_KINDS = {
    "zh": {"gas": "天然气表", "coal": "煤计量秤", "electricity": "电表", "voc": "VOC 排口"},
    "en": {"gas": "gas meter", "coal": "coal scale", "electricity": "power meter", "voc": "stack"},
}

COUNTY_NAME = {"zh": "全县", "en": "County"}


def labels(lang: str) -> dict[str, dict[str, str]]:
    """The names the web page shows for codes, by prefix: `kind` (meter and alert kinds), `poll`,
    `status` (a firm's fuel status, from ingest.kernel.catalogue).

    Served by `GET /api/v1/labels`, so the page names an alert kind or a pollutant with the
    words every notification and report uses, not with a second dictionary of its own.
    """
    return {
        "kind": {**METER_KINDS[lang], **TITLES[lang]},
        "poll": dict(POLLUTANTS[lang]),
        "status": {status: label.in_lang(lang) for status, label in FIRM_STATUSES.items()},
    }


LATE = {"zh": "（据补传的迟到数据）", "en": " (found in late, backfilled data)"}


@dataclass(frozen=True, slots=True)
class Rendered:
    title: str
    text: str

    def as_json(self) -> dict[str, str]:
        return {"title": self.title, "text": self.text}


def _num(value: float | None, digits: int = 2) -> str:
    """A number without float noise: 62.0 -> '62', 0.12345 -> '0.12'."""
    if value is None:
        return "–"
    text = f"{value:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _pct(fraction: float | None) -> str:
    return "–" if fraction is None else f"{100 * fraction:.1f}%"


def _duration(minutes: float | None, lang: str) -> str:
    if minutes is None:
        return "–"
    hours, mins = divmod(round(minutes), 60)
    days, hours = divmod(hours, 24)
    if lang == "zh":
        parts = [f"{days} 天" if days else "", f"{hours} 小时" if hours else "", f"{mins} 分钟"]
        return " ".join(p for p in parts if p and (p != "0 分钟" or not (days or hours)))
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{mins} min"]
    return " ".join(p for p in parts if p and (p != "0 min" or not (days or hours)))


def _time(ts: datetime | str | None, lang: str, tz: ZoneInfo, clock_only: bool = False) -> str:
    if ts is None:
        return "–"
    when = datetime.fromisoformat(ts) if isinstance(ts, str) else ts
    local = when.astimezone(tz)
    if clock_only:
        return local.strftime("%H:%M")
    if lang == "zh":
        return f"{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local.day} {local:%b} {local:%H:%M}"


def firm_name(plant: str, lang: str, registry: Registry) -> str:
    """The firm's registry name; the county for county-wide alerts (its name when it is one
    county of several); the id if unknown."""
    if plant == COUNTY:
        return COUNTY_NAME[lang]
    county_id = county_of_alert(plant)
    if county_id is not None:
        county = registry.county(county_id)
        return county.name if county is not None else COUNTY_NAME[lang]
    found = registry.plant(plant)
    return found.name if found is not None else plant


def meter_label(plant: str, meter: str, lang: str, registry: Registry) -> str:
    """The meter's kind in words and its id, e.g. '天然气表 gas-1'."""
    if not meter:
        return ""
    found = registry.plant(plant)
    kind = next((m.kind for m in found.meters if m.id == meter), "") if found else ""
    word = METER_KINDS[lang].get(kind, "")
    return f"{word} {meter}" if word else meter


def pollutant_name(name: str, lang: str) -> str:
    return POLLUTANTS[lang].get(name, name)


Fields = Mapping[str, Any]


PROCESS_NAMES = {
    "zh": {
        "pu_wet": "聚氨酯湿法",
        "pu_dry": "聚氨酯干法",
        "pvc": "PVC",
        "post_treatment": "后处理",
        "other": "其他",
    },
    "en": {
        "pu_wet": "PU wet",
        "pu_dry": "PU dry",
        "pvc": "PVC",
        "post_treatment": "post-treatment",
        "other": "other",
    },
}


def limit_rule_text(d: Fields, lang: str) -> str:
    """Which rule produced the limit (details `limit_source`, `process`, `halved`); '' if unknown."""
    source = d.get("limit_source")
    if source is None:
        return ""
    if source == "registry":
        return "（登记的限值）" if lang == "zh" else " (registry limit)"
    process = PROCESS_NAMES[lang].get(d.get("process") or "", d.get("process") or "")
    if lang == "zh":
        short = "，排气筒低于 15 m 加严 50%" if d.get("halved") else ""
        return f"（GB 21902-2008 表 5，{process}工艺{short}）"
    short = ", 50 % stricter: stack under 15 m" if d.get("halved") else ""
    return f" (GB 21902-2008 Table 5, {process}{short})"


def _exceedance(a: Fields, lang: str, tz: ZoneInfo, where: str) -> str:
    d = a["details"]
    span = f"{_time(d.get('hour_start'), lang, tz)}–{_time(d.get('hour_end'), lang, tz, True)}"
    p, u = pollutant_name(a["pollutant"], lang), a["unit"]
    rule = limit_rule_text(d, lang)
    if lang == "zh":
        return (
            f"{where}：{p} {span} 小时均值 {_num(a['value'])} {u}，"
            f"超过限值 {_num(a['limit'])} {u}{rule}"
        )
    return (
        f"{where}: {p} hourly mean {_num(a['value'])} {u} for {span}, "
        f"above its limit {_num(a['limit'])} {u}{rule}"
    )


def _spike(a: Fields, lang: str, tz: ZoneInfo, where: str) -> str:
    d = a["details"]
    p, u = pollutant_name(a["pollutant"], lang), a["unit"]
    base, factor = _num(d.get("limit_mgm3")), _num(d.get("factor"))
    if lang == "zh":
        return (
            f"{where}：{p} 于 {_time(a['since'], lang, tz)} 测得 {_num(a['value'])} {u}，"
            f"超过限值 {base} {u} 的 {factor} 倍"
        )
    return (
        f"{where}: {p} reading {_num(a['value'])} {u} at {_time(a['since'], lang, tz)}, "
        f"above {factor} × its limit {base} {u}"
    )


def _offline(a: Fields, lang: str, tz: ZoneInfo, where: str) -> str:
    allowance = _num(a["limit"], 0)
    if a["since"] is None:
        hours = _num(a["details"].get("lookback_hours"), 0)
        if lang == "zh":
            return f"{where} 近 {hours} 小时没有任何数据（允许 {allowance} 分钟）"
        return f"{where} sent no data in the last {hours} h (allowed {allowance} min)"
    since, silent = _time(a["since"], lang, tz), _duration(a["value"], lang)
    if lang == "zh":
        return f"{where} 自 {since} 起没有数据，已 {silent}（允许 {allowance} 分钟）"
    return f"{where} silent since {since}, for {silent} (allowed {allowance} min)"


def _stuck(a: Fields, lang: str, tz: ZoneInfo, where: str) -> str:
    d = a["details"]
    p, u = pollutant_name(a["pollutant"], lang), a["unit"]
    run = _num(d.get("run_minutes"), 0)
    value = f"{_num(a['value'])} {u}".strip()
    if lang == "zh":
        return (
            f"{where}：{p} 自 {_time(a['since'], lang, tz)} 起 {run} 分钟保持 {value} 不变"
            f"（排口运行中，超过 {_num(a['limit'], 0)} 分钟即告警）"
        )
    return (
        f"{where}: {p} stuck at {value} for {run} min since {_time(a['since'], lang, tz)} "
        f"while the stack runs (alert after {_num(a['limit'], 0)} min)"
    )


def _coal(a: Fields, lang: str, tz: ZoneInfo, where: str) -> str:
    hours = _num(a["details"].get("window_hours"), 0)
    fraction = a["details"].get("recent_gas_fraction")
    if lang == "zh":
        share = f"，燃气占比降至 {_pct(fraction)}" if fraction is not None else ""
        return (
            f"{where}（此前判定为燃气企业）近 {hours} 小时用煤 {_num(a['value'], 1)} kg{share}"
            f"（阈值 {_num(a['limit'], 0)} kg）"
        )
    share = f", gas down to {_pct(fraction)} of its fuel" if fraction is not None else ""
    return (
        f"{where} (on gas until now) burnt {_num(a['value'], 1)} kg of coal in the last "
        f"{hours} h{share} (threshold {_num(a['limit'], 0)} kg)"
    )


def _share(a: Fields, lang: str, tz: ZoneInfo, where: str) -> str:
    if lang == "zh":
        return f"全县不锈钢企业天然气占比年终预测 {_pct(a['value'])}，低于目标 {_pct(a['limit'])}"
    return f"Projected year-end gas share of stainless-steel firms {_pct(a['value'])}, below the goal {_pct(a['limit'])}"


def _stalled(a: Fields, lang: str, tz: ZoneInfo, where: str) -> str:
    silent, total = _num(a["value"], 0), _num(a["limit"], 0)
    through = _time(a["since"], lang, tz)
    if lang == "zh":
        return (
            f"{silent}/{total} 块仪表同时没有数据，且没有数据写入：请检查 MQTT 代理、"
            f"采集程序和 InfluxDB（最新数据 {through}）"
        )
    return (
        f"{silent} of {total} meters silent together and no data being written: check the "
        f"MQTT broker, the collectors and InfluxDB (newest data {through})"
    )


def _dark(a: Fields, lang: str, tz: ZoneInfo, where: str) -> str:
    p, hours = pollutant_name(a["pollutant"], lang), a["value"]
    if hours is None:
        if lang == "zh":
            return f"{where}：{p} 超标之后仍无有效小时数据"
        return f"{where}: {p} still has no valid hour after its exceedance"
    if lang == "zh":
        return f"{where}：{p} 超标小时之后连续 {_num(hours, 0)} 小时无有效数据，请核查"
    return (
        f"{where}: {p} has had no valid hour for {_num(hours, 0)} h right after an exceeding hour"
    )


def _clock(a: Fields, lang: str, tz: ZoneInfo, where: str) -> str:
    drift, limit = a["value"] or 0.0, _num(a["limit"], 0)
    seconds = _num(abs(drift), 0)
    if lang == "zh":
        way = "快" if drift > 0 else "慢"
        return (
            f"{where} 的数采仪时钟{way} {seconds} 秒（允许 {limit} 秒，"
            f"{_time(a['since'], lang, tz)} 校时检查），已下发校时命令"
        )
    way = "ahead" if drift > 0 else "behind"
    return (
        f"{where}: the data logger's clock is {seconds} s {way} (allowed {limit} s, checked "
        f"{_time(a['since'], lang, tz)}); a time setting was sent"
    )


def _revised(a: Fields, lang: str, tz: ZoneInfo, where: str) -> str:
    count = _num(a["value"], 0)
    details = a["details"]
    first, last = details.get("first_reading"), details.get("last_reading")
    if lang == "zh":
        return (
            f"{where} 对已记录的数据改发了不同数值：{count} 个修订待审核"
            f"（数据时间 {_time(first, lang, tz)} 至 {_time(last, lang, tz)}，"
            f"最早于 {_time(a['since'], lang, tz)} 收到）；原记录不变，经执法人员认可后修订值才计入"
        )
    return (
        f"{where}: {count} revision(s) of recorded readings await review (readings from "
        f"{_time(first, lang, tz)} to {_time(last, lang, tz)}, first received "
        f"{_time(a['since'], lang, tz)}); the records stand until an officer accepts one"
    )


def _auth(a: Fields, lang: str, tz: ZoneInfo, where: str) -> str:
    d = a["details"]
    failures, locks = _num(a["value"], 0), _num(d.get("lockouts"), 0)
    addresses, last = d.get("addresses") or "–", _time(d.get("last_at"), lang, tz)
    if lang == "zh":
        return (
            f"{where} 的 MN 收到 {failures} 个密码错误或无法解密的报文（来自 {addresses}），"
            f"网关已锁定 {locks} 次，最近一次 {last}：可能有人在猜密码，请核实数采仪密码"
        )
    return (
        f"{where}: {failures} packets with a wrong password or that could not be decrypted "
        f"(from {addresses}); the gateway locked them out {locks} times, last {last}: someone "
        "may be guessing the password; check the data logger's"
    )


def _treatment(a: Fields, lang: str, tz: ZoneInfo, where: str) -> str:
    d = a["details"]
    firm = where.removesuffix(a["meter"]).strip() if a["meter"] else where
    line = d.get("line") or a["meter"]
    prod, prod_rated = _num(d.get("production_kw"), 1), _num(d.get("production_rated_kw"), 1)
    treat, treat_rated = _num(a["value"]), _num(d.get("treatment_rated_kw"), 1)
    since, minutes = _time(a["since"], lang, tz), _duration(d.get("minutes"), lang)
    share = f"{100 * float(d.get('running_share') or RUNNING_SHARE):g}%"
    if lang == "zh":
        return (
            f"{firm} 生产线 {line}：自 {since} 起生产用电 {prod} kW（额定 {prod_rated} kW），"
            f"治污设施用电仅 {treat} kW，低于额定 {treat_rated} kW 的 {share}，已持续 {minutes}"
        )
    return (
        f"{firm} line {line}: producing at {prod} kW (rated {prod_rated} kW) since {since} "
        f"while treatment draws {treat} kW, under {share} of its rated {treat_rated} kW, "
        f"for {minutes}"
    )


def _late_exceedance(a: Fields, lang: str, tz: ZoneInfo, where: str) -> str:
    d = a["details"]
    p, u = pollutant_name(a["pollutant"], lang), a["unit"]
    hours, first, end = d.get("hours"), d.get("first_hour"), d.get("last_hour_end")
    if lang == "zh":
        return (
            f"{where}：{p} 在 {_time(first, lang, tz)} 至 {_time(end, lang, tz)} 间有 {hours} 个"
            f"小时均值超过限值 {_num(a['limit'])} {u}（最高 {_num(a['value'])} {u}）"
        )
    return (
        f"{where}: {p} above its limit {_num(a['limit'])} {u} for {hours} h between "
        f"{_time(first, lang, tz)} and {_time(end, lang, tz)} (highest {_num(a['value'])} {u})"
    )


def _task_overdue(a: Fields, lang: str, tz: ZoneInfo, where: str) -> str:
    d = a["details"]
    task, who, due = d.get("task_id"), d.get("assignee"), _time(d.get("deadline"), lang, tz)
    firm = where.rsplit(" ", 1)[0] if " task-" in f" {where}" else where
    if lang == "zh":
        return f"{firm}：处置任务 #{task}（承办人 {who}）已超过办结期限 {due}，请督办"
    return f"{firm}: task #{task} (assigned to {who}) is past its deadline {due}; follow it up"


SENTENCES: dict[str, Callable[[Fields, str, ZoneInfo, str], str]] = {
    VOC_HOURLY_EXCEEDANCE: _exceedance,
    VOC_SPIKE: _spike,
    METER_OFFLINE: _offline,
    SENSOR_STUCK: _stuck,
    COAL_AFTER_CONVERSION: _coal,
    GAS_SHARE_OFF_TRACK: _share,
    INGEST_STALLED: _stalled,
    VOC_DARK_AFTER_EXCEEDANCE: _dark,
    LOGGER_CLOCK_DRIFT: _clock,
    READING_REVISED: _revised,
    LOGGER_AUTH_FAILURES: _auth,
    TREATMENT_NOT_RUNNING: _treatment,
    VOC_LATE_EXCEEDANCE: _late_exceedance,
    TASK_OVERDUE: _task_overdue,
}


def render(alert: Alert | Fields, lang: str, registry: Registry, tz: ZoneInfo | str) -> Rendered:
    """Title and sentence of an alert (an `Alert` or its published JSON) in `lang` (zh or en)."""
    a = alert.as_json() if isinstance(alert, Alert) else alert
    lang = lang if lang in LANGS else "zh"
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    fields = {
        **a,
        "meter": a.get("meter") or "",
        "pollutant": a.get("pollutant") or "",
        "unit": a.get("unit") or "",
        "details": a.get("details") or {},
        "since": a.get("since"),
    }
    firm = firm_name(fields["plant"], lang, registry)
    meter = meter_label(fields["plant"], fields["meter"], lang, registry)
    where = f"{firm} {meter}".strip()
    kind = fields["kind"]
    title = TITLES[lang].get(kind, kind)
    sentence = SENTENCES.get(kind)
    text = sentence(fields, lang, zone, where) if sentence else f"{where}: {a.get('message', '')}"
    if fields.get("late"):
        text += LATE[lang]
    return Rendered(title, text)


def render_all(alert: Alert | Fields, registry: Registry, tz: ZoneInfo | str) -> dict[str, Any]:
    """Every language, as events carry them: {"zh": {firm, title, text}, "en": {...}}."""
    plant = alert.key.plant if isinstance(alert, Alert) else alert["plant"]
    return {
        lang: {"firm": firm_name(plant, lang, registry)}
        | render(alert, lang, registry, tz).as_json()
        for lang in LANGS
    }
