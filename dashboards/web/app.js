// The built-in dashboard: hash router, API key dialog, language toggle, live alert stream.

import { refreshAlerts, openAlertCount, renderAlerts } from "./alerts.js";
import { ApiError, followAlerts, getKey, setKey } from "./api.js";
import { $, placeholder, toast, track } from "./dom.js";
import { applyStatic, getLang, setLang, t } from "./i18n.js";
import { renderOverview } from "./overview.js";
import { loadPlants, renderPlant, renderPlants } from "./plant.js";

const KPI_REFRESH_MS = 5 * 60 * 1000;
let plants = [];
let stopStream = null;
let refreshTimer = null;

function plantNames() {
  return new Map(plants.map((p) => [p.id, p.name]));
}

function route() {
  const [, page = "overview", arg = ""] = (location.hash || "#/overview").split("/");
  return { page, arg: decodeURIComponent(arg) };
}

async function show() {
  const { page, arg } = route();
  const root = $("#page");
  for (const link of document.querySelectorAll(".tabs a")) {
    link.classList.toggle("active", link.dataset.page === page || (page === "plant" && link.dataset.page === "plants"));
  }
  document.body.dataset.page = page;
  document.body.dataset.route = location.hash || "#/overview";
  root.dataset.ready = "false";
  await track(async () => {
    try {
      if (page === "alerts") await renderAlerts(root, plantNames());
      else if (page === "plants") await renderPlants(root, plants);
      else if (page === "plant") await renderPlant(root, arg, plants);
      else await renderOverview(root);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        askForKey(t("key.invalid"));
        root.innerHTML = placeholder(t("key.invalid"), "error");
      } else {
        root.innerHTML = placeholder(`${t("common.error")}: ${err.message}`, "error");
      }
    }
  });
  root.dataset.ready = "true";
}

function askForKey(error = "") {
  const dialog = $("#key-dialog");
  const message = $("#key-error");
  message.textContent = error;
  message.hidden = !error;
  $("#key-input").value = "";
  if (!dialog.open) dialog.showModal();
}

async function updateBadge() {
  const count = await openAlertCount();
  const badge = $("#alert-badge");
  badge.hidden = !count;
  badge.textContent = String(count ?? 0);
}

function setLive(state) {
  const el = $("#live");
  el.dataset.state = state;
  $("#live-text").dataset.i18n = `live.${state}`;
  $("#live-text").textContent = t(`live.${state}`);
}

function onAlertEvent(event) {
  updateBadge();
  const { page } = route();
  if (page === "alerts") refreshAlerts($("#page"), plantNames()).catch(() => {});
  const kind = event?.alert?.kind ?? null; // the stream sends AlertEvent: {event_id, event, at, actor, comment, alert}
  toast(`${t("al.new")}${kind ? `: ${t(`kind.${kind}`)}` : ""}`);
}

async function start() {
  if (stopStream) stopStream();
  clearInterval(refreshTimer);
  // One tracked unit: the page is not "ready" between the registry and the first page.
  await track(async () => {
    try {
      plants = await loadPlants();
    } catch {
      plants = [];
    }
    await show();
    await updateBadge();
  });
  stopStream = followAlerts(onAlertEvent, setLive);
  refreshTimer = setInterval(() => {
    if (route().page === "overview" && !$("#key-dialog").open) show();
  }, KPI_REFRESH_MS);
}

function init() {
  setLang(getLang());
  applyStatic();
  $("#lang-toggle").textContent = getLang() === "zh" ? "EN" : "中文";
  $("#lang-toggle").addEventListener("click", () => {
    setLang(getLang() === "zh" ? "en" : "zh");
    $("#lang-toggle").textContent = getLang() === "zh" ? "EN" : "中文";
    applyStatic();
    show();
  });
  $("#key-button").addEventListener("click", () => askForKey());
  $("#key-form").addEventListener("submit", (event) => {
    const key = $("#key-input").value.trim();
    if (!key) {
      event.preventDefault();
      return;
    }
    setKey(key);
    start();
  });
  window.addEventListener("hashchange", show);
  if (getKey()) start();
  else askForKey();
}

init();
