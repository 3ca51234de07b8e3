// County overview: the coal-to-gas KPI against the goal, firms by status, fuel, CO2, history,
// and the VOC picture of the synthetic-leather firms.

import { ApiError, get, normalizeHistory, normalizeLines, toMs } from "./api.js";
import { shareHistoryChart } from "./charts.js";
import { $, applyWidths, esc, exportButton, placeholder, wireExports } from "./dom.js";
import { fmtNumber, fmtPct, fmtWhen, getLang, label, t } from "./i18n.js";
import { renderReportCard } from "./report.js";
import { loadVocMonth, loadVocToday } from "./vocsummary.js";

const STATUSES = ["gas", "mixed", "coal", "idle", "unknown"];

export async function renderOverview(root, plants = []) {
  root.innerHTML = `
    <section class="hero card" id="kpi" data-testid="kpi">${placeholder(t("common.loading"))}</section>
    <section class="card" id="counties" data-testid="counties" hidden>
      <h2>${esc(t("ov.counties"))}</h2><div class="body table-wrap"></div>
    </section>
    <section class="card" id="voc-summary" data-testid="voc-summary" data-state="loading">
      <h2>${esc(t("ov.voc"))}</h2><div class="body">${placeholder(t("common.loading"))}</div>
    </section>
    <section class="card" id="lines-today" data-testid="lines-today" hidden>
      <h2>${esc(t("ov.lines"))}</h2><div class="body"></div>
    </section>
    <section class="grid-3">
      <div class="card" id="status-card"><h2>${esc(t("ov.status"))}</h2><div class="body"></div></div>
      <div class="card" id="fuel-card"><h2>${esc(t("ov.fuel"))}</h2><div class="body"></div></div>
      <div class="card" id="co2-card"><h2>${esc(t("ov.co2"))}</h2><div class="body"></div></div>
    </section>
    <section class="card">
      <h2>${esc(t("ov.history"))}</h2>
      <div class="chart" id="history-chart" data-testid="history-chart">${placeholder(t("common.loading"))}</div>
    </section>
    <section class="card">
      <div class="card-head"><h2>${esc(t("ov.table"))}</h2>${exportButton("/kpi/gas-share?format=csv", "gas-share.csv")}</div>
      <div id="firms" class="table-wrap"></div>
    </section>
    <section class="card" id="report-card" data-testid="report-card"></section>`;
  wireExports(root);
  renderReportCard($("#report-card", root));
  // One after the other: the figures appear in reading order and the heavy answers
  // (the month's VOC) never starve the KPI of the store.
  const kpi = await loadKpi(root);
  if (kpi) await loadHistory(root, kpi.goal);
  // The page is ready without the VOC picture (50 answers): its card says when it is done.
  loadVocPicture($("#voc-summary", root), plants).catch(() => {});
  loadLinesToday($("#lines-today", root), plants).catch(() => {});
}

/** The county's lines out of sync today (production running, treatment not): firm, line, when. */
async function loadLinesToday(card, plants) {
  const lines = normalizeLines(await get("/lines"));
  if (!lines.length) return;
  card.hidden = false;
  const names = new Map(plants.map((p) => [p.id, p.name]));
  const out = lines.filter((l) => l.outOfSyncMinutes > 0);
  $(".body", card).innerHTML = out.length
    ? `<table class="table"><thead><tr><th>${esc(t("al.firm"))}</th><th>${esc(t("ov.lines.line"))}</th><th>${esc(t("ov.lines.when"))}</th><th>${esc(t("ov.lines.minutes"))}</th></tr></thead><tbody>${out
        .map(
          (l) => `<tr data-plant="${esc(l.plant)}"><td><a href="#/plant/${encodeURIComponent(l.plant)}">${esc(names.get(l.plant) ?? l.plant)}</a></td><td>${esc(l.line)}</td><td>${l.periods
            .map((p) => esc(`${fmtWhen(p.start)}–${fmtWhen(p.end).slice(-5)}`))
            .join("<br>")}</td><td class="num">${esc(fmtNumber(l.outOfSyncMinutes))}</td></tr>`,
        )
        .join("")}</tbody></table>`
    : placeholder(t("ov.lines.none", { n: lines.length }));
}

async function loadVocPicture(card, plants) {
  const voc = await loadVocToday($(".body", card), plants);
  await loadVocMonth(voc);
  card.dataset.state = "done";
}

