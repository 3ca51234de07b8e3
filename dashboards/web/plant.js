// Plants list and one plant's page: fuel use per interval, VOC hourly means against limits.

import {
  ApiError,
  get,
  normalizeLines,
  normalizePlants,
  normalizeUsage,
  normalizeVoc,
  toMs,
} from "./api.js";
import { powerChart, usageChart, vocChart } from "./charts.js";
import { loadRevisions } from "./revisions.js";
import { $, esc, exportButton, placeholder, track, wireExports } from "./dom.js";
import { fmtNumber, fmtPct, fmtWhen, getLang, label, setTimeZone, t } from "./i18n.js";

const RANGES = { "24h": [24, "1h"], "7d": [168, "1h"], "30d": [720, "1d"] };
const POLLUTANT_ORDER = ["nmhc_mgm3", "dmf_mgm3", "benzene_mgm3", "toluene_mgm3", "xylene_mgm3", "thc_mgm3"];
let range = "7d";
// The county's ingest state as `/plants` last said it (`ingest.state`: normal, loading, stalled).
let countyState = null;

/** Registry plants with live status, and the county's ingest state, from `/plants`. */
export async function loadPlants() {
  const doc = await get("/plants");
  setTimeZone(doc.timezone); // the page's local time is the county's (settings)
  countyState = doc.ingest?.state ?? null;
  return { plants: normalizePlants(doc), ingest: doc.ingest };
}

/**
 * While the county is `loading` (a back-fill or catch-up is being written: the API's rule,
 * `api.alerts.rules.ingest_state`, which also holds back per-meter offline alerts then), a
 * meter behind is catching up, not offline: the page says so instead of a red chip.
 */
function catchingUp() {
  return countyState === "loading";
}

/** A meter's state word: never reported, online, catching up (it is delivering a back-fill,
 * `catching_up` from the API, or the whole county is loading) or offline. */
function meterState(m) {
  if (m.last_reading === null) return "never";
  if (m.reporting) return "online";
  return m.catching_up || catchingUp() ? "catchup" : "offline";
}

/** "2/2 在线" for a plant's meters, coloured: all on, catching up (county loading), none, some. */
function onlineChip(p) {
  const total = p.meters.length;
  if (!total || p.metersReporting === null) return "";
  const behind = p.metersReporting < total;
  const state = !behind ? "on" : catchingUp() ? "catchup" : p.metersReporting === 0 ? "off" : "partial";
  return `<span class="chip online-${state}" data-testid="online">${esc(t("pl.online.count", { n: p.metersReporting, m: total }))}</span>`;
}

/** The value names a list shows for a meter kind (the rest are on the plant's page). */
const HEADLINE = { gas: ["flow_m3h", "volume_m3"], coal: ["rate_kgh", "mass_kg"], electricity: ["power_kw", "energy_kwh"], voc: ["nmhc_mgm3", "dmf_mgm3"] };

// An hourly packet's statistics of a value (HJ 212 -Max/-Min/-Avg, stored as name_max ...).
const STATISTIC = /^(.+)_(max|min|avg)$/;

/** "DMF（小时最大） 13.7 mg/m³": the value's label, its statistic if any, the number, the unit. */
function valueText(name, value, units) {
  const stat = STATISTIC.exec(name);
  const base = stat ? stat[1] : name;
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  const what = label(base.endsWith("_mgm3") ? "poll" : "val", base);
  const suffix = stat ? t(`stat.${stat[2]}`) : "";
  const unit = units[name] ?? units[base] ?? "";
  return `${what}${suffix} ${fmtNumber(value, digits)} ${unit}`.trim();
}

function headline(meter) {
  const latest = meter.latest;
  if (!latest) return "";
  const names = (HEADLINE[meter.kind] ?? []).filter((n) => n in latest.values);
  return names.map((n) => valueText(n, latest.values[n], latest.units)).join(" · ");
}

