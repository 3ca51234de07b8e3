// Live alert list: an officer acknowledges or resolves an alert with a comment.

import { ApiError, get, normalizeAlerts, post } from "./api.js";
import { $, esc, exportButton, placeholder, toast, track, wireExports } from "./dom.js";
import { fmtNumber, fmtWhen, getLang, label, t } from "./i18n.js";

const FILTERS = ["open", "acknowledged", "resolved", "all"];
let filter = "open";

let viewer = { role: "viewer" };

export async function renderAlerts(root, plantNames, me = viewer) {
  viewer = me;
  root.innerHTML = `
    <section class="card">
      <div class="card-head">
        <h2>${esc(t("al.title"))}</h2>
        <div class="head-tools">
          <div class="segmented" role="tablist">${FILTERS.map(
            (f) => `<button type="button" data-filter="${f}" class="${f === filter ? "active" : ""}">${esc(t(`al.filter.${f}`))}</button>`,
          ).join("")}</div>
          ${exportButton(`/alerts?format=csv&lang=${getLang()}${filter === "all" ? "" : `&status=${filter}`}`, "alerts.csv")}
        </div>
      </div>
      <div id="alert-list" data-testid="alert-list">${placeholder(t("common.loading"))}</div>
    </section>`;
  for (const button of root.querySelectorAll("[data-filter]")) {
    button.addEventListener("click", () => {
      filter = button.dataset.filter;
      track(() => renderAlerts(root, plantNames, viewer));
    });
  }
  wireExports(root);
  await refreshAlerts(root, plantNames);
}

export async function refreshAlerts(root, plantNames) {
  const list = $("#alert-list", root);
  if (!list) return;
  let alerts;
  try {
    const query = filter === "all" ? "" : `&status=${filter}`;
    alerts = normalizeAlerts(await get(`/alerts?lang=${getLang()}${query}`));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw err;
    const text = err instanceof ApiError && err.status === 404 ? t("common.unavailable") : `${t("common.error")}: ${err.message}`;
    list.innerHTML = placeholder(text);
    return;
  }
  if (filter !== "all") alerts = alerts.filter((a) => a.state === filter);
  alerts.sort((a, b) => (b.t ?? 0) - (a.t ?? 0));
  list.innerHTML = alerts.length ? alerts.map((a) => alertCard(a, plantNames)).join("") : placeholder(t("al.empty"));
  for (const card of list.querySelectorAll(".alert")) wireActions(card, root, plantNames);
}

/** "62.0 kg", "31.3%" (fractions), "12 块" (meter counts): a number with its unit. */
function withUnit(value, unit) {
  if (unit === "fraction") return `${fmtNumber(value * 100, 1)}%`;
  if (unit === "meters") return fmtNumber(value, 0);
  // as the API's sentences write numbers: at most two decimals, no trailing zeros
  const text = Number(value).toLocaleString(getLang() === "zh" ? "zh-CN" : "en-GB", { maximumFractionDigits: unit === "min" ? 0 : 2 });
  return `${text} ${unit === "min" ? (getLang() === "zh" ? "分钟" : "min") : unit}`.trim();
}

