"""The monthly report's words in Chinese (default) and English; one table, looked up by key."""

from __future__ import annotations

from api.alerts.texts import TITLES, pollutant_name
from api.fuel.outlook import LEAST_SQUARES, SINGLE_MONTH, TWO_MONTHS
from api.voc.rules import POLLUTANTS
from ingest.kernel.catalogue import FIRM_STATUSES
from ingest.kernel.errors import Hj212Error, InvalidPayload, UnknownSource
from ingest.kernel.pipeline import PARTIAL_CODE

STATUS_NAMES = {status: (label.zh, label.en) for status, label in FIRM_STATUSES.items()}

TEXTS: dict[str, tuple[str, str]] = {
    "title": ("{county}节能减排月报 {month}", "{county} energy and emissions report, {month}"),
    "subtitle": (
        "统计区间 {start} 至 {end}（{tz}）；生成于 {generated}",
        "Period {start} to {end} ({tz}); generated {generated}",
    ),
    "in_progress": ("本月尚未结束，数据截至生成时刻。", "The month is not over: figures to date."),
    # sections
    "sec_gas": ("一、煤改气", "1. Coal-to-gas"),
    "sec_voc": ("二、VOC 在线监测", "2. VOC monitoring"),
    "sec_alerts": ("三、告警", "3. Alerts"),
    "sec_quality": ("四、数据质量", "4. Data quality"),
    "sec_factors": ("五、采用的折算系数", "5. Factors used"),
    # headline
    "share": ("天然气企业占比", "Share of firms on gas"),
    "share_range": ("{low} 至 {high}（{status} {n} 家）", "{low} to {high} ({status}: {n})"),
    "goal": ("目标", "Goal"),
    "gas_firms": ("燃气企业 / 在产企业", "Firms on gas / active firms"),
    "firms_needed": ("尚需改造企业数", "Firms still needed"),
    "projected": ("年末预测占比（95% 区间）", "Year-end projection (95 % interval)"),
    "on_track": ("能否完成目标", "On track"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "unknown_value": ("无法判断", "cannot tell"),
    "co2_month": ("本月减排 CO₂（吨）", "CO₂ avoided this month (t)"),
    "co2_ytd": ("年初至今减排 CO₂（吨）", "CO₂ avoided year to date (t)"),
    "tce_month": ("本月能耗（吨标准煤）", "Energy this month (tce)"),
    "tce_ytd": ("年初至今能耗（吨标准煤）", "Energy year to date (tce)"),
    # tables
    "t_months": ("逐月状态与占比（年初至今）", "Status by month (year to date)"),
    "t_projection": ("年末预测", "Year-end projection"),
    "t_candidates": ("建议下一步改造企业", "Firms to convert next"),
    "t_firms": ("本月各企业燃料与状态", "Firms this month"),
    "t_voc_valid": (
        "各排口有效数据率（有效小时 / 已结束的运行小时，停运不计）",
        "Valid-data rate per stack (valid hours / ended running hours, stopped ones left out)",
    ),
    "t_voc_limits": (
        "各排口限值（mg/m³）及其依据（工艺、排气筒高度、登记限值）",
        "Limits per stack (mg/m³) and the rule behind them (process, stack height, registry)",
    ),
    "t_voc_exceed": ("各排口超标小时数（按污染物）", "Exceedance hours per stack and pollutant"),
    "t_voc_emission": ("各排口排放量（千克，按污染物）", "Emissions per stack (kg, by pollutant)"),
    "t_voc_county": ("全县合计（按污染物）", "County totals by pollutant"),
    "t_alerts": ("告警统计（按类型）", "Alerts by kind"),
    "t_open_alerts": ("月末仍未解决的告警", "Alerts still open at month end"),
    "t_treatment": (
        "生产时治污设施未运行（按企业，本月新增告警）",
        "Treatment not running while producing (alerts raised this month, per firm)",
    ),
    "t_tasks": ("告警处置任务", "Dispositions of alerts (tasks)"),
    "c_tasks_opened": ("派单", "opened"),
    "c_tasks_closed": ("办结", "closed"),
    "c_tasks_in_time": ("按期办结", "closed in time"),
    "c_tasks_overdue": ("逾期", "overdue"),
    "t_silent": ("静默超过 20% 时间的仪表", "Meters silent for over 20 % of the month"),
    "t_refused": (
        "被拒收的消息（整条拒收，或部分数值无效）",
        "Refused messages (whole, or some of their values)",
    ),
    "t_factors": ("折算系数", "Factors"),
    # columns
    "c_month": ("月份", "month"),
    "c_plant": ("企业编号", "plant"),
    "c_name": ("企业名称", "firm"),
    "c_status": ("状态", "status"),
    "c_gas": STATUS_NAMES["gas"],
    "c_mixed": STATUS_NAMES["mixed"],
    "c_coal": STATUS_NAMES["coal"],
    "c_idle": STATUS_NAMES["idle"],
    "c_unknown": STATUS_NAMES["unknown"],
    "c_share": ("占比", "share"),
    "c_share_upper": ("占比上限", "share upper"),
    "c_no_data": ("无数据", "no data"),
    "c_firms_needed": ("尚需", "needed"),
    "c_tce": ("能耗（吨标煤）", "energy (tce)"),
    "c_co2_avoided_t": ("减排 CO₂（吨）", "CO₂ avoided (t)"),
    "c_gas_fraction": ("天然气比例", "gas fraction"),
    "c_gas_m3": ("天然气（立方米）", "gas (m³)"),
    "c_coal_kg": ("煤（千克）", "coal (kg)"),
    "c_kgce": ("能耗（千克标煤）", "energy (kgce)"),
    "c_co2_kg": ("CO₂（千克）", "CO₂ (kg)"),
    "c_reason": ("说明", "note"),
    "c_item": ("项目", "item"),
    "c_value": ("数值", "value"),
    "c_stack": ("排口", "stack"),
    "c_hours": ("小时数", "hours"),
    # SPEC section 14: hours whose readings arrived more than 2 h after the hour ended
    "c_late_filled": ("补传小时（迟于 {hours:g} 小时）", "late-filled hours (> {hours:g} h after)"),
    "c_pollutant": ("污染物", "pollutant"),
    "c_stacks": ("排口数", "stacks"),
    "c_valid_hours": ("有效小时", "valid hours"),
    "c_exceed_hours": ("超标小时", "exceedance hours"),
    "c_emission_kg": ("排放量（千克）", "emission (kg)"),
    "c_kind": ("类型", "kind"),
    "c_raised": ("新增", "raised"),
    "c_acknowledged": ("已确认", "acknowledged"),
    "c_ack_median_min": ("确认用时中位数（分钟）", "median time to ack (min)"),
    "c_ack_mean_min": ("确认用时平均（分钟）", "mean time to ack (min)"),
    "c_still_open": ("月末未解决", "still open"),
    "c_id": ("编号", "id"),
    "c_opened": ("发生时间", "opened"),
    "c_limit": ("限值", "limit"),
    "c_meter": ("仪表", "meter"),
    "c_lines": ("生产线数", "lines"),
    "c_rule": ("依据", "rule"),
    "c_meter_kind": ("仪表类型", "meter kind"),
    "c_hours_reported": ("有数据小时", "hours reported"),
    "c_silent_share": ("静默比例", "silent share"),
    "c_code": ("原因代码", "code"),
    "c_count": ("条数", "count"),
    "c_factor": ("系数", "factor"),
    "c_period": ("适用月份", "months"),
    "c_unit": ("单位", "unit"),
    "c_effective": ("生效日期", "effective from"),
    "c_source": ("依据", "source"),
    # projection rows
    "p_gas_firms": ("年末燃气企业数", "gas firms at year end"),
    "p_estimate": ("预测值", "estimate"),
    "p_low": ("区间下限", "interval low"),
    "p_high": ("区间上限", "interval high"),
    "p_share": ("预测占比", "projected share"),
    "p_months": ("参与拟合月数", "months fitted"),
    "p_method": ("方法", "method"),
    # factor names
    "f_gas_kgce_per_m3": ("天然气折标煤系数", "gas to standard coal"),
    "f_coal_kgce_per_kg": ("原煤折标煤系数", "coal to standard coal"),
    "f_co2_kg_per_kg_coal": ("原煤 CO₂ 排放系数", "CO₂ of coal"),
    "f_co2_kg_per_m3_gas": ("天然气 CO₂ 排放系数", "CO₂ of gas"),
    # charts
    "ch_share": ("逐月天然气企业占比与目标", "Monthly share on gas vs goal"),
    "ch_status": ("逐月企业状态", "Firms by status, per month"),
    "ch_voc": ("全县超标小时（按污染物）", "County exceedance hours by pollutant"),
    "ch_alerts": ("本月告警（按类型）", "Alerts this month by kind"),
    "none": ("无", "none"),
}

METHOD_NAMES = {
    SINGLE_MONTH: ("仅一个月数据，尚无趋势", SINGLE_MONTH),
    TWO_MONTHS: ("两个月连线", TWO_MONTHS),
    LEAST_SQUARES: ("最小二乘直线拟合，95% 预测区间", LEAST_SQUARES),
}
# Dead-letter codes, as the report names them.
REFUSAL_NAMES = {
    InvalidPayload.code: (
        "整条拒收：格式、时间或数值不可用",
        "refused whole: structure, time or values",
    ),
    PARTIAL_CODE: ("部分数值无效（其余已入库）", "some values invalid (the rest stored)"),
    UnknownSource.code: ("未登记的企业或仪表", "unknown plant or meter"),
    Hj212Error.code: (
        "HJ 212 报文无法校验（长度、CRC、MN、时间）",
        "HJ 212 packet failed its checks",
    ),
}
# Alert kinds and pollutants are named once, by the alert renderer; the report reuses them.
# XLSX sheet names per table key: the English ones are the stable keys themselves.
SHEET_NAMES = {
    "summary": ("摘要", "summary"),
    "months": ("月度占比", "months"),
    "projection": ("年终预测", "projection"),
    "candidates": ("改造候选", "candidates"),
    "firms": ("企业", "firms"),
    "voc_county": ("VOC全县", "voc_county"),
    "voc_valid": ("VOC有效率", "voc_valid"),
    "voc_exceedance": ("VOC超标小时", "voc_exceedance"),
    "voc_emission": ("VOC排放量", "voc_emission"),
    "alerts": ("告警", "alerts"),
    "open_alerts": ("未关闭告警", "open_alerts"),
    "silent_meters": ("无数据仪表", "silent_meters"),
    "refused": ("拒收数据", "refused"),
    "factors": ("折算系数", "factors"),
    "tasks": ("处置任务", "tasks"),
}
ALERT_KIND_NAMES = {kind: (TITLES["zh"][kind], TITLES["en"][kind]) for kind in TITLES["zh"]}
POLLUTANT_NAMES = {p: (pollutant_name(p, "zh"), pollutant_name(p, "en")) for p in POLLUTANTS}


def text(key: str, lang: str, **values: object) -> str:
    """The label `key` in `lang`, formatted with `values`."""
    zh, en = TEXTS[key]
    return (zh if lang == "zh" else en).format(**values)


def name_of(table: dict[str, tuple[str, str]], key: str, lang: str) -> str:
    """A status, alert kind or pollutant in `lang` (the key itself when unknown)."""
    pair = table.get(key)
    if pair is None:
        return key
    return pair[0] if lang == "zh" else pair[1]
