// The overview's VOC picture: stacks above a limit today, the valid-data rate, the month's
// emissions. Today's figures are read from each synthetic-leather firm's `/plants/{plant}/voc`
// answer (hour statuses and counts); the month's emission is the county total the API gives
// (`/voc/emissions`). Nothing is re-judged or re-summed here.

import { ApiError, get } from "./api.js";
import { esc, placeholder } from "./dom.js";
import { fmtNumber, fmtPct, label, t, timeZone } from "./i18n.js";

// Below the API's per-key limit on expensive reads, so the rest of the page is never refused.
const PARALLEL = 2;
const PROXY = "nmhc_mgm3"; // VOCs are judged (and totalled) as NMHC, GB 21902-2008

/** Start of the county's local day holding `ms`, in the API's time zone (i18n.timeZone). */
function localMidnight(ms) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: timeZone(),
    hourCycle: "h23",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
  }).formatToParts(new Date(ms));
  const part = (type) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return ms - (((part("hour") * 60 + part("minute")) * 60 + part("second")) * 1000 + (ms % 1000));
}

/** Run `fn` over `items`, at most PARALLEL at a time, keeping the order. */
async function pooled(items, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, worker));
  return out;
}

async function vocOf(plant, startMs, endMs) {
  const span = `start=${encodeURIComponent(new Date(startMs).toISOString())}&end=${encodeURIComponent(new Date(endMs).toISOString())}`;
  return get(`/plants/${encodeURIComponent(plant.id)}/voc?${span}`);
}

/** Today's exceeding stacks and valid share of the running hours that ended, from each stack's `counts`. */
function today(answers, plants) {
  const exceeding = [];
  let valid = 0;
  let ended = 0;
  let stacks = 0;
  answers.forEach((doc, i) => {
    for (const stack of doc?.stacks ?? []) {
      stacks += 1;
      for (const p of stack.pollutants ?? []) {
        const c = p.counts ?? {};
        valid += c.valid ?? 0;
        ended += c.running ?? 0; // the API's running hours: stopped and pending left out
        if (c.exceeding > 0) exceeding.push({ plant: plants[i], meter: stack.meter, pollutant: p.pollutant, hours: c.exceeding });
      }
    }
  });
  return { exceeding, stacks, rate: ended > 0 ? valid / ended : null };
}

/** The county's emission of the proxy pollutant this month, as the API totals it (null: none). */
function monthKg(doc) {
  const row = (doc?.totals ?? []).find((r) => r.pollutant === PROXY);
  return row ? row.emission_kg : null;
}

/** Today's figures drawn into `el`; returns what `loadVocMonth` needs (null when nothing to add). */
export async function loadVocToday(el, allPlants) {
  const plants = allPlants.filter((p) => p.sector === "synthetic_leather");
  if (!plants.length) {
    el.innerHTML = placeholder(t("common.none"));
    return null;
  }
  const now = Date.now();
  let day;
  try {
    day = await pooled(plants, (p) => vocOf(p, localMidnight(now), now));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw err;
    el.innerHTML = placeholder(`${t("common.error")}: ${err.message}`, "error");
    return null;
  }
  const state = { el, plants, now, today: today(day, plants) };
  render(el, state.today, plants, undefined);
  return state;
}

/** The month's emissions added to the figures (larger answers: asked for after the rest). */
export async function loadVocMonth(state) {
  if (!state || !state.el.isConnected) return;
  let kg = null;
  try {
    kg = monthKg(await get("/voc/emissions?period=month"));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw err;
  }
  if (state.el.isConnected) render(state.el, state.today, state.plants, kg);
}

function render(el, d, plants, kg) {
  const list = [...d.exceeding]
    .sort((a, b) => b.hours - a.hours)
    .map(
      (x) => `<li><a href="#/plant/${encodeURIComponent(x.plant.id)}">${esc(x.plant.name)}</a>
        <span class="muted">${esc(label("kind", "voc"))} ${esc(x.meter)} · ${esc(label("poll", x.pollutant))}</span>
        <b class="bad">${esc(t("ov.voc.hours", { n: x.hours }))}</b></li>`,
    )
    .join("");
  const stacksOver = new Set(d.exceeding.map((x) => `${x.plant.id}/${x.meter}`)).size;
  const month =
    kg === undefined
      ? esc(t("common.loading"))
      : kg === null
        ? "–"
        : `${esc(kg >= 1000 ? fmtNumber(kg / 1000, 2) : fmtNumber(kg, 1))}<span class="unit">${kg >= 1000 ? "t" : "kg"}</span>`;
  el.innerHTML = `
    <div class="voc-tiles">
      <div class="figure ${stacksOver ? "is-bad" : ""}" data-testid="voc-exceeding" data-count="${stacksOver}">
        <div class="figure-value">${esc(stacksOver)}<span class="unit">/ ${esc(t("ov.voc.stacks", { n: d.stacks }))}</span></div>
        <div class="muted small">${esc(t("ov.voc.exceeding"))} · ${esc(plants.length)} ${esc(t("ov.voc.firms"))}</div>
      </div>
      <div class="figure" data-testid="voc-valid-rate" data-rate="${d.rate ?? ""}">
        <div class="figure-value">${esc(fmtPct(d.rate))}</div>
        <div class="muted small">${esc(t("ov.voc.valid"))}</div>
        <div class="muted tiny">${esc(t("ov.voc.valid.why"))}</div>
      </div>
      <div class="figure" data-testid="voc-month" data-kg="${kg ?? ""}" data-state="${kg === undefined ? "loading" : "done"}">
        <div class="figure-value">${month}</div>
        <div class="muted small">${esc(t("ov.voc.month"))}</div>
        <div class="muted tiny">${esc(t("ov.voc.month.why"))}</div>
      </div>
    </div>
    ${list ? `<ul class="exceed-list" data-testid="voc-exceed-list">${list}</ul>` : `<p class="muted small">${esc(t("ov.voc.none"))}</p>`}`;
}
