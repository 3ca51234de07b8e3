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
    "key.help": "密钥由系统管理员发放，只保存在本浏览器中。",
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
    "al.by": "处理人",
    "al.new": "新告警事件",
    "state.open": "未处理",
    "state.acknowledged": "已确认",
    "state.resolved": "已解决",
    "kind.voc_hourly_exceedance": "VOC 小时均值超标",
    "kind.voc_spike": "VOC 瞬时值超 2 倍限值",
    "kind.voc_dark_after_exceedance": "VOC 超标后无有效数据",
    "kind.meter_offline": "仪表离线",
    "kind.sensor_stuck": "传感器数值不变",
    "kind.coal_after_conversion": "改气后又用煤",
    "kind.gas_share_off_track": "天然气占比进度滞后",
    "pl.title": "企业",
    "pl.sector.stainless_steel": "不锈钢",
    "pl.sector.synthetic_leather": "合成革",
    "pl.sector.other": "其他",
    "pl.range": "时间范围",
    "pl.usage": "燃料用量（千克标准煤）",
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
    "poll.nmhc_mgm3": "非甲烷总烃",
    "poll.thc_mgm3": "总烃",
    "poll.dmf_mgm3": "DMF",
    "poll.benzene_mgm3": "苯",
    "poll.toluene_mgm3": "甲苯",
    "poll.xylene_mgm3": "二甲苯",
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
    "key.help": "Issued by the administrator; kept only in this browser.",
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
    "al.by": "By",
    "al.new": "New alert event",
    "state.open": "Open",
    "state.acknowledged": "Acknowledged",
    "state.resolved": "Resolved",
    "kind.voc_hourly_exceedance": "VOC hourly mean above limit",
    "kind.voc_spike": "VOC reading above twice the limit",
    "kind.voc_dark_after_exceedance": "VOC stack went dark after an exceedance",
    "kind.meter_offline": "Meter offline",
    "kind.sensor_stuck": "Sensor stuck",
    "kind.coal_after_conversion": "Coal burnt after conversion",
    "kind.gas_share_off_track": "Gas share off track",
    "pl.title": "Plants",
    "pl.sector.stainless_steel": "Stainless steel",
    "pl.sector.synthetic_leather": "Synthetic leather",
    "pl.sector.other": "Other",
    "pl.range": "Range",
    "pl.usage": "Fuel use (kg of standard coal)",
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
    "poll.nmhc_mgm3": "NMHC",
    "poll.thc_mgm3": "THC",
    "poll.dmf_mgm3": "DMF",
    "poll.benzene_mgm3": "Benzene",
    "poll.toluene_mgm3": "Toluene",
    "poll.xylene_mgm3": "Xylene",
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

export function fmtTime(ms, withDate = true) {
  if (!ms) return "–";
  const opts = { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: zone };
  if (withDate) Object.assign(opts, { month: "2-digit", day: "2-digit" });
  return new Date(ms).toLocaleString(locale(), opts);
}
