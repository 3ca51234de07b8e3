// The plantwatch HTTP API (SPEC section 8) as seen from the page: bearer key, JSON, SSE.

const KEY_STORAGE = "plantwatch.apiKey";
export const API_BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// The key lives in sessionStorage: it is gone when the tab closes, and no other tab or
// later visit reads it (docs/decisions.md). A key left by older versions is removed.
localStorage.removeItem(KEY_STORAGE);

export function getKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export function setKey(key) {
  sessionStorage.setItem(KEY_STORAGE, key.trim());
}

// A key has a few slots for expensive reads (429 with Retry-After past them): wait and ask again.
const BUSY_RETRIES = 5;
const BUSY_WAIT_MAX_S = 10;

async function request(method, path, body, attempt = 0) {
  const headers = { Authorization: `Bearer ${getKey()}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(API_BASE + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (resp.status === 429 && method === "GET" && attempt < BUSY_RETRIES) {
    const wait = Math.min(Number(resp.headers.get("Retry-After")) || 1, BUSY_WAIT_MAX_S);
    await new Promise((done) => setTimeout(done, wait * 1000));
    return request(method, path, body, attempt + 1);
  }
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

/** Fetch a CSV export with the key and hand it to the browser as a download. */
export async function downloadCsv(path, filename) {
  const resp = await fetch(API_BASE + path, { headers: { Authorization: `Bearer ${getKey()}` } });
  if (!resp.ok) throw new ApiError(resp.status, resp.statusText);
  const url = URL.createObjectURL(await resp.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
export const post = (path, body) => request("POST", path, body);

// --- shapes ---------------------------------------------------------------------------
// Each reader takes the one shape the API documents (api/schemas.py, OpenAPI at /docs) and
// keeps the API's own figures: the page never recomputes a share, a fraction, a kgce or an
// exceedance. tests/dashboards/test_web_contract.py checks the sample answers of the browser
// tests against the OpenAPI schemas.

/** Epoch ms from RFC 3339 text; null if absent. */
export function toMs(value) {
  if (value === null || value === undefined) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** `GasShareHistoryAnswer` -> {months: [{t, share, upper}], projection, onTrack, goal, year}. */
export function normalizeHistory(doc) {
  // A month without data (every firm unknown, e.g. before monitoring) is a gap, not 0 %.
  const months = doc.months.map((m) => ({
    t: toMs(m.start),
    share: m.has_data ? m.share : null,
    upper: m.has_data ? m.share_upper : null,
  }));
  return {
    months,
    projection: doc.projection.share,
    onTrack: doc.on_track,
    goal: doc.goal,
    year: doc.year,
  };
}

/** `PlantsAnswer` -> [{id, name, sector, reporting, meters, dataThrough, metersReporting}]. */
export function normalizePlants(doc) {
  return doc.plants.map((p) => ({
    id: p.id,
    name: p.name,
    sector: p.sector,
    reporting: p.reporting,
    meters: p.meters,
    dataThrough: toMs(p.data_through),
    metersReporting: p.meters_reporting,
  }));
}

/** `UsageAnswer` -> {rows: [{t, gasM3, coalKg, gasKgce, coalKgce, co2Kg}], totals}. */
export function normalizeUsage(doc) {
  const rows = doc.intervals.map((r) => ({
    t: toMs(r.start),
    gasM3: r.gas_m3,
    coalKg: r.coal_kg,
    gasKgce: r.gas_kgce,
    coalKgce: r.coal_kgce,
    co2Kg: r.co2_kg,
    // No reading from either meter in the interval: a gap, not a zero.
    gap: r.gas_readings === 0 && r.coal_readings === 0,
  }));
  return { rows, totals: doc.totals };
}

/** `VocAnswer` -> [{meter, pollutant, limit, limitRule, exceeding, insufficient, hours: [{t, mean, valid, exceeds}]}]. */
export function normalizeVoc(doc) {
  return doc.stacks.flatMap((stack) =>
    stack.pollutants.map((p) => ({
      meter: stack.meter,
      pollutant: p.pollutant,
      limit: p.limit_mgm3,
      limitRule: p.limit_rule || "",
      limitSource: p.limit_source,
      limitProcess: p.process || "",
      halved: Boolean(p.halved),
      exceeding: p.counts.exceeding,
      insufficient: p.counts.insufficient,
      lateFilled: stack.late_filled_hours ?? 0,
      marked: p.counts.marked ?? 0,
      hours: p.hours.map((h) => ({
        t: toMs(h.start),
        mean: h.status === "valid" ? h.mean_mgm3 : null,
        valid: h.status === "valid",
        marked: h.status === "marked",
        exceeds: h.exceeds,
        late: Boolean(h.late_filled),
      })),
    })),
  );
}

/** `RevisionList` -> [{id, meter, name, t, value, flag, record, recordFlag, source, arrived, status, by, at}]. */
export function normalizeRevisions(doc) {
  return doc.revisions.map((r) => ({
    id: r.id,
    meter: r.meter,
    name: r.name,
    t: toMs(r.ts),
    value: r.value,
    flag: r.flag,
    record: r.record_value,
    recordFlag: r.record_flag,
    source: r.source,
    arrived: toMs(r.arrived_at),
    status: r.status,
    by: r.accepted_by,
    at: toMs(r.accepted_at),
  }));
}

/** `LinesAnswer` -> [{plant, line, productionRated, treatmentRated, outOfSyncMinutes, periods: [{start, end, minutes}], buckets: [{t, production, treatment, outOfSync}]}]. */
export function normalizeLines(doc) {
  return doc.lines.map((l) => ({
    plant: l.plant,
    line: l.line,
    productionRated: l.production_rated_kw,
    treatmentRated: l.treatment_rated_kw,
    outOfSyncMinutes: l.out_of_sync_minutes,
    periods: l.periods.map((p) => ({ start: toMs(p.start), end: toMs(p.end), minutes: p.minutes })),
    buckets: l.buckets.map((b) => ({
      t: toMs(b.start),
      production: b.production_kw,
      treatment: b.treatment_kw,
      outOfSync: b.out_of_sync,
    })),
  }));
}

/** `AlertList` -> [{id, kind, plant, meter, pollutant, state, message, value, limit, t, by, comment}]. */
export function normalizeAlerts(doc) {
  return doc.alerts.map((a) => ({
    id: a.id,
    kind: a.kind,
    plant: a.plant,
    meter: a.meter ?? "",
    pollutant: a.pollutant ?? "",
    state: a.status,
    message: a.message,
    firm: a.firm,
    title: a.title,
    text: a.text,
    unit: a.unit ?? "",
    limitUnit: a.limit_unit ?? "",
    since: toMs(a.since),
    late: a.late,
    details: a.details ?? {},
    value: a.value,
    limit: a.limit,
    t: toMs(a.opened_at),
    by: a.status === "resolved" ? a.resolved_by : a.acknowledged_by,
    comment: a.status === "resolved" ? a.resolve_comment ?? a.ack_comment : a.ack_comment,
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
