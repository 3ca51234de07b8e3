// Charts on uPlot (vendor/uPlot.iife.min.js, global `uPlot`): share vs goal, fuel bars, VOC vs limit.

import { fmtNumber, fmtPct, t, timeZone } from "./i18n.js";

export const COLORS = {
  gas: "#2f7ed8",
  coal: "#5a5a5a",
  goal: "#d64545",
  limit: "#d64545",
  projection: "#2e9d5b",
  voc: "#7a4fd0",
  late: "#e08a00",
  production: "#2f7ed8",
  treatment: "#2e9d5b",
  grid: "#e6e9ef",
  axis: "#5b6473",
};

const FONT = '12px "PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei","Noto Sans CJK SC",sans-serif';

function axis(values, extra = {}) {
  return {
    stroke: COLORS.axis,
    font: FONT,
    grid: { stroke: COLORS.grid, width: 1 },
    ticks: { stroke: COLORS.grid, width: 1 },
    values,
    ...extra,
  };
}

function widthOf(el) {
  return Math.max(280, Math.floor(el.getBoundingClientRect().width || el.clientWidth || 600));
}

/** Keep charts as wide as their container. */
const observed = new Map();
const resizer = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const chart = observed.get(entry.target);
    if (chart) chart.setSize({ width: widthOf(entry.target), height: chart.height });
  }
});

function mount(el, opts, data) {
  const old = observed.get(el);
  if (old) old.destroy();
  el.textContent = "";
  const chart = new uPlot({ width: widthOf(el), ...opts }, data, el);
  observed.set(el, chart);
  resizer.observe(el);
  el.dataset.points = String(data[0].length);
  el._uplot = chart; // read by the browser tests (tick labels)
  return chart;
}

function tzDate(ts) {
  return uPlot.tzDate(new Date(ts * 1e3), timeZone());
}

const DAY_S = 86_400;

/** Labels with repeats blanked: a label says something new or nothing. */
export function distinct(labels) {
  let previous = null;
  return labels.map((text) => {
    const out = text === previous ? "" : text;
    previous = text;
    return out;
  });
}

/** 24-hour clock ticks; the date under the first tick of each day (or dates only on long spans). */
function timeTicks(u, splits) {
  const day = uPlot.fmtDate("{M}/{D}");
  const clock = uPlot.fmtDate("{HH}:{mm}");
  const span = u.scales.x.max - u.scales.x.min;
  let previous = null;
  return distinct(
    splits.map((ts) => {
      const d = tzDate(ts);
      if (span > 4 * DAY_S) return day(d);
      const label = day(d) !== previous ? `${clock(d)}\n${day(d)}` : clock(d);
      previous = day(d);
      return label;
    }),
  );
}

const GAP_FILL = "rgba(140,150,165,0.16)";
// Hours a plant marked (stopped, maintenance, fault, calibration) and an officer accepted.
const MARK_FILL = "rgba(230,160,40,0.22)";

/**
 * A drawClear hook shading the intervals `i` where `isGap(i)` (no data, insufficient data),
 * half a step either side of each x, with `text` written in the first of each run.
 */
function gapBands(xs, isGap, text, fill = GAP_FILL) {
  return (u) => {
    const ctx = u.ctx;
    const { top, height } = u.bbox;
    ctx.save();
    ctx.fillStyle = fill;
    ctx.font = FONT.replace("12px", `${Math.round(11 * devicePixelRatio)}px`);
    ctx.textAlign = "center";
    for (let i = 0; i < xs.length; i++) {
      if (!isGap(i)) continue;
      const step = xs.length > 1 ? (i > 0 ? xs[i] - xs[i - 1] : xs[1] - xs[0]) : 3600;
      const left = u.valToPos(xs[i] - step / 2, "x", true);
      const right = u.valToPos(xs[i] + step / 2, "x", true);
      ctx.fillRect(left, top, Math.max(1, right - left), height);
      if (text && (i === 0 || !isGap(i - 1)) && right - left > 0) {
        ctx.fillStyle = COLORS.axis;
        ctx.fillText(text, Math.max(left + 20 * devicePixelRatio, (left + right) / 2), top + 14 * devicePixelRatio);
        ctx.fillStyle = fill;
      }
    }
    ctx.restore();
  };
}

function legendTime(withHour) {
  return uPlot.fmtDate(withHour ? "{YYYY}-{MM}-{DD} {HH}:{mm}" : "{YYYY}-{MM}");
}

function timeSeries(withHour) {
  const fmt = legendTime(withHour);
  return { label: t("chart.time"), value: (u, v) => (v === null ? "–" : fmt(tzDate(v))) };
}

/** Pad the time scale by half a step so the first and last bars are not cut. */
function paddedRange(step) {
  return (u, min, max) => [min - step / 2, max + step / 2];
}