async function loadKpi(root) {
  let kpi;
  try {
    kpi = await get("/kpi/gas-share");
  } catch (err) {
    $("#kpi", root).innerHTML = placeholder(`${t("common.error")}: ${err.message}`, "error");
    if (err instanceof ApiError && err.status === 401) throw err;
    return null;
  }
  renderHero($("#kpi", root), kpi);
  renderCounties($("#counties", root), kpi.counties ?? []);
  renderStatus($("#status-card .body", root), kpi);
  renderFuel($("#fuel-card .body", root), kpi.totals);
  renderCo2($("#co2-card .body", root), kpi);
  renderFirms($("#firms", root), kpi.rows, kpi.firm_data_through ?? {});
  applyWidths(root);
  return kpi;
}

function renderHero(el, kpi) {
  const share = kpi.share;
  const goal = kpi.goal;
  const met = Boolean(kpi.meets_goal);
  const days = Math.round(kpi.window_days ?? 30);
  const active = kpi.active_firms;
  // Every firm lacking data (e.g. while a backfill loads): a 0 % share would be a false alarm.
  const blind = kpi.firms > 0 && kpi.counts?.unknown === kpi.firms;
  el.dataset.state = blind ? "unknown" : met ? "met" : "behind";
  const chip = blind ? t("ov.blind") : met ? t("ov.met", { goal: fmtPct(goal, 0) }) : t("ov.needed", { n: kpi.firms_needed });
  el.innerHTML = `
    <div class="hero-figure">
      <div class="hero-label">${esc(t("ov.share"))}</div>
      <div class="hero-value" id="share-value" data-testid="share" data-share="${share ?? ""}">${esc(blind ? "–" : fmtPct(share))}</div>
      <div class="hero-scope">${esc(t("ov.share.scope", { days }))}</div>
    </div>
    <div class="hero-progress">
      <div class="goal-head">
        <span class="goal-chip ${blind ? "" : met ? "ok" : "warn"}" data-testid="goal-state">${esc(chip)}</span>
        <span class="muted">${esc(t("ov.active"))}: <b>${esc(active)}</b> / ${esc(kpi.firms)} ${esc(t("ov.firms"))}</span>
      </div>
      <div class="bar" role="img" aria-label="${esc(fmtPct(share))} / ${esc(fmtPct(goal, 0))}">
        <div class="bar-upper" data-width="${kpi.share_upper ?? 0}"></div>
        <div class="bar-fill ${met ? "ok" : "warn"}" data-width="${share ?? 0}"></div>
        <div class="bar-goal" data-left="${goal ?? 0}"><span>${esc(t("ov.goal"))} ${esc(fmtPct(goal, 0))}</span></div>
      </div>
      <div class="bar-scale"><span>0%</span><span>50%</span><span>100%</span></div>
      <div class="muted small">${esc(t("ov.upper", { upper: fmtPct(kpi.share_upper) }))} · ${esc(
        t("common.updated"),
      )} ${esc(fmtWhen(Date.parse(kpi.at)))}</div>
    </div>`;
}

