// County overview: the coal-to-gas KPI against the goal, firms by status, fuel, CO2, history.

import { ApiError, get, normalizeHistory } from "./api.js";
import { shareHistoryChart } from "./charts.js";
import { $, esc, placeholder } from "./dom.js";
import { fmtNumber, fmtPct, fmtTime, label, t } from "./i18n.js";

const STATUSES = ["gas", "mixed", "coal", "idle", "unknown"];

export async function renderOverview(root) {
  root.innerHTML = `
    <section class="hero card" id="kpi" data-testid="kpi">${placeholder(t("common.loading"))}</section>
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
      <h2>${esc(t("ov.table"))}</h2>
      <div id="firms" class="table-wrap"></div>
    </section>`;
  const kpi = await loadKpi(root);
  if (kpi) await loadHistory(root, kpi.goal);
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
  renderStatus($("#status-card .body", root), kpi);
  renderFuel($("#fuel-card .body", root), kpi.totals);
  renderCo2($("#co2-card .body", root), kpi);
  renderFirms($("#firms", root), kpi.rows);
  return kpi;
}

function renderHero(el, kpi) {
  const share = kpi.share;
  const goal = kpi.goal;
  const met = Boolean(kpi.meets_goal);
  const pct = (v) => `${Math.max(0, Math.min(1, v ?? 0)) * 100}%`;
  const days = Math.round(kpi.window_days ?? 30);
  const active = kpi.active_firms;
  el.dataset.state = met ? "met" : "behind";
  el.innerHTML = `
    <div class="hero-figure">
      <div class="hero-label">${esc(t("ov.share"))}</div>
      <div class="hero-value" id="share-value" data-testid="share" data-share="${share ?? ""}">${esc(fmtPct(share))}</div>
      <div class="hero-scope">${esc(t("ov.share.scope", { days }))}</div>
    </div>
    <div class="hero-progress">
      <div class="goal-head">
        <span class="goal-chip ${met ? "ok" : "warn"}" data-testid="goal-state">${esc(
          met ? t("ov.met", { goal: fmtPct(goal, 0) }) : t("ov.needed", { n: kpi.firms_needed }),
        )}</span>
        <span class="muted">${esc(t("ov.active"))}: <b>${esc(active)}</b> / ${esc(kpi.firms)} ${esc(t("ov.firms"))}</span>
      </div>
      <div class="bar" role="img" aria-label="${esc(fmtPct(share))} / ${esc(fmtPct(goal, 0))}">
        <div class="bar-upper" style="width:${pct(kpi.share_upper)}"></div>
        <div class="bar-fill ${met ? "ok" : "warn"}" style="width:${pct(share)}"></div>
        <div class="bar-goal" style="left:${pct(goal)}"><span>${esc(t("ov.goal"))} ${esc(fmtPct(goal, 0))}</span></div>
      </div>
      <div class="bar-scale"><span>0%</span><span>50%</span><span>100%</span></div>
      <div class="muted small">${esc(t("ov.upper", { upper: fmtPct(kpi.share_upper) }))} · ${esc(
        t("common.updated"),
      )} ${esc(fmtTime(Date.parse(kpi.at)))}</div>
    </div>`;
}

function renderStatus(el, kpi) {
  el.innerHTML = `<div class="status-tiles">${STATUSES.map(
    (s) => `
      <div class="tile status-${s}" data-testid="count-${s}">
        <div class="tile-value">${esc(kpi.counts?.[s] ?? 0)}</div>
        <div class="tile-label">${esc(label("status", s))}</div>
      </div>`,
  ).join("")}</div>`;
}

/** County fuel in tonnes of standard coal, split by the API's own gas fraction. */
function renderFuel(el, totals) {
  const gas = totals.gas_fraction;
  const coal = gas === null ? null : 1 - gas;
  el.innerHTML = `
    <div class="split-bar"><div class="gas" style="width:${(gas ?? 0) * 100}%"></div><div class="coal" style="width:${(coal ?? 0) * 100}%"></div></div>
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

function renderFirms(el, rows) {
  const sorted = [...rows].sort((a, b) => (b.gas_fraction ?? -1) - (a.gas_fraction ?? -1));
  el.innerHTML = `
    <table class="table" data-testid="firms">
      <thead><tr>
        <th>${esc(t("col.firm"))}</th><th>${esc(t("col.status"))}</th><th class="w-frac">${esc(t("col.fraction"))}</th>
        <th class="num">${esc(t("col.gas"))}</th><th class="num">${esc(t("col.coal"))}</th><th class="num">${esc(t("col.avoided"))}</th>
      </tr></thead>
      <tbody>${sorted
        .map(
          (r) => `
        <tr>
          <td><a href="#/plant/${encodeURIComponent(r.plant)}">${esc(r.name)}</a><div class="muted small">${esc(r.plant)}</div></td>
          <td><span class="chip status-${esc(r.status)}" title="${esc(r.reason)}">${esc(label("status", r.status))}</span></td>
          <td class="w-frac">${
            r.gas_fraction === null
              ? `<span class="muted">–</span>`
              : `<div class="mini-bar"><div style="width:${r.gas_fraction * 100}%"></div></div><span class="small">${esc(fmtPct(r.gas_fraction))}</span>`
          }</td>
          <td class="num">${esc(fmtNumber(r.gas_m3))}</td>
          <td class="num">${esc(fmtNumber(r.coal_kg))}</td>
          <td class="num">${esc(fmtNumber(r.co2_avoided_kg / 1000, 1))}</td>
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
  });
  if (history.projection !== null) {
    const note = document.createElement("div");
    note.className = "muted small";
    const track = history.onTrack === null ? "" : ` · ${history.onTrack ? t("ov.ontrack") : t("ov.offtrack")}`;
    note.textContent = `${t("ov.projection")}: ${fmtPct(history.projection)}${track}`;
    el.after(note);
  }
}