export async function renderPlants(root, plants) {
  const sectors = ["stainless_steel", "synthetic_leather", "other"];
  const cards = sectors
    .map((sector) => {
      const list = plants.filter((p) => p.sector === sector);
      if (!list.length) return "";
      return `
        <section class="card">
          <h2>${esc(label("pl.sector", sector))} <span class="muted">(${list.length})</span></h2>
          <div class="plant-grid">${list
            .map(
              (p) => `<a class="plant-link" href="#/plant/${encodeURIComponent(p.id)}" data-plant="${esc(p.id)}">
                <b>${esc(p.name)}</b>
                <span class="plant-meta">${onlineChip(p)}<span class="muted small">${esc(t("fresh.through", { time: fmtWhen(p.dataThrough) }))}</span></span>
                ${p.meters
                  .map((m) => headline(m))
                  .filter(Boolean)
                  .map((line) => `<span class="small latest">${esc(line)}</span>`)
                  .join("")}
              </a>`,
            )
            .join("")}</div>
        </section>`;
    })
    .join("");
  root.innerHTML = `
    <div class="page-tools">${exportButton("/plants?format=csv", "plants.csv")}</div>
    ${cards || `<section class="card">${placeholder(t("common.none"))}</section>`}`;
  wireExports(root);
}

/** The plant's meters: online or not, last reading (local time), latest values with units. */
function metersTable(plant) {
  const rows = plant.meters
    .map((m) => {
      const state = meterState(m);
      const latest = m.latest;
      const values = latest
        ? Object.entries(latest.values)
            .map(([name, value]) => {
              const flag = latest.flags[name];
              const flagText = flag && flag !== "N" ? ` <span class="chip flag" title="${esc(flag)}">${esc(label("flag", flag))}</span>` : "";
              return `<span class="value">${esc(valueText(name, value, latest.units))}${flagText}</span>`;
            })
            .join("")
        : `<span class="muted">–</span>`;
      return `
        <tr data-meter="${esc(m.id)}" data-state="${state}">
          <td><b>${esc(m.id)}</b></td>
          <td>${esc(label("kind", m.kind))}</td>
          <td><span class="chip meter-${state}">${esc(t(`pl.${state}`))}</span></td>
          <td class="nowrap">${esc(fmtWhen(toMs(m.last_reading)))}</td>
          <td class="values">${values}</td>
        </tr>`;
    })
    .join("");
  return `
    <table class="table" data-testid="meters">
      <thead><tr><th>${esc(t("pl.meter"))}</th><th>${esc(t("pl.kind"))}</th><th>${esc(t("pl.state"))}</th>
        <th>${esc(t("pl.last"))}</th><th>${esc(t("pl.values"))}</th></tr></thead>
      <tbody>${rows}</tbody>
    </table>`;
}