/** A province key's counties, each against its own goal, as the API gives them (`counties`). */
function renderCounties(card, counties) {
  card.hidden = counties.length < 2;
  if (card.hidden) return;
  $(".body", card).innerHTML = `<table class="table"><thead><tr><th>${esc(t("ov.county"))}</th><th class="num">${esc(
    t("ov.share"),
  )}</th><th class="num">${esc(t("ov.goal"))}</th><th class="num">${esc(t("ov.active"))}</th><th>${esc(
    t("ov.county.state"),
  )}</th></tr></thead><tbody>${counties
    .map((c) => {
      const state = c.meets_goal ? t("ov.met", { goal: fmtPct(c.goal, 0) }) : t("ov.needed", { n: c.firms_needed });
      return `<tr data-county="${esc(c.id)}"><td>${esc(c.name)}</td><td class="num" data-share="${c.share ?? ""}">${esc(
        c.share === null ? "–" : fmtPct(c.share),
      )}</td><td class="num">${esc(fmtPct(c.goal, 0))}</td><td class="num">${esc(c.active_firms)} / ${esc(c.firms)}</td><td><span class="goal-chip ${
        c.meets_goal ? "ok" : "warn"
      }">${esc(state)}</span></td></tr>`;
    })
    .join("")}</tbody></table>`;
}

function renderStatus(el, kpi) {
  el.innerHTML = `<div class="status-tiles">${STATUSES.map(
    (s) => `
      <div class="tile status-${s}" data-testid="count-${s}">
        <div class="tile-value">${esc(kpi.counts?.[s] ?? 0)}</div>
        <div class="tile-label">${esc(label("status", s))}</div>
      </div>`,
  ).join("")}</div>
  ${kpi.counts?.unknown ? `<p class="muted small note" data-testid="unknown-why">${esc(t("status.unknown.why"))}</p>` : ""}`;
}

/** County fuel in tonnes of standard coal, split by the API's own gas fraction. */
function renderFuel(el, totals) {
  const gas = totals.gas_fraction;
  const coal = gas === null ? null : 1 - gas;
  el.innerHTML = `
    <div class="split-bar"><div class="gas" data-width="${gas ?? 0}"></div><div class="coal" data-width="${coal ?? 0}"></div></div>
    <div class="legend-rows">
      <div><span class="swatch gas"></span>${esc(label("fuel", "gas"))}<b data-testid="gas-tce">${esc(fmtNumber(totals.gas_kgce / 1000, 1))}</b> ${esc(t("ov.tce"))}<span class="muted">${esc(fmtPct(gas))}</span></div>
      <div><span class="swatch coal"></span>${esc(label("fuel", "coal"))}<b data-testid="coal-tce">${esc(fmtNumber(totals.coal_kgce / 1000, 1))}</b> ${esc(t("ov.tce"))}<span class="muted">${esc(fmtPct(coal))}</span></div>
    </div>`;
}

function renderCo2(el, kpi) {
  el.innerHTML = `
    <div class="big-number" data-testid="co2-avoided">${esc(fmtNumber(kpi.totals.co2_avoided_kg / 1000, 1))}<span class="unit">${esc(t("ov.co2.unit"))}</span></div>
    <div class="muted small">CO₂ · ${esc(t("ov.share.scope", { days: Math.round(kpi.window_days) }))}</div>`;
}

// `through`: the KPI's own per-firm freshness (its fuel meters), not the plant's (every meter,
// a power meter included): the table is the KPI's.
function renderFirms(el, rows, through) {
  const sorted = [...rows].sort((a, b) => (b.gas_fraction ?? -1) - (a.gas_fraction ?? -1));
  // The API's reason is an English sentence: Chinese readers get the status explained instead.
  const why = (r) => (r.status === "unknown" ? t("status.unknown.why") : getLang() === "en" ? r.reason : "");
  el.innerHTML = `
    <table class="table" data-testid="firms">
      <thead><tr>
        <th>${esc(t("col.firm"))}</th><th>${esc(t("col.status"))}</th><th class="w-frac">${esc(t("col.fraction"))}</th>
        <th class="num">${esc(t("col.gas"))}</th><th class="num">${esc(t("col.coal"))}</th><th class="num">${esc(t("col.avoided"))}</th>
        <th>${esc(t("col.through"))}</th>
      </tr></thead>
      <tbody>${sorted
        .map(
          (r) => `
        <tr data-plant="${esc(r.plant)}">
          <td><a href="#/plant/${encodeURIComponent(r.plant)}">${esc(r.name)}</a></td>
          <td><span class="chip status-${esc(r.status)}" title="${esc(why(r))}">${esc(label("status", r.status))}</span></td>
          <td class="w-frac">${
            r.gas_fraction === null
              ? `<span class="muted">–</span>`
              : `<div class="mini-bar"><div data-width="${r.gas_fraction}"></div></div><span class="small">${esc(fmtPct(r.gas_fraction))}</span>`
          }</td>
          <td class="num">${esc(fmtNumber(r.gas_m3))}</td>
          <td class="num">${esc(fmtNumber(r.coal_kg))}</td>
          <td class="num">${esc(fmtNumber(r.co2_avoided_kg / 1000, 1))}</td>
          <td class="nowrap small" data-testid="firm-through" data-ms="${toMs(through[r.plant]) ?? ""}">${esc(
            fmtWhen(toMs(through[r.plant])),
          )}</td>
        </tr>`,
        )
        .join("")}</tbody>
    </table>`;
}

async function loadHistory(root, goal) {
  const el = $("#history-chart", root);
  let history;
  try {
    history = normalizeHistory(await get("/kpi/gas-share/history"));
  } catch (err) {
    const text = err instanceof ApiError && err.status === 404 ? t("common.unavailable") : `${t("common.error")}: ${err.message}`;
    el.innerHTML = placeholder(text);
    return;
  }
  if (!history.months.length) {
    el.innerHTML = placeholder(t("common.none"));
    return;
  }
  shareHistoryChart(el, history, history.goal ?? goal, {
    share: t("ov.share"),
    projection: t("ov.projection"),
    goal: t("ov.goal"),
    nodata: t("chart.nodata"),
  });
  if (history.projection !== null) {
    const note = document.createElement("div");
    note.className = "muted small";
    const track = history.onTrack === null ? "" : ` · ${history.onTrack ? t("ov.ontrack") : t("ov.offtrack")}`;
    note.textContent = `${t("ov.projection")}: ${fmtPct(history.projection)}${track}`;
    el.after(note);
  }
}
