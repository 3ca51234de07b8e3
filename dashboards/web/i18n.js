// Chinese (default) and English labels, number and time formatting.

const DICT = {
  zh: {
    "app.title": "松阳县能源与排放监测",
    "app.subtitle": "煤改气 · VOC 在线监测",
    "nav.overview": "总览",
    "nav.alerts": "告警",
    "nav.plants": "企业",
    "live.on": "实时",
    "live.off": "未连接",
    "live.absent": "无实时流",
    "key.title": "输入 API 密钥",
    "key.help": "密钥由系统管理员发放，只保存在本标签页中，关闭即清除。",
    "key.save": "保存",
    "key.change": "API 密钥",
    "key.invalid": "密钥无效或无权限，请重新输入。",
    "footer.source": "数据来源：plantwatch API（InfluxDB）。口径见",
    "footer.api": "API 文档",
    "common.loading": "加载中…",
    "common.error": "加载失败",
    "common.unavailable": "该接口尚未提供",
    "common.none": "暂无数据",
    "common.updated": "更新于",
    "chart.time": "时间",
    "pl.kpi": "煤改气指标（近 {days} 天）",
    "pl.kpi.fraction": "燃气占比",
    "pl.kpi.gas": "天然气 m³",
    "pl.kpi.coal": "煤 kg",
    "pl.kpi.avoided": "CO₂ 减排 t",
    "pl.range.fraction": "区间燃气占比",
    "ov.share": "天然气企业占比",
    "ov.share.scope": "不锈钢企业 · 近 {days} 天",
    "ov.goal": "目标",
    "ov.met": "已达到 {goal} 目标",
    "ov.needed": "还需 {n} 家企业改用天然气",
    "ov.upper": "若数据不足企业均为燃气：{upper}",
    "ov.firms": "家企业",
    "ov.status": "企业状态",
    "ov.fuel": "燃料能耗（标准煤）",
    "ov.co2": "CO₂ 减排（较燃煤）",
    "ov.co2.unit": "吨",
    "ov.tce": "吨标煤",
    "ov.history": "月度天然气企业占比与年终预测",
    "ov.projection": "年终预测",
    "rep.title": "月报下载",
    "rep.month": "月份",
    "rep.format": "格式",
    "rep.download": "下载月报",
    "rep.working": "正在生成…",
    "ov.ontrack": "按进度可达标",
    "ov.offtrack": "按进度难以达标",
    "ov.table": "不锈钢企业明细",
    "ov.active": "参与统计企业",
    "col.firm": "企业",
    "col.status": "状态",
    "col.fraction": "燃气占比",
    "col.gas": "天然气 m³",
    "col.coal": "煤 kg",
    "col.avoided": "CO₂ 减排 t",
    "status.gas": "燃气",
    "status.mixed": "混烧",
    "status.coal": "燃煤",
    "status.idle": "停产",
    "status.unknown": "数据不足",
    "fuel.gas": "天然气",
    "fuel.coal": "煤",
    "al.title": "告警",
    "al.filter.open": "未处理",
    "al.filter.acknowledged": "已确认",
    "al.filter.resolved": "已解决",
    "al.filter.all": "全部",
    "al.ack": "确认",
    "al.resolve": "解决",
    "al.comment": "处理意见（必填）",
    "al.submit": "提交",
    "al.cancel": "取消",
    "al.done.ack": "已确认告警",
    "al.done.resolve": "已解决告警",
    "al.empty": "没有符合条件的告警",
    "al.value": "测值",
    "al.limit": "限值",
    "al.spike.threshold": "冲击阈值（{factor} 倍限值）",
    "al.by": "处理人",
    "al.new": "新告警事件",
    "state.open": "未处理",
    "state.acknowledged": "已确认",
    "state.resolved": "已解决",
    "pl.title": "企业",
    "pl.sector.stainless_steel": "不锈钢",
    "pl.sector.synthetic_leather": "合成革",
    "pl.sector.other": "其他",
    "pl.range": "时间范围",
    "pl.range.24h": "24 小时",
    "pl.range.7d": "7 天",
    "pl.range.30d": "30 天",
    "pl.usage": "燃料用量（天然气 m³ · 煤 kg）",
    "pl.usage.total": "区间合计",
    "pl.voc": "VOC 小时均值与排放限值",
    "pl.limit": "限值",
    "pl.exceed": "超标小时",
    "pl.invalid": "数据不足小时",
    "pl.emis": "本月 VOC 排放量（千克）与数据传输率",
    "pl.emis.plant": "本企业",
    "pl.emis.county": "全县",
    "pl.capture.sent": "传输率",
    "pl.capture.valid": "有效率",
    "pl.back": "返回企业列表",
    "pl.nometers": "该企业没有此类仪表",
    "fresh.through": "数据截至 {time}",
    "ov.blind": "所有企业数据不足，暂不计算占比",
    "fresh.loading": "数据仍在加载：正在接收补传/积压的数据（已到 {time}），{silent}/{meters} 块仪表尚未追上。指标和图表在加载完成前可能不完整，此期间不发离线告警。",
    "fresh.stalled": "数据接入中断：{silent}/{meters} 块仪表同时没有数据，且没有新数据写入（最新数据 {time}）。请检查 MQTT 代理、采集程序和 InfluxDB。",
    "fresh.none": "尚未收到任何数据。",
    "common.export": "导出 CSV",
    "common.exported": "已导出",
    "status.unknown.why": "数据不足：统计窗口内燃气表或煤计量有超过 20% 的时间没有数据，或企业缺少其中一种仪表；这类企业暂不判定燃料状态。",
    "al.since": "开始于",
    "al.late": "迟到数据",
    "al.late.why": "由补传的历史数据发现，不是新发生的情况",
    "al.firm": "企业",
    "al.event.raised": "新告警",
    "al.event.reopened": "告警再次出现",
    "ov.voc": "VOC 排放（今日）",
    "ov.voc.exceeding": "今日超标排口",
    "ov.voc.valid": "今日有效数据率",
    "ov.voc.valid.why": "有效小时 ÷ 已结束的运行小时（停运小时不计）；有效小时需至少 45 分钟有效（N 标记）数据（HJ 212-2017 附录 D）",
    "ov.voc.month": "本月 VOCs 排放量（非甲烷总烃计）",
    "ov.voc.month.why": "各排口有效小时的排放速率（kg/h）之和，本月至今",
    "ov.voc.none": "今日没有超标排口",
    "ov.voc.stacks": "{n} 个排口",
    "ov.voc.hours": "{n} 小时超标",
    "ov.voc.firms": "家合成革企业",
    "col.through": "数据截至",
    "col.meters": "仪表在线",
    "pl.meters": "仪表状态与最新读数",
    "pl.meter": "仪表",
    "pl.kind": "类型",
    "pl.state": "状态",
    "pl.last": "最后读数时间",
    "pl.values": "最新读数",
    "pl.online": "在线",
    "pl.offline": "离线",
    "pl.never": "从未上报",
    "pl.online.count": "{n}/{m} 在线",
    "pl.invalid.why": "数据不足小时：该小时有效分钟数少于 45（HJ 212-2017 附录 D），不判定达标或超标；图中以灰色标出。",
    "pl.gap": "无数据",
    "pl.usage.axes": "左轴：天然气 m³；右轴：煤 kg",
    "flag.N": "正常",
    "flag.F": "停运",
    "flag.M": "维护",
    "flag.S": "手工",
    "flag.D": "故障",
    "flag.C": "校准",
    "flag.T": "超量程",
    "flag.B": "通讯异常",
    "val.volume_m3": "累计气量",
    "val.flow_m3h": "流量",
    "val.mass_kg": "累计煤量",
    "val.rate_kgh": "给煤速率",
    "val.energy_kwh": "累计电量",
    "val.temp_c": "温度",
    "val.pressure_kpa": "压力",
    "val.humidity_pct": "湿度",
    "val.o2_pct": "含氧量",
    "chart.nodata": "无数据",
  },
  en: {
    "app.title": "Songyang Energy & Emissions",
    "app.subtitle": "Coal-to-gas · VOC monitoring",
    "nav.overview": "Overview",
    "nav.alerts": "Alerts",
    "nav.plants": "Plants",
    "live.on": "Live",
    "live.off": "Offline",
    "live.absent": "No live stream",
    "key.title": "Enter your API key",
    "key.help": "Issued by the administrator; kept only in this tab until it is closed.",
    "key.save": "Save",
    "key.change": "API key",
    "key.invalid": "Key refused (unknown or not allowed). Please enter it again.",
    "footer.source": "Data: plantwatch API (InfluxDB). Definitions in the",
    "footer.api": "API docs",
    "common.loading": "Loading…",
    "common.error": "Could not load",
    "common.unavailable": "This endpoint is not available yet",
    "common.none": "No data",
    "common.updated": "Updated",
    "chart.time": "Time",
    "pl.kpi": "Coal-to-gas figures (last {days} days)",
    "pl.kpi.fraction": "Gas fraction",
    "pl.kpi.gas": "Gas m³",
    "pl.kpi.coal": "Coal kg",
    "pl.kpi.avoided": "CO₂ avoided t",
    "pl.range.fraction": "gas fraction in range",
    "ov.share": "Gas share of firms",
    "ov.share.scope": "stainless-steel firms · last {days} days",
    "ov.goal": "Goal",
    "ov.met": "{goal} goal met",
    "ov.needed": "{n} more firms must switch to gas",
    "ov.upper": "If every firm lacking data were on gas: {upper}",
    "ov.firms": "firms",
    "ov.status": "Firms by status",
    "ov.fuel": "Fuel energy (standard coal)",
    "ov.co2": "CO₂ avoided (vs coal)",
    "ov.co2.unit": "t",
    "ov.tce": "tce",
    "ov.history": "Monthly gas share and year-end projection",
    "ov.projection": "Year-end projection",
    "rep.title": "Monthly report",
    "rep.month": "Month",
    "rep.format": "Format",
    "rep.download": "Download report",
    "rep.working": "Generating…",
    "ov.ontrack": "On track",
    "ov.offtrack": "Off track",
    "ov.table": "Stainless-steel firms",
    "ov.active": "Firms counted",
    "col.firm": "Firm",
    "col.status": "Status",
    "col.fraction": "Gas fraction",
    "col.gas": "Gas m³",
    "col.coal": "Coal kg",
    "col.avoided": "CO₂ avoided t",
    "status.gas": "Gas",
    "status.mixed": "Mixed",
    "status.coal": "Coal",
    "status.idle": "Idle",
    "status.unknown": "Unknown",
    "fuel.gas": "Gas",
    "fuel.coal": "Coal",
    "al.title": "Alerts",
    "al.filter.open": "Open",
    "al.filter.acknowledged": "Acknowledged",
    "al.filter.resolved": "Resolved",
    "al.filter.all": "All",
    "al.ack": "Acknowledge",
    "al.resolve": "Resolve",
    "al.comment": "Comment (required)",
    "al.submit": "Submit",
    "al.cancel": "Cancel",
    "al.done.ack": "Alert acknowledged",
    "al.done.resolve": "Alert resolved",
    "al.empty": "No alerts match",
    "al.value": "Value",
    "al.limit": "Limit",
    "al.spike.threshold": "Spike threshold ({factor} × limit)",
    "al.by": "By",
    "al.new": "New alert event",
    "state.open": "Open",
    "state.acknowledged": "Acknowledged",
    "state.resolved": "Resolved",
    "pl.title": "Plants",
    "pl.sector.stainless_steel": "Stainless steel",
    "pl.sector.synthetic_leather": "Synthetic leather",
    "pl.sector.other": "Other",
    "pl.range": "Range",
    "pl.range.24h": "24 h",
    "pl.range.7d": "7 days",
    "pl.range.30d": "30 days",
    "pl.usage": "Fuel use (gas m³ · coal kg)",
    "pl.usage.total": "Total in range",
    "pl.voc": "VOC hourly means against limits",
    "pl.limit": "Limit",
    "pl.exceed": "Hours above limit",
    "pl.invalid": "Hours with insufficient data",
    "pl.emis": "VOC emission this month (kg) and data capture",
    "pl.emis.plant": "This firm",
    "pl.emis.county": "County",
    "pl.capture.sent": "Transmitted",
    "pl.capture.valid": "Valid",
    "pl.back": "Back to plants",
    "pl.nometers": "No such meters at this plant",
    "fresh.through": "Data through {time}",
    "ov.blind": "No firm has enough data yet: no share computed",
    "fresh.loading": "Data still loading: backfilled or queued readings are arriving (through {time}); {silent} of {meters} meters have not caught up. Figures and charts may be incomplete until then; no offline alerts meanwhile.",
    "fresh.stalled": "Data ingest stalled: {silent} of {meters} meters silent together and nothing new written (newest data {time}). Check the MQTT broker, the collectors and InfluxDB.",
    "fresh.none": "No data received yet.",
    "common.export": "Export CSV",
    "common.exported": "Exported",
    "status.unknown.why": "Insufficient data: a gas or coal meter was silent for over 20% of the window, or the firm lacks one of them; its fuel status is not judged.",
    "al.since": "since",
    "al.late": "late data",
    "al.late.why": "found in backfilled past data, not something new",
    "al.firm": "Firm",
    "al.event.raised": "New alert",
    "al.event.reopened": "Alert back",
    "ov.voc": "VOC emissions (today)",
    "ov.voc.exceeding": "Stacks exceeding today",
    "ov.voc.valid": "Valid-data rate today",
    "ov.voc.valid.why": "valid hours ÷ ended running hours (stopped hours left out); a valid hour needs 45 valid (flag N) minutes (HJ 212-2017 Appendix D)",
    "ov.voc.month": "VOCs emitted this month (as NMHC)",
    "ov.voc.month.why": "sum of the stacks' emission rates (kg/h) over valid hours, month to date",
    "ov.voc.none": "No stack above its limit today",
    "ov.voc.stacks": "{n} stacks",
    "ov.voc.hours": "{n} h above limit",
    "ov.voc.firms": "synthetic-leather firms",
    "col.through": "Data through",
    "col.meters": "Meters online",
    "pl.meters": "Meters and latest readings",
    "pl.meter": "Meter",
    "pl.kind": "Kind",
    "pl.state": "State",
    "pl.last": "Last reading",
    "pl.values": "Latest values",
    "pl.online": "Online",
    "pl.offline": "Offline",
    "pl.never": "Never reported",
    "pl.online.count": "{n}/{m} online",
    "pl.invalid.why": "Insufficient-data hours have fewer than 45 valid minutes (HJ 212-2017 Appendix D) and are judged neither compliant nor exceeding; grey on the charts.",
    "pl.gap": "No data",
    "pl.usage.axes": "Left axis: gas m³; right axis: coal kg",
    "flag.N": "normal",
    "flag.F": "stopped",
    "flag.M": "maintenance",
    "flag.S": "manual",
    "flag.D": "fault",
    "flag.C": "calibrating",
    "flag.T": "over range",
    "flag.B": "comm. fault",
    "val.volume_m3": "Gas register",
    "val.flow_m3h": "Flow",
    "val.mass_kg": "Coal register",
    "val.rate_kgh": "Feed rate",
    "val.energy_kwh": "Power register",
    "val.temp_c": "Temperature",
    "val.pressure_kpa": "Pressure",
    "val.humidity_pct": "Humidity",
    "val.o2_pct": "O₂",
    "chart.nodata": "No data",
  },
};