export async function renderPlant(root, plantId, plants) {
  const known = plants.find((p) => p.id === plantId);
  let plant = known;
  try {
    const doc = await get(`/plants/${encodeURIComponent(plantId)}`);
    setTimeZone(doc.timezone);
    [plant] = normalizePlants({ plants: [doc] });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw err;
    if (!plant) {
      root.innerHTML = `<section class="card">${placeholder(`${t("common.error")}: ${err.message}`, "error")}</section>`;
      return;
    }
  }
  const id = encodeURIComponent(plantId);
  const sector = plant.sector;
  root.innerHTML = `
    <section class="card plant-head">
      <div>
        <a href="#/plants" class="muted small">← ${esc(t("pl.back"))}</a>
        <h1 data-testid="plant-name">${esc(plant.name)}</h1>
        <div class="muted">${esc(label("pl.sector", sector))} · ${onlineChip(plant)}
          <span data-testid="plant-through">${esc(t("fresh.through", { time: fmtWhen(plant.dataThrough) }))}</span></div>
      </div>
      <div class="segmented" aria-label="${esc(t("pl.range"))}">${Object.keys(RANGES)
        .map((r) => `<button type="button" data-range="${r}" class="${r === range ? "active" : ""}">${esc(t(`pl.range.${r}`))}</button>`)
        .join("")}</div>
    </section>
    <section class="card" id="meters-card">
      <div class="card-head"><h2>${esc(t("pl.meters"))}</h2>${exportButton(`/plants/${id}/latest?format=csv`, `latest-${plantId}.csv`)}</div>
      <div class="table-wrap">${metersTable(plant)}</div>
    </section>
    <section class="card" id="plant-kpi" hidden></section>
    <section class="card" id="usage-card">
      <div class="card-head"><h2>${esc(t("pl.usage"))}</h2><span id="usage-export"></span></div>
      <div id="usage-total" class="muted small"></div>
      <div class="chart" id="usage-chart" data-testid="usage-chart">${placeholder(t("common.loading"))}</div>
      <div class="muted small">${esc(t("pl.usage.axes"))}</div>
    </section>
    <section class="card" id="power-card" hidden>
      <h2>${esc(t("pl.power"))}</h2>
      <p class="muted small note">${esc(t("pl.power.why"))}</p>
      <div id="power-lines" data-testid="power-lines"></div>
    </section>
    <section class="card" id="voc-card">
      <h2>${esc(t("pl.voc"))}</h2>
      <p class="muted small note" data-testid="invalid-why">${esc(t("pl.invalid.why"))}</p>
      <div class="voc-grid" id="voc-charts" data-testid="voc-charts">${placeholder(t("common.loading"))}</div>
    </section>
    <section class="card" id="revisions-card" hidden>
      <h2>${esc(t("rv.title"))}</h2>
      <div id="revisions" data-testid="revisions-card"></div>
    </section>
    <section class="card" id="voc-month-card" hidden>
      <h2>${esc(t("pl.emis"))}</h2>
      <div id="voc-month" data-testid="voc-month"></div>
    </section>`;
  wireExports(root);
  for (const button of root.querySelectorAll("[data-range]")) {
    button.addEventListener("click", () => {
      range = button.dataset.range;
      track(() => renderPlant(root, plantId, plants));
    });
  }
  const [hours, every] = RANGES[range];
  const end = new Date();
  const start = new Date(end.getTime() - hours * 3600 * 1000);
  const span = `start=${encodeURIComponent(start.toISOString())}&end=${encodeURIComponent(end.toISOString())}`;
  await Promise.all([
    loadKpiRow(root, plantId, sector),
    loadUsage(root, plantId, `${span}&every=${every}`, sector),
    loadVoc(root, plantId, span, sector),
    loadLines(root, plantId, span, plant),
    loadVocMonth(root, plantId, sector),
    loadRevisions(root, plantId),
  ]);
}

/** This month's VOC emission (plant and county, kg; the API's totals) and data capture. */
async function loadVocMonth(root, plantId, sector) {
  if (sector !== "synthetic_leather") return;
  const path = `/plants/${encodeURIComponent(plantId)}/voc`;
  const optional = (p) => get(p).catch((err) => {
    if (err instanceof ApiError && err.status === 401) throw err;
    return null; // a plant key may not read the county total
  });
  const [plant, county, capture] = await Promise.all([
    optional(`${path}/emissions?period=month`),
    optional("/voc/emissions?period=month"),
    optional(`${path}/capture?period=month`),
  ]);
  if (!plant) return;
  const present = new Set((plant.plants ?? []).map((r) => r.pollutant));
  const rows = POLLUTANT_ORDER.filter((p) => present.has(p)).map((pollutant) => {
    const kg = (list) => (list ?? []).filter((r) => r.pollutant === pollutant).reduce((a, r) => a + r.emission_kg, 0);
    const cap = (capture?.capture ?? []).filter((r) => r.pollutant === pollutant);
    const share = (key) => (cap.length ? Math.min(...cap.map((r) => r[key] ?? 0)) : null);
    return `<tr><td>${esc(label("poll", pollutant))}</td>
      <td class="num">${esc(fmtNumber(kg(plant.plants), 2))}</td>
      <td class="num" data-testid="county-emission">${county ? esc(fmtNumber(kg(county.totals), 2)) : "–"}</td>
      <td class="num">${esc(fmtPct(share("transmitted_share")))}</td>
      <td class="num">${esc(fmtPct(share("valid_share")))}</td></tr>`;
  });
  $("#voc-month", root).innerHTML = `<table class="table small"><thead><tr><th></th>
    <th>${esc(t("pl.emis.plant"))}</th><th>${esc(t("pl.emis.county"))}</th>
    <th>${esc(t("pl.capture.sent"))}</th><th>${esc(t("pl.capture.valid"))}</th></tr></thead>
    <tbody>${rows.join("")}</tbody></table>`;
  $("#voc-month-card", root).hidden = false;
}

