// The built-in dashboard: hash router, API key dialog, language toggle, live alert stream.

import { refreshAlerts, openAlertCount, renderAlerts } from "./alerts.js";
import { ApiError, followAlerts, get, getKey, setKey } from "./api.js";
import { $, esc, placeholder, toast, track } from "./dom.js";
import { addLabels, applyStatic, fmtWhen, getLang, setLang, t } from "./i18n.js";
import { renderOverview } from "./overview.js";
import { renderMine } from "./mine.js";
import { loadPlants, renderPlant, renderPlants } from "./plant.js";
import { renderTasks } from "./tasks.js";

const KPI_REFRESH_MS = 5 * 60 * 1000;
const FRESHNESS_REFRESH_MS = 60 * 1000;
// Only the engine's news is announced: a reader's own (or a colleague's) ack/resolve is not.
const NEWS_EVENTS = new Set(["raised", "reopened"]);
let plants = [];
// Who the key is (`/me`): a plant key gets its own page, an inspector its tasks.
let me = { role: "viewer", name: "", plant: null };
let ingest = null;
let freshnessTimer = null;
let stopStream = null;
let refreshTimer = null;

function plantNames() {
  return new Map(plants.map((p) => [p.id, p.name]));
}

const HOME = { plant: "#/mine", inspector: "#/tasks" };
// The pages each role may open; any other route goes to the role's home.
const PAGES = { plant: ["mine"], inspector: ["tasks"] };

function route() {
  const [, page = "overview", arg = ""] = (location.hash || HOME[me.role] || "#/overview").split("/");
  const allowed = PAGES[me.role];
  if (allowed && !allowed.includes(page)) return { page: allowed[0], arg: "" };
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
      if (page === "mine" && me.plant) await renderMine(root, me);
      else if (page === "tasks") await renderTasks(root, plantNames(), me, arg);
      else if (page === "alerts") await renderAlerts(root, plantNames(), me);
      else if (page === "plants") await renderPlants(root, plants);
      else if (page === "plant") await renderPlant(root, arg, plants);
      else await renderOverview(root, plants);
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
  if (!event || typeof event !== "object" || !event.alert) return; // the stream's `ready` event
  updateBadge();
  const { page } = route();
  if (page === "alerts") refreshAlerts($("#page"), plantNames()).catch(() => {});
  if (!NEWS_EVENTS.has(event.event) || event.actor !== "engine") return;
  const a = event.alert;
  const said = event.texts?.[getLang()] ?? {};
  toast(`${t(`al.event.${event.event}`)}：${said.title || t(`kind.${a.kind}`)}${said.firm && a.plant !== "_county" ? ` · ${said.firm}` : ""}`);
}

/** The notice under the top bar: how fresh the data is, loading or stalled (from `/plants`). */
function renderFreshness() {
  const el = $("#freshness");
  if (!ingest) {
    el.hidden = true;
    return;
  }
  const time = fmtWhen(Date.parse(ingest.data_through));
  const vars = { time, silent: ingest.silent, meters: ingest.meters };
  el.dataset.state = ingest.state;
  el.hidden = false;
  if (!ingest.data_through) el.textContent = t("fresh.none");
  else if (ingest.state === "loading" || ingest.state === "stalled") el.textContent = t(`fresh.${ingest.state}`, vars);
  else el.innerHTML = `<span class="muted">${esc(t("fresh.through", vars))}</span>`;
}

async function refreshPlants() {
  try {
    const doc = await loadPlants();
    plants = doc.plants;
    ingest = doc.ingest;
  } catch {
    plants = [];
    ingest = null;
  }
  renderFreshness();
}

/** The caller's role and plant; the navigation shows only what the role may open. */
async function loadMe() {
  try {
    me = await get("/me");
  } catch {
    me = { role: "viewer", name: "", plant: null };
  }
  document.body.dataset.role = me.role;
}

let labelsLoaded = false;

/** The API's names of alert kinds, meter kinds and pollutants (once; codes show until then). */
async function loadLabels() {
  if (labelsLoaded) return;
  try {
    addLabels(await get("/labels"));
    labelsLoaded = true;
  } catch {
    /* a wrong key fails here and again on the page, which asks for a new one */
  }
}

async function start() {
  if (stopStream) stopStream();
  clearInterval(refreshTimer);
  clearInterval(freshnessTimer);
  // One tracked unit: the page is not "ready" between the registry and the first page.
  await track(async () => {
    await Promise.all([loadLabels(), loadMe()]);
    if (!PAGES[me.role]) await refreshPlants();
    const asked = (location.hash || "").split("/")[1] ?? "";
    if (HOME[me.role] && !PAGES[me.role].includes(asked)) history.replaceState(null, "", HOME[me.role]);
    await show();
    if (!PAGES[me.role]) await updateBadge();
  });
  if (!PAGES[me.role]) stopStream = followAlerts(onAlertEvent, setLive);
  freshnessTimer = setInterval(refreshPlants, FRESHNESS_REFRESH_MS);
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
    renderFreshness();
    if (getKey()) start();
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
