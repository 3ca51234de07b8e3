// Charts on uPlot (vendor/uPlot.iife.min.js, global `uPlot`): share vs goal, fuel bars, VOC vs limit.

import { fmtNumber, fmtPct, t, timeZone } from "./i18n.js";

export const COLORS = {
  gas: "#2f7ed8",
  coal: "#5a5a5a",
  goal: "#d64545",
  limit: "#d64545",
  projection: "#2e9d5b",
  voc: "#7a4fd0",
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
  return chart;
}

function tzDate(ts) {
  return uPlot.tzDate(new Date(ts * 1e3), timeZone());
}

const DAY_S = 86_400;

/** 24-hour clock ticks; the date under the first tick of each day (or dates only on long spans). */
function timeTicks(u, splits) {
  const day = uPlot.fmtDate("{M}/{D}");
  const clock = uPlot.fmtDate("{HH}:{mm}");
  const span = u.scales.x.max - u.scales.x.min;
  let previous = null;
  return splits.map((ts) => {
    const d = tzDate(ts);
    if (span > 4 * DAY_S) return day(d);
    const label = day(d) !== previous ? `${clock(d)}\n${day(d)}` : clock(d);
    previous = day(d);
    return label;
  });
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
  return mount(
    el,
    {
      height: 260,
      tzDate,
      scales: { x: { time: true }, y: { range: [0, 1] } },
      axes: [
        axis((u, vals) => vals.map((v) => month(tzDate(v)))),
        axis((u, vals) => vals.map((v) => fmtPct(v, 0)), { size: 56 }),
      ],
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
          points: { show: true, size: 8, fill: "#fff" },
          value: (u, v) => fmtPct(v),
        },
        { label: labels.goal, stroke: COLORS.goal, width: 2, dash: [3, 3], points: { show: false }, value: (u, v) => fmtPct(v, 0) },
      ],
    },
    [xs, share, proj, goalLine],
  );
}

/** Stacked bars per interval: gas kgce at the bottom, coal kgce above it. */
export function usageChart(el, rows, labels) {
  const xs = rows.map((r) => r.t / 1000);
  const gas = rows.map((r) => r.gasKgce);
  const total = rows.map((r) => r.gasKgce + r.coalKgce);
  const bars = uPlot.paths.bars({ size: [0.8, 60], align: 0 });
  const step = xs.length > 1 ? xs[1] - xs[0] : 3600;
  return mount(
    el,
    {
      height: 280,
      tzDate,
      scales: {
        x: { time: true, range: paddedRange(step) },
        y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] },
      },
      axes: [axis(timeTicks), axis((u, vals) => vals.map((v) => fmtNumber(v)), { size: 70 })],
      series: [
        timeSeries(true),
        {
          label: labels.coal,
          stroke: COLORS.coal,
          fill: "rgba(90,90,90,0.85)",
          paths: bars,
          points: { show: false },
          // drawn as the stack's top; the legend shows coal alone
          value: (u, v, si, di) => (di === null || di === undefined ? "–" : fmtNumber(total[di] - gas[di], 1)),
        },
        {
          label: labels.gas,
          stroke: COLORS.gas,
          fill: "rgba(47,126,216,0.95)",
          paths: bars,
          points: { show: false },
          value: (u, v) => fmtNumber(v, 1),
        },
      ],
    },
    [xs, total, gas],
  );
}

/** One pollutant's hourly means with its limit; hours above the limit are marked red. */
export function vocChart(el, series, labels) {
  const xs = series.hours.map((h) => h.t / 1000);
  const mean = series.hours.map((h) => h.mean);
  const limit = series.limit;
  const over = series.hours.map((h) => (h.exceeds ? h.mean : null));
  const data = [xs, mean, over];
  const list = [
    timeSeries(true),
    {
      label: labels.mean,
      stroke: COLORS.voc,
      width: 2,
      fill: "rgba(122,79,208,0.08)",
      points: { show: false },
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
  ];
  if (limit !== null) {
    data.push(xs.map(() => limit));
    list.push({ label: labels.limit, stroke: COLORS.limit, width: 2, dash: [6, 4], points: { show: false }, value: () => fmtNumber(limit, 1) });
  }
  const top = Math.max(limit ?? 0, ...mean.filter((v) => v !== null));
  return mount(
    el,
    {
      height: 220,
      tzDate,
      scales: { x: { time: true }, y: { range: () => [0, Math.max(1e-6, top * 1.15)] } },
      axes: [axis(timeTicks), axis((u, vals) => vals.map((v) => fmtNumber(v, v < 10 ? 1 : 0)), { size: 56 })],
      series: list,
    },
    data,
  );
}