function unavailable(err) {
  if (err instanceof ApiError && err.status === 401) throw err;
  return err instanceof ApiError && err.status === 404 && /not found/i.test(err.message) ? t("common.unavailable") : `${t("common.error")}: ${err.message}`;
}

/** The firm's row of the coal-to-gas KPI (stainless-steel firms only). */
async function loadKpiRow(root, plantId, sector) {
  if (sector !== "stainless_steel") return;
  let kpi;
  try {
    kpi = await get("/kpi/gas-share");
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw err;
    return;
  }
  const row = kpi.rows.find((r) => r.plant === plantId);
  if (!row) return;
  const el = $("#plant-kpi", root);
  const figures = [
    ["pl.kpi.fraction", row.gas_fraction === null ? "–" : fmtPct(row.gas_fraction)],
    ["pl.kpi.gas", fmtNumber(row.gas_m3)],
    ["pl.kpi.coal", fmtNumber(row.coal_kg)],
    ["pl.kpi.avoided", fmtNumber(row.co2_avoided_kg / 1000, 1)],
  ];
  // The API's reason is an English sentence; Chinese readers get the status explained.
  const why = row.status === "unknown" ? t("status.unknown.why") : getLang() === "en" ? row.reason : "";
  el.innerHTML = `
    <h2>${esc(t("pl.kpi", { days: Math.round(kpi.window_days) }))}
      <span class="chip status-${esc(row.status)}" data-testid="plant-status">${esc(label("status", row.status))}</span></h2>
    <div class="figures">${figures
      .map(([key, value]) => `<div class="figure"><div class="figure-value">${esc(value)}</div><div class="muted small">${esc(t(key))}</div></div>`)
      .join("")}</div>
    ${why ? `<div class="muted small" data-testid="kpi-why">${esc(why)}</div>` : ""}`;
  el.hidden = false;
}

async function loadUsage(root, plantId, query, sector) {
  const el = $("#usage-chart", root);
  if (sector === "synthetic_leather") {
    $("#usage-card", root).hidden = true;
    return;
  }
  let usage;
  try {
    usage = normalizeUsage(await get(`/plants/${encodeURIComponent(plantId)}/usage?${query}`));
  } catch (err) {
    el.innerHTML = placeholder(unavailable(err));
    return;
  }
  const { rows, totals } = usage;
  if (!rows.length) {
    el.innerHTML = placeholder(t("common.none"));
    return;
  }
  $("#usage-export", root).innerHTML = exportButton(`/plants/${encodeURIComponent(plantId)}/usage?${query}&format=csv`, `usage-${plantId}.csv`);
  wireExports($("#usage-card", root));
  $("#usage-total", root).innerHTML = `${esc(t("pl.usage.total"))}: <b>${esc(fmtNumber(totals.gas_m3))}</b> m³ ${esc(
    label("fuel", "gas"),
  )} · <b>${esc(fmtNumber(totals.coal_kg))}</b> kg ${esc(label("fuel", "coal"))} · <b>${esc(fmtNumber(totals.kgce / 1000, 2))}</b> ${esc(t("ov.tce"))} · ${esc(
    t("pl.range.fraction"),
  )} <b>${esc(fmtPct(totals.gas_fraction))}</b>`;
  usageChart(el, rows, { gas: `${label("fuel", "gas")} m³`, coal: `${label("fuel", "coal")} kg`, gap: t("pl.gap") });
}