/** Monthly share line with the goal line and the year-end projection (dashed). */
export function shareHistoryChart(el, history, goal, labels) {
  const xs = history.months.map((m) => m.t / 1000);
  const share = history.months.map((m) => m.share);
  const proj = xs.map(() => null);
  if (history.projection !== null && xs.length) {
    const last = xs[xs.length - 1];
    const year = new Date(last * 1000).getUTCFullYear();
    xs.push(Date.UTC(year, 11, 1) / 1000);
    share.push(null);
    proj[proj.length - 1] = history.months[history.months.length - 1].share;
    proj.push(history.projection);
  }
  const goalLine = xs.map(() => goal);
  const month = uPlot.fmtDate("{YYYY}-{MM}");
  const monthCount = history.months.length;
  // One tick per month of data (never two labels for one month), fewer when they crowd.
  const monthSplits = (u) => {
    const every = Math.max(1, Math.ceil(xs.length / Math.max(1, Math.floor(u.bbox.width / devicePixelRatio / 70))));
    return xs.filter((_, i) => i % every === 0);
  };
  const noData = (i) => i < monthCount && history.months[i].share === null;
  el.dataset.gaps = String(history.months.filter((m) => m.share === null).length);
  return mount(
    el,
    {
      height: 260,
      tzDate,
      scales: { x: { time: true, range: paddedRange(xs.length > 1 ? (xs[xs.length - 1] - xs[0]) / (xs.length - 1) : DAY_S * 30) }, y: { range: [0, 1] } },
      axes: [
        axis((u, vals) => distinct(vals.map((v) => month(tzDate(v)))), { splits: monthSplits }),
        axis((u, vals) => vals.map((v) => fmtPct(v, 0)), { size: 56 }),
      ],
      hooks: { drawClear: [gapBands(xs, noData, labels.nodata)] },
      series: [
        timeSeries(false),
        {
          label: labels.share,
          stroke: COLORS.gas,
          width: 3,
          fill: "rgba(47,126,216,0.10)",
          points: { show: true, size: 7, fill: COLORS.gas },
          value: (u, v) => fmtPct(v),
        },
        {
          label: labels.projection,
          stroke: COLORS.projection,
          width: 2,
          dash: [6, 5],
          // A marker at the projected December only: the line starts on this month's share,
          // whose own (blue) point a second marker would cover.
          points: { show: true, size: 8, fill: "#fff", filter: () => [xs.length - 1] },
          value: (u, v) => fmtPct(v),
        },
        { label: labels.goal, stroke: COLORS.goal, width: 2, dash: [3, 3], points: { show: false }, value: (u, v) => fmtPct(v, 0) },
      ],
    },
    [xs, share, proj, goalLine],
  );
}

/**
 * Gas m³ (left axis) and coal kg (right axis) side by side per interval, each on its own
 * scale so neither fuel vanishes beside the other; intervals without any reading are gaps.
 */
export function usageChart(el, rows, labels) {
  const xs = rows.map((r) => r.t / 1000);
  const gas = rows.map((r) => (r.gap ? null : r.gasM3));
  const coal = rows.map((r) => (r.gap ? null : r.coalKg));
  const step = xs.length > 1 ? xs[1] - xs[0] : 3600;
  const top = (u, min, max) => [0, Math.max(1, (max ?? 0) * 1.15)];
  el.dataset.gaps = String(rows.filter((r) => r.gap).length);
  return mount(
    el,
    {
      height: 280,
      tzDate,
      scales: {
        x: { time: true, range: paddedRange(step) },
        gas: { range: top },
        coal: { range: top },
      },
      axes: [
        axis(timeTicks),
        axis((u, vals) => vals.map((v) => fmtNumber(v)), { scale: "gas", size: 70, stroke: COLORS.gas }),
        axis((u, vals) => vals.map((v) => fmtNumber(v)), { scale: "coal", side: 1, size: 70, stroke: COLORS.coal, grid: { show: false } }),
      ],
      series: [
        timeSeries(true),
        {
          label: labels.gas,
          scale: "gas",
          stroke: COLORS.gas,
          fill: "rgba(47,126,216,0.9)",
          paths: uPlot.paths.bars({ size: [0.42, 40], align: -1 }),
          points: { show: false },
          value: (u, v) => (v === null ? "–" : fmtNumber(v, 1)),
        },
        {
          label: labels.coal,
          scale: "coal",
          stroke: COLORS.coal,
          fill: "rgba(90,90,90,0.85)",
          paths: uPlot.paths.bars({ size: [0.42, 40], align: 1 }),
          points: { show: false },
          value: (u, v) => (v === null ? "–" : fmtNumber(v, 1)),
        },
      ],
      hooks: { drawClear: [gapBands(xs, (i) => rows[i].gap, labels.gap)] },
    },
    [xs, gas, coal],
  );
}

