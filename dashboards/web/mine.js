// A plant's own page (plant key): its meters, stacks' hours and rates and charts (the plant
// page), its marks with their review and a form to mark a period, its alerts and tasks
// (read only), its refused readings with reasons. Nothing of any other plant.

import { get, normalizeAlerts, post, toMs } from "./api.js";
import { $, esc, placeholder, toast, track } from "./dom.js";
import { fmtWhen, label, t } from "./i18n.js";
import { renderPlant } from "./plant.js";
import { marksList, taskCard } from "./tasks.js";

function markForm(meters) {
  const now = new Date();
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  return `
    <form id="new-mark" class="new-task" data-testid="new-mark">
      <label>${esc(t("pl.meter"))}<select name="meter" data-testid="mark-meter">${meters
        .map((m) => `<option value="${esc(m.id)}">${esc(m.id)} · ${esc(label("kind", m.kind))}</option>`)
        .join("")}</select></label>
      <label>${esc(t("mk.kind"))}<select name="kind" data-testid="mark-kind">${["maintenance", "stopped", "fault", "calibration"]
        .map((k) => `<option value="${k}">${esc(t(`mk.kind.${k}`))}</option>`)
        .join("")}</select></label>
      <label>${esc(t("mk.start"))}<input name="start" type="datetime-local" required value="${esc(local(new Date(now - 3 * 3600e3)))}" data-testid="mark-start"></label>
      <label>${esc(t("mk.end"))}<input name="end" type="datetime-local" required value="${esc(local(now))}" data-testid="mark-end"></label>
      <label class="wide">${esc(t("mk.reason"))}<input name="reason" required data-testid="mark-reason"></label>
      <label class="wide">${esc(t("tk.evidence"))}<input name="evidence" data-testid="mark-evidence" placeholder="${esc(t("tk.evidence.help"))}"></label>
      <div class="actions"><button type="submit" class="primary" data-testid="mark-submit">${esc(t("mk.submit"))}</button></div>
    </form>`;
}

export async function renderMine(root, me) {
  const plantId = me.plant;
  const id = encodeURIComponent(plantId);
  root.innerHTML = `
    <div id="mine-plant"></div>
    <section class="card" id="mine-marks"><h2>${esc(t("mk.title"))}</h2>
      <p class="muted small note">${esc(t("mk.why"))}</p>
      <div id="mine-mark-form"></div>
      <div id="mine-mark-list" data-testid="mine-marks">${placeholder(t("common.loading"))}</div></section>
    <section class="card" id="mine-alerts"><h2>${esc(t("mine.alerts"))}</h2><div id="mine-alert-list" data-testid="mine-alerts"></div></section>
    <section class="card" id="mine-tasks"><h2>${esc(t("mine.tasks"))}</h2><div id="mine-task-list" class="task-board" data-testid="mine-tasks"></div></section>
    <section class="card" id="mine-refused"><h2>${esc(t("mine.refused"))}</h2><div id="mine-refused-list" data-testid="mine-refused"></div></section>`;
  const names = new Map();
  const [plant, marks, alerts, tasks, refused] = await Promise.all([
    get(`/plants/${id}`),
    get(`/marks?plant=${id}`),
    get(`/alerts?status=active`),
    get(`/tasks`),
    get(`/plants/${id}/refused`),
    renderPlant($("#mine-plant", root), plantId, []),
  ]);
  names.set(plant.id, plant.name);
  $("#mine-mark-form", root).innerHTML = markForm(plant.meters);
  $("#mine-mark-list", root).innerHTML = marksList(marks.marks, names, false);
  const list = normalizeAlerts(alerts);
  $("#mine-alert-list", root).innerHTML = list.length
    ? `<ul class="plain">${list
        .map((a) => `<li><b>${esc(a.title || label("kind", a.kind))}</b> <span class="muted small">${esc(fmtWhen(a.since ?? a.t))}</span><div class="small">${esc(a.text || "")}</div></li>`)
        .join("")}</ul>`
    : placeholder(t("al.empty"));
  $("#mine-task-list", root).innerHTML = tasks.tasks.length
    ? tasks.tasks.map((task) => taskCard(task, names, me, true)).join("")
    : placeholder(t("tk.empty"));
  $("#mine-refused-list", root).innerHTML = refused.refused.length
    ? `<table class="table small"><thead><tr><th>${esc(t("mine.when"))}</th><th>${esc(t("mine.code"))}</th><th>${esc(t("mine.reason"))}</th></tr></thead><tbody>${refused.refused
        .map((r) => `<tr><td class="nowrap">${esc(fmtWhen(toMs(r.at)))}</td><td>${esc(label("refused", r.code))}</td><td>${esc(r.reason)}</td></tr>`)
        .join("")}</tbody></table>`
    : placeholder(t("mine.refused.none"));
  const form = $("#new-mark", root);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const at = (v) => new Date(String(v)).toISOString();
    await track(async () => {
      try {
        await post(`/plants/${id}/marks`, {
          meter: data.get("meter"),
          kind: data.get("kind"),
          start: at(data.get("start")),
          end: at(data.get("end")),
          reason: data.get("reason"),
          evidence: String(data.get("evidence") ?? "")
            .split(/[,，\s]+/)
            .filter(Boolean),
        });
        toast(t("mk.sent"), "ok");
        await renderMine(root, me);
      } catch (err) {
        toast(`${t("common.error")}: ${err.message}`, "error");
      }
    });
  });
}