/** Per line: production and treatment power side by side, out-of-sync quarter hours in red. */
async function loadLines(root, plantId, query, plant) {
  if (!plant.meters.some((m) => m.kind === "electricity")) return;
  let lines;
  try {
    lines = normalizeLines(await get(`/plants/${encodeURIComponent(plantId)}/lines?${query}`));
  } catch (err) {
    return;
  }
  if (!lines.length) return;
  const card = $("#power-card", root);
  card.hidden = false;
  const el = $("#power-lines", card);
  el.innerHTML = lines
    .map(
      (l, i) => `
      <div class="power-line ${l.outOfSyncMinutes ? "has-exceed" : ""}" data-line="${esc(l.line)}">
        <div class="voc-head">
          <b>${esc(t("pl.power.line", { line: l.line }))}</b>
          <span class="muted small">${esc(t("pl.power.rated", { prod: fmtNumber(l.productionRated ?? NaN, 1), treat: fmtNumber(l.treatmentRated ?? NaN, 1) }))}</span>
          <span class="${l.outOfSyncMinutes ? "bad" : "muted"} small" data-testid="oos-minutes">${esc(t("pl.power.oos", { minutes: fmtNumber(l.outOfSyncMinutes) }))}</span>
        </div>
        <div class="chart" id="power-chart-${i}" data-testid="power-chart"></div>
        <div class="muted small">${l.periods.map((p) => esc(`${fmtWhen(p.start)}–${fmtWhen(p.end).slice(-5)}`)).join(" · ")}</div>
      </div>`,
    )
    .join("");
  lines.forEach((l, i) =>
    powerChart($(`#power-chart-${i}`, el), l, { production: t("pl.power.prod"), treatment: t("pl.power.treat"), outOfSync: t("pl.power.band") }),
  );
}

async function loadVoc(root, plantId, query, sector) {
  const el = $("#voc-charts", root);
  if (sector === "stainless_steel") {
    $("#voc-card", root).hidden = true;
    return;
  }
  let series;
  try {
    series = normalizeVoc(await get(`/plants/${encodeURIComponent(plantId)}/voc?${query}`));
  } catch (err) {
    el.innerHTML = placeholder(unavailable(err));
    return;
  }
  const list = series.sort(
    (a, b) => a.meter.localeCompare(b.meter) || POLLUTANT_ORDER.indexOf(a.pollutant) - POLLUTANT_ORDER.indexOf(b.pollutant),
  );
  if (!list.length) {
    el.innerHTML = placeholder(t("common.none"));
    return;
  }
  el.innerHTML = list
    .map((s, i) => {
      const exceed = s.exceeding;
      const invalid = s.insufficient;
      const late = s.hours.filter((h) => h.late).length;
      return `
      <div class="voc-item ${exceed ? "has-exceed" : ""}">
        <div class="voc-head">
          <b>${esc(label("poll", s.pollutant))}</b><span class="muted small">${esc(label("kind", "voc"))} ${esc(s.meter)}</span>
          <span class="voc-limit" title="${esc(s.limitRule)}">${esc(t("pl.limit"))} ${esc(s.limit === null ? "–" : fmtNumber(s.limit, 1))} mg/m³ <span class="muted small">${esc(limitRuleText(s))}</span></span>
        </div>
        <div class="voc-stats small">
          <span class="${exceed ? "bad" : "muted"}">${esc(t("pl.exceed"))}: ${exceed}</span>
          <span class="muted">${esc(t("pl.invalid"))}: ${invalid}</span>
          ${late ? `<span class="late" data-testid="late-filled" title="${esc(t("pl.late.why"))}">${esc(t("pl.late"))}: ${late}</span>` : ""}
          ${s.marked ? `<span class="marked-count" data-testid="marked-hours">${esc(t("pl.marked"))}: ${s.marked}</span>` : ""}
        </div>
        <div class="chart" id="voc-chart-${i}" data-testid="voc-chart"></div>
      </div>`;
    })
    .join("");
  list.forEach((s, i) =>
    vocChart($(`#voc-chart-${i}`, root), s, { mean: `${label("poll", s.pollutant)} mg/m³`, exceed: t("pl.exceed"), limit: t("pl.limit"), gap: t("pl.invalid"), late: t("pl.late"), marked: t("pl.marked") }),
  );
}

/** Which rule produced a stack's limit, in the page's language (the API's `limit_rule` is English). */
function limitRuleText(s) {
  if (s.limitSource === "registry") return t("pl.rule.override");
  const text = t("pl.rule.table", { process: label("process", s.limitProcess) });
  return s.halved ? `${text}${t("pl.rule.halved")}` : text;
}