/** One pollutant's hourly means with its limit; hours above the limit are marked red. */
export function vocChart(el, series, labels) {
  const xs = series.hours.map((h) => h.t / 1000);
  const mean = series.hours.map((h) => h.mean);
  const limit = series.limit;
  const over = series.hours.map((h) => (h.exceeds ? h.mean : null));
  // A late-filled hour (the API's `late_filled`) is marked on its mean, or on the axis when
  // the hour has no valid mean.
  const late = series.hours.map((h) => (h.late ? h.mean ?? 0 : null));
  const data = [xs, mean, over, late];
  const list = [
    timeSeries(true),
    {
      label: labels.mean,
      stroke: COLORS.voc,
      width: 2,
      fill: "rgba(122,79,208,0.08)",
      // dots make a lone valid hour (between insufficient ones) visible; a line needs two
      points: { show: true, size: 4, fill: COLORS.voc },
      value: (u, v) => (v === null ? "–" : fmtNumber(v, 2)),
    },
    {
      label: labels.exceed,
      stroke: COLORS.limit,
      width: 0,
      paths: () => null,
      points: { show: true, size: 8, fill: COLORS.limit, stroke: COLORS.limit },
      value: (u, v) => (v === null ? "–" : fmtNumber(v, 2)),
    },
    {
      label: labels.late,
      stroke: COLORS.late,
      width: 0,
      paths: () => null,
      points: { show: true, size: 12, width: 3, fill: "rgba(0,0,0,0)", stroke: COLORS.late },
      value: (u, v) => (v === null ? "–" : fmtNumber(v, 2)),
    },
  ];
  if (limit !== null) {
    data.push(xs.map(() => limit));
    list.push({ label: labels.limit, stroke: COLORS.limit, width: 2, dash: [6, 4], points: { show: false }, value: () => fmtNumber(limit, 1) });
  }
  const top = Math.max(limit ?? 0, ...mean.filter((v) => v !== null));
  el.dataset.gaps = String(series.hours.filter((h) => !h.valid && !h.marked).length);
  el.dataset.late = String(series.hours.filter((h) => h.late).length);
  el.dataset.marked = String(series.hours.filter((h) => h.marked).length);
  return mount(
    el,
    {
      height: 220,
      tzDate,
      scales: { x: { time: true }, y: { range: () => [0, Math.max(1e-6, top * 1.15)] } },
      axes: [axis(timeTicks), axis((u, vals) => distinct(vals.map((v) => fmtNumber(v, v < 10 ? 1 : 0))), { size: 56 })],
      series: list,
      hooks: {
        drawClear: [
          gapBands(xs, (i) => !series.hours[i].valid && !series.hours[i].marked, ""),
          gapBands(xs, (i) => series.hours[i].marked, labels.marked ?? "", MARK_FILL),
        ],
      },
    },
    data,
  );
}

const OUT_OF_SYNC_FILL = "rgba(214,69,69,0.16)";

/**
 * One line's production and treatment power (15-minute means, kW) side by side, each on its
 * own axis, with the quarter hours out of sync (producing, treatment not running) in red.
 */
export function powerChart(el, line, labels) {
  const half = 450; // x is the middle of each quarter hour: its band covers the quarter hour
  const xs = line.buckets.map((b) => b.t / 1000 + half);
  const top = (u, min, max) => [0, Math.max(0.5, (max ?? 0) * 1.15)];
  el.dataset.outOfSync = String(line.buckets.filter((b) => b.outOfSync).length);
  return mount(
    el,
    {
      height: 240,
      tzDate,
      scales: { x: { time: true }, prod: { range: top }, treat: { range: top } },
      axes: [
        axis(timeTicks),
        axis((u, vals) => vals.map((v) => fmtNumber(v)), { scale: "prod", size: 60, stroke: COLORS.production }),
        axis((u, vals) => vals.map((v) => fmtNumber(v, 1)), { scale: "treat", side: 1, size: 60, stroke: COLORS.treatment, grid: { show: false } }),
      ],
      series: [
        timeSeries(true),
        { label: labels.production, scale: "prod", stroke: COLORS.production, width: 2, points: { show: false }, value: (u, v) => (v === null ? "–" : fmtNumber(v, 1)) },
        { label: labels.treatment, scale: "treat", stroke: COLORS.treatment, width: 2, points: { show: false }, value: (u, v) => (v === null ? "–" : fmtNumber(v, 2)) },
      ],
      hooks: { drawClear: [gapBands(xs, (i) => line.buckets[i].outOfSync, labels.outOfSync, OUT_OF_SYNC_FILL)] },
    },
    [xs, line.buckets.map((b) => b.production), line.buckets.map((b) => b.treatment)],
  );
}
