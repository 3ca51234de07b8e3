// The plantwatch HTTP API (SPEC section 8) as seen from the page: bearer key, JSON, SSE.
// Responses whose exact shape the SPEC leaves open are read through the `normalize*`
// functions below, which accept the likely shapes and are the one place to adjust.

const KEY_STORAGE = "plantwatch.apiKey";
export const API_BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function getKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export function setKey(key) {
  localStorage.setItem(KEY_STORAGE, key.trim());
}

async function request(method, path, body) {
  const headers = { Authorization: `Bearer ${getKey()}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(API_BASE + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!resp.ok) {
    let detail = resp.statusText;
    try {
      const doc = await resp.json();
      detail = typeof doc.detail === "string" ? doc.detail : JSON.stringify(doc.detail ?? doc);
    } catch {
      /* not JSON: keep the status text */
    }
    throw new ApiError(resp.status, detail);
  }
  return resp.status === 204 ? null : resp.json();
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body);

// --- shapes ---------------------------------------------------------------------------

const TIME_KEYS = ["start", "time", "ts", "t", "hour", "interval_start", "from", "at", "month", "date", "end"];

/** Epoch ms from ISO text, "YYYY-MM", epoch seconds or ms; null if none of those. */
export function toMs(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") return value < 1e11 ? value * 1000 : value;
  const month = /^(\d{4})-(\d{2})$/.exec(value);
  if (month) return Date.UTC(Number(month[1]), Number(month[2]) - 1, 1);
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

function timeOf(row) {
  for (const key of TIME_KEYS) if (key in row) return toMs(row[key]);
  return null;
}

function firstArray(doc, keys) {
  if (Array.isArray(doc)) return doc;
  for (const key of keys) if (Array.isArray(doc?.[key])) return doc[key];
  return [];
}

const num = (v) => (v === null || v === undefined || v === "" ? null : Number(v));

/** `/kpi/gas-share/history` -> {months: [{t, share, upper}], projection, onTrack, goal, year}. */
export function normalizeHistory(doc) {
  const months = (doc?.months ?? [])
    // A month where every firm is unknown has no data (e.g. before the history starts):
    // draw a gap, not a 0 % share.
    .map((r) => {
      const noData = r.counts && r.firms > 0 && r.counts.unknown === r.firms;
      return { t: timeOf(r), share: noData ? null : num(r.share), upper: noData ? null : num(r.share_upper) };
    })
    .filter((r) => r.t !== null)
    .sort((a, b) => a.t - b.t);
  const p = doc?.projection ?? {};
  return {
    months,
    projection: num(p.share),
    onTrack: doc?.on_track ?? null,
    goal: num(doc?.goal),
    year: doc?.year ?? null,
  };
}

/** `/plants` -> [{id, name, sector, status}]. */
export function normalizePlants(doc) {
  return firstArray(doc, ["plants", "items", "data"]).map((p) => ({
    id: p.id ?? p.plant,
    name: p.name ?? p.id ?? p.plant,
    sector: p.sector ?? "other",
    status: p.status ?? p.live_status ?? p.state ?? null,
    meters: p.meters ?? [],
  }));
}

const GAS_KGCE_PER_M3 = 1.2143; // SPEC 6 defaults, used only if the API gives no kgce per fuel
const COAL_KGCE_PER_KG = 0.7143;

/** `/plants/{p}/usage` -> [{t, gasM3, coalKg, gasKgce, coalKgce, co2Kg}] sorted by time. */
export function normalizeUsage(doc) {
  const rows = firstArray(doc, ["intervals", "rows", "usage", "buckets", "series", "data", "points"]);
  return rows
    .map((r) => {
      const gas = r.gas ?? {};
      const coal = r.coal ?? {};
      const gasM3 = num(r.gas_m3 ?? gas.m3 ?? gas.volume_m3 ?? gas.consumption) ?? 0;
      const coalKg = num(r.coal_kg ?? coal.kg ?? coal.mass_kg ?? coal.consumption) ?? 0;
      return {
        t: timeOf(r),
        gasM3,
        coalKg,
        gasKgce: num(r.gas_kgce ?? gas.kgce) ?? gasM3 * GAS_KGCE_PER_M3,
        coalKgce: num(r.coal_kgce ?? coal.kgce) ?? coalKg * COAL_KGCE_PER_KG,
        co2Kg: num(r.co2_kg ?? r.co2),
      };
    })
    .filter((r) => r.t !== null)
    .sort((a, b) => a.t - b.t);
}

const MEAN_KEYS = ["hourly_mean_mgm3", "mean_mgm3", "mean", "value_mgm3", "value", "avg_mgm3"];
const LIMIT_KEYS = ["limit_mgm3", "limit"];

/** `/plants/{p}/voc` -> {"meter|pollutant": {meter, pollutant, limit, hours: [{t, mean, valid}]}}.
 *
 * Walks whatever nesting the API uses (by stack, by pollutant, or flat rows), carrying the
 * meter, pollutant and limit down from enclosing objects and keys.
 */
export function normalizeVoc(doc, meterIds = []) {
  const out = {};
  const walk = (node, ctx) => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item, ctx);
      return;
    }
    if (!node || typeof node !== "object") return;
    const here = { ...ctx };
    const meter = node.meter ?? node.stack ?? node.meter_id;
    if (typeof meter === "string") here.meter = meter;
    const pollutant = node.pollutant ?? node.field ?? node.value_name;
    if (typeof pollutant === "string") here.pollutant = pollutant;
    for (const key of LIMIT_KEYS) if (typeof node[key] === "number") here.limit = node[key];
    const mean = MEAN_KEYS.find((k) => k in node && (typeof node[k] === "number" || node[k] === null));
    const t = timeOf(node);
    if (mean && t !== null && here.pollutant) {
      const id = `${here.meter ?? ""}|${here.pollutant}`;
      out[id] ??= { meter: here.meter ?? "", pollutant: here.pollutant, limit: here.limit ?? null, hours: [] };
      if (out[id].limit === null && here.limit !== undefined) out[id].limit = here.limit;
      const status = String(node.status ?? node.validity ?? "");
      // The API's statuses: valid, insufficient, stopped, pending; only "valid" has a mean.
      const valid = typeof node.valid === "boolean" ? node.valid : status ? status === "valid" : true;
      out[id].hours.push({ t, mean: valid ? num(node[mean]) : null, valid });
      return;
    }
    for (const [key, value] of Object.entries(node)) {
      if (!value || typeof value !== "object") continue;
      const child = { ...here };
      if (/_mgm3$/.test(key)) child.pollutant = key;
      else if (meterIds.includes(key)) child.meter = key;
      walk(value, child);
    }
  };
  walk(doc, {});
  for (const series of Object.values(out)) series.hours.sort((a, b) => a.t - b.t);
  return out;
}

/** `/alerts` -> [{id, kind, plant, meter, pollutant, state, message, value, limit, t, by, comment}]. */
export function normalizeAlerts(doc) {
  return firstArray(doc, ["alerts", "items", "data"]).map((a) => ({
    id: a.id,
    kind: a.kind ?? "",
    plant: a.plant ?? "",
    meter: a.meter ?? "",
    pollutant: a.pollutant ?? "",
    state: a.state ?? a.status ?? "open",
    message: a.message ?? "",
    value: num(a.value),
    limit: num(a.limit),
    t: toMs(a.opened_at ?? a.raised_at ?? a.started_at ?? a.created_at ?? a.ts ?? a.time),
    by: a.acknowledged_by ?? a.ack_by ?? a.ack?.by ?? a.resolved_by ?? null,
    comment: a.comment ?? a.ack_comment ?? a.ack?.comment ?? a.resolve_comment ?? null,
  }));
}

// --- server-sent events -----------------------------------------------------------------

/**
 * Follow `/alerts/stream` with the bearer key (EventSource cannot send headers, so this
 * reads the stream with fetch). Calls `onEvent(data)` per event, `onState("on"|"off"|"absent")`.
 * Reconnects after a drop; gives up if the endpoint does not exist.
 */
export function followAlerts(onEvent, onState, retryMs = 5000) {
  let stopped = false;
  let controller = null;
  const connect = async () => {
    if (stopped) return;
    controller = new AbortController();
    try {
      const resp = await fetch(`${API_BASE}/alerts/stream`, {
        headers: { Authorization: `Bearer ${getKey()}`, Accept: "text/event-stream" },
        signal: controller.signal,
      });
      if (resp.status === 404 || resp.status === 405) {
        onState("absent");
        return;
      }
      if (!resp.ok || !resp.body) throw new ApiError(resp.status, resp.statusText);
      onState("on");
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const data = block
            .split("\n")
            .filter((line) => line.startsWith("data:"))
            .map((line) => line.slice(5).replace(/^ /, ""))
            .join("\n");
          if (!data) continue; // a comment or keep-alive
          let parsed = data;
          try {
            parsed = JSON.parse(data);
          } catch {
            /* plain text event */
          }
          onEvent(parsed);
        }
      }
    } catch (err) {
      if (stopped) return;
    }
    onState("off");
    if (!stopped) setTimeout(connect, retryMs);
  };
  connect();
  return () => {
    stopped = true;
    controller?.abort();
  };
}