const LANG_KEY = "plantwatch.lang";
let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh";

export function getLang() {
  return lang;
}

export function setLang(next) {
  lang = next === "en" ? "en" : "zh";
  localStorage.setItem(LANG_KEY, lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

/** The label for `key`, with `{name}` placeholders filled from `vars`; the key itself if unknown. */
export function t(key, vars = {}) {
  const text = DICT[lang][key] ?? DICT.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/**
 * Names the API serves (`GET /api/v1/labels`: alert kinds, meter kinds, pollutants), merged
 * under their prefixes (`kind.meter_offline`, `poll.dmf_mgm3`): the page names them with the
 * words the notifications and reports use (api/alerts/texts.py), not a copy of its own.
 */
export function addLabels(doc) {
  for (const [language, byPrefix] of Object.entries(doc ?? {})) {
    if (!DICT[language]) continue;
    for (const [prefix, names] of Object.entries(byPrefix)) {
      for (const [code, text] of Object.entries(names)) DICT[language][`${prefix}.${code}`] = text;
    }
  }
}

/** Label for a code with a prefix (`status.gas`), falling back to the code itself. */
export function label(prefix, code) {
  const key = `${prefix}.${code}`;
  return DICT[lang][key] ?? DICT.zh[key] ?? code;
}

export function applyStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  document.title = `${t("app.title")} · plantwatch`;
}

function locale() {
  return lang === "zh" ? "zh-CN" : "en-GB";
}

export function fmtNumber(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString(locale(), {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** A fraction as a percentage with one decimal: 0.375 -> "37.5%". */
export function fmtPct(fraction, digits = 1) {
  if (fraction === null || fraction === undefined || Number.isNaN(fraction)) return "–";
  return `${(fraction * 100).toFixed(digits)}%`;
}

// The county's time zone, as the API states it (`timezone` of `/plants`, from settings);
// until the first answer, the browser's own.
let zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

export function setTimeZone(name) {
  if (name) zone = name;
}

export function timeZone() {
  return zone;
}

const MONTHS_EN = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** County-local time with its date, as the API's texts write it: "11月28日 14:03" / "28 Nov 14:03". */
export function fmtWhen(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "–";
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone,
    month: "numeric",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date(ms));
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
  const clock = `${p.hour}:${p.minute}`;
  return lang === "zh" ? `${Number(p.month)}月${Number(p.day)}日 ${clock}` : `${Number(p.day)} ${MONTHS_EN[Number(p.month) - 1]} ${clock}`;
}

export function fmtTime(ms, withDate = true) {
  if (!ms) return "–";
  const opts = { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: zone };
  if (withDate) Object.assign(opts, { month: "2-digit", day: "2-digit" });
  return new Date(ms).toLocaleString(locale(), opts);
}