function alertCard(a, plantNames) {
  const firm = a.plant === "_county" ? "" : a.firm || plantNames.get(a.plant) || a.plant;
  const where = [firm, a.meter ? `${a.meter}` : "", a.pollutant ? label("poll", a.pollutant) : ""]
    .filter(Boolean)
    .map(esc)
    .join(" · ");
  // A spike's `limit` is its threshold (factor × the limit): the chip names both, never
  // the threshold as the limit.
  const spike = a.kind === "voc_spike" && a.details.limit_mgm3 != null;
  const against = spike
    ? `${esc(t("al.spike.threshold", { factor: fmtNumber(a.details.factor, 0) }))} ${esc(withUnit(a.limit, a.limitUnit))} · ${esc(t("al.limit"))} ${esc(withUnit(a.details.limit_mgm3, a.unit))}`
    : `${esc(t("al.limit"))} ${esc(withUnit(a.limit, a.limitUnit))}`;
  const measure =
    a.value !== null && a.limit !== null && !["sensor_stuck", "ingest_stalled", "task_overdue"].includes(a.kind)
      ? `<span class="measure" data-testid="measure">${esc(t("al.value"))} <b>${esc(withUnit(a.value, a.unit))}</b> / ${against}</span>`
      : "";
  const late = a.late ? `<span class="chip late" title="${esc(t("al.late.why"))}">${esc(t("al.late"))}</span>` : "";
  const actions =
    a.state === "resolved"
      ? ""
      : `<div class="alert-actions">
          ${a.state === "open" ? `<button type="button" class="primary" data-action="ack" data-testid="ack-${esc(a.id)}">${esc(t("al.ack"))}</button>` : ""}
          <button type="button" class="secondary" data-action="resolve" data-testid="resolve-${esc(a.id)}">${esc(t("al.resolve"))}</button>
          ${viewer.role === "officer" || viewer.role === "admin" ? `<a class="button secondary" href="#/tasks/alert-${esc(a.id)}" data-testid="assign-${esc(a.id)}">${esc(t("tk.assign"))}</a>` : ""}
        </div>`;
  return `
    <article class="alert state-${esc(a.state)}" data-id="${esc(a.id)}" data-testid="alert-${esc(a.id)}" data-state="${esc(a.state)}">
      <div class="alert-main">
        <div class="alert-title"><span class="chip state-${esc(a.state)}">${esc(label("state", a.state))}</span>
          <b>${esc(a.title || label("kind", a.kind))}</b>${late}</div>
        ${where ? `<div class="alert-where"><a href="#/plant/${encodeURIComponent(a.plant)}">${where}</a></div>` : ""}
        <div class="alert-text" data-testid="alert-text">${esc(a.text || a.message)}</div>
        <div class="muted small">${esc(t("al.since"))} ${esc(fmtWhen(a.since ?? a.t))}</div>
        ${measure}
        ${a.comment ? `<div class="comment">“${esc(a.comment)}”${a.by ? ` — ${esc(a.by)}` : ""}</div>` : ""}
      </div>
      ${actions}
      <form class="alert-form" hidden>
        <textarea name="comment" required rows="2" data-testid="comment" placeholder="${esc(t("al.comment"))}"></textarea>
        <div class="actions">
          <button type="button" class="ghost" data-cancel>${esc(t("al.cancel"))}</button>
          <button type="submit" class="primary" data-testid="submit">${esc(t("al.submit"))}</button>
        </div>
      </form>
    </article>`;
}

function wireActions(card, root, plantNames) {
  const form = $(".alert-form", card);
  let action = null;
  for (const button of card.querySelectorAll("[data-action]")) {
    button.addEventListener("click", () => {
      action = button.dataset.action;
      form.hidden = false;
      form.dataset.action = action;
      $("textarea", form).focus();
    });
  }
  $("[data-cancel]", form).addEventListener("click", () => {
    form.hidden = true;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const comment = $("textarea", form).value.trim();
    if (!comment || !action) return;
    const submit = $("[type=submit]", form);
    submit.disabled = true;
    await track(async () => {
      try {
        await post(`/alerts/${encodeURIComponent(card.dataset.id)}/${action}`, { comment });
        toast(t(action === "ack" ? "al.done.ack" : "al.done.resolve"), "ok");
        await refreshAlerts(root, plantNames);
      } catch (err) {
        toast(`${t("common.error")}: ${err.message}`, "error");
        submit.disabled = false;
      }
    });
  });
}

/** Number of open alerts, for the badge in the navigation (null if the endpoint is absent). */
export async function openAlertCount() {
  try {
    return normalizeAlerts(await get("/alerts?status=open")).filter((a) => a.state === "open").length;
  } catch {
    return null;
  }
}
