// Dispositions: the officer's board of tasks (派单 → 处置 → 办结) and the marks plants await a
// review for; an inspector's own tasks. Every figure and state is the API's.

import { get, post, toMs } from "./api.js";
import { $, esc, placeholder, toast, track } from "./dom.js";
import { fmtWhen, label, t } from "./i18n.js";

const FILTERS = ["open", "closed", "all"];
let filter = "open";

function refs(text) {
  return text
    .split(/[,，\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A datetime-local value (the county's wall time is the browser's here) as RFC 3339. */
function instant(value) {
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function stateOf(task) {
  if (task.status === "closed") return task.overdue ? "closed-late" : "closed";
  return task.overdue ? "overdue" : "open";
}

function actionsList(task) {
  if (!task.actions.length) return "";
  return `<ol class="task-actions">${task.actions
    .map(
      (a) => `<li><span class="muted small">${esc(fmtWhen(toMs(a.at)))} · ${esc(a.actor)}</span>
        <div>${esc(a.note)}</div>
        ${a.evidence.length ? `<div class="small muted">${esc(t("tk.evidence"))}: ${a.evidence.map(esc).join(" · ")}</div>` : ""}</li>`,
    )
    .join("")}</ol>`;
}

export function taskCard(task, plantNames, me, readOnly = false) {
  const state = stateOf(task);
  const firms = task.plants.map((p) => plantNames.get(p) || p).join("、");
  const canAct = !readOnly && task.status === "open" && (me.role !== "viewer" && me.role !== "plant");
  const canClose = canAct && (me.role === "officer" || me.role === "admin");
  return `
    <article class="task state-${esc(state)}" data-id="${esc(task.id)}" data-testid="task-${esc(task.id)}" data-state="${esc(state)}">
      <div class="task-title">
        <span class="chip task-${esc(state)}">${esc(t(`tk.state.${state}`))}</span>
        <span class="chip prio-${esc(task.priority)}">${esc(t(`tk.prio.${task.priority}`))}</span>
        <b>#${esc(task.id)} ${esc(firms)}</b>
      </div>
      <div class="task-meta small">
        <span>${esc(t("tk.assignee"))}: <b>${esc(task.assignee)}</b></span>
        <span>${esc(t("tk.deadline"))}: <b>${esc(fmtWhen(toMs(task.deadline)))}</b></span>
        <span>${esc(t("tk.alerts"))}: ${task.alerts.map((id) => `#${esc(id)}`).join(" ")}</span>
      </div>
      ${task.note ? `<div class="small">${esc(task.note)}</div>` : ""}
      ${actionsList(task)}
      ${task.conclusion ? `<div class="comment">${esc(t("tk.conclusion"))}: “${esc(task.conclusion)}” — ${esc(task.closed_by)}</div>` : ""}
      ${
        canAct
          ? `<form class="task-form" data-kind="action">
          <textarea name="note" rows="2" required data-testid="action-note" placeholder="${esc(t("tk.action.note"))}"></textarea>
          <input name="evidence" data-testid="action-evidence" placeholder="${esc(t("tk.evidence.help"))}">
          <div class="actions"><button type="submit" class="primary" data-testid="action-submit">${esc(t("tk.action"))}</button></div>
        </form>`
          : ""
      }
      ${
        canClose
          ? `<form class="task-form" data-kind="close">
          <textarea name="conclusion" rows="2" required data-testid="close-note" placeholder="${esc(t("tk.conclusion.help"))}"></textarea>
          <div class="actions"><button type="submit" class="secondary" data-testid="close-submit">${esc(t("tk.close"))}</button></div>
        </form>`
          : ""
      }
    </article>`;
}

function markCard(mark, plantNames, canReview) {
  const covers = mark.covers_alerts.length
    ? `<div class="warn small" data-testid="mark-covers">${esc(t("mk.covers", { n: mark.covers_alerts.length }))} ${mark.covers_alerts
        .map((a) => `#${esc(a.id)} ${esc(label("kind", a.kind))}`)
        .join("、")}</div>`
    : "";
  return `
    <article class="mark state-${esc(mark.status)}" data-id="${esc(mark.id)}" data-testid="mark-${esc(mark.id)}">
      <div class="task-title">
        <span class="chip mark-${esc(mark.status)}">${esc(t(`mk.status.${mark.status}`))}</span>
        <span class="chip mark-kind">${esc(t(`mk.kind.${mark.kind}`))}</span>
        <b>${esc(plantNames.get(mark.plant) || mark.plant)} · ${esc(mark.meter)}</b>
      </div>
      <div class="small">${esc(fmtWhen(toMs(mark.start)))} – ${esc(fmtWhen(toMs(mark.end)))}</div>
      <div class="small">${esc(mark.reason)}</div>
      ${mark.evidence.length ? `<div class="small muted">${esc(t("tk.evidence"))}: ${mark.evidence.map(esc).join(" · ")}</div>` : ""}
      ${covers}
      ${mark.review_comment ? `<div class="comment">“${esc(mark.review_comment)}” — ${esc(mark.reviewed_by)}</div>` : ""}
      ${
        canReview && mark.status === "pending"
          ? `<form class="task-form" data-kind="review">
          <textarea name="comment" rows="2" required data-testid="review-comment" placeholder="${esc(t("mk.review.help"))}"></textarea>
          <div class="actions">
            <button type="submit" class="secondary" data-verdict="reject" data-testid="mark-reject">${esc(t("mk.reject"))}</button>
            <button type="submit" class="primary" data-verdict="accept" data-testid="mark-accept">${esc(t("mk.accept"))}</button>
          </div>
        </form>`
          : ""
      }
    </article>`;
}

export function marksList(marks, plantNames, canReview) {
  return marks.length
    ? marks.map((m) => markCard(m, plantNames, canReview)).join("")
    : placeholder(t("common.none"));
}

/** Submit handlers of the forms under `root` (actions, closing, reviews); `done` redraws. */
export function wireForms(root, done) {
  for (const form of root.querySelectorAll("form.task-form")) {
    let verdict = "accept";
    for (const b of form.querySelectorAll("[data-verdict]")) b.addEventListener("click", () => (verdict = b.dataset.verdict));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const card = form.closest("[data-id]");
      const id = encodeURIComponent(card.dataset.id);
      const data = new FormData(form);
      const kind = form.dataset.kind;
      await track(async () => {
        try {
          if (kind === "action") await post(`/tasks/${id}/actions`, { note: data.get("note"), evidence: refs(String(data.get("evidence") ?? "")) });
          else if (kind === "close") await post(`/tasks/${id}/close`, { conclusion: data.get("conclusion") });
          else await post(`/marks/${id}/${verdict}`, { comment: data.get("comment") });
          toast(t("tk.saved"), "ok");
          await done();
        } catch (err) {
          toast(`${t("common.error")}: ${err.message}`, "error");
        }
      });
    });
  }
}

function newTaskForm(alertIds) {
  const soon = new Date(Date.now() + 3 * 24 * 3600 * 1000);
  const local = new Date(soon.getTime() - soon.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  return `
    <form id="new-task" class="new-task" data-testid="new-task">
      <label>${esc(t("tk.alerts"))}<input name="alerts" required value="${esc(alertIds)}" data-testid="new-alerts" placeholder="12, 15"></label>
      <label>${esc(t("tk.assignee"))}<input name="assignee" required data-testid="new-assignee"></label>
      <label>${esc(t("tk.deadline"))}<input name="deadline" type="datetime-local" required value="${esc(local)}" data-testid="new-deadline"></label>
      <label>${esc(t("tk.priority"))}<select name="priority" data-testid="new-priority">${["normal", "high", "urgent", "low"]
        .map((p) => `<option value="${p}">${esc(t(`tk.prio.${p}`))}</option>`)
        .join("")}</select></label>
      <label class="wide">${esc(t("tk.note"))}<input name="note" data-testid="new-note"></label>
      <div class="actions"><button type="submit" class="primary" data-testid="new-submit">${esc(t("tk.create"))}</button></div>
    </form>`;
}

export async function renderTasks(root, plantNames, me, arg = "") {
  const officer = me.role === "officer" || me.role === "admin";
  const prefill = arg.startsWith("alert-") ? arg.slice(6) : "";
  root.innerHTML = `
    ${officer ? `<section class="card"><h2>${esc(t("tk.new"))}</h2>${newTaskForm(prefill)}</section>` : ""}
    ${me.role === "inspector" ? "" : `<section class="card" id="marks-card"><h2>${esc(t("mk.pending"))}</h2><div id="mark-list" data-testid="mark-list">${placeholder(t("common.loading"))}</div></section>`}
    <section class="card">
      <div class="card-head">
        <h2>${esc(t(me.role === "inspector" ? "tk.mine" : "tk.title"))}</h2>
        <div class="segmented" role="tablist">${FILTERS.map(
          (f) => `<button type="button" data-filter="${f}" class="${f === filter ? "active" : ""}">${esc(t(`tk.filter.${f}`))}</button>`,
        ).join("")}</div>
      </div>
      <div id="task-list" class="task-board" data-testid="task-board">${placeholder(t("common.loading"))}</div>
    </section>`;
  for (const button of root.querySelectorAll("[data-filter]")) {
    button.addEventListener("click", () => {
      filter = button.dataset.filter;
      track(() => renderTasks(root, plantNames, me));
    });
  }
  const form = $("#new-task", root);
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      await track(async () => {
        try {
          await post("/tasks", {
            alerts: refs(String(data.get("alerts"))).map(Number),
            assignee: data.get("assignee"),
            deadline: instant(data.get("deadline")),
            priority: data.get("priority"),
            note: data.get("note") ?? "",
          });
          toast(t("tk.saved"), "ok");
          await renderTasks(root, plantNames, me);
        } catch (err) {
          toast(`${t("common.error")}: ${err.message}`, "error");
        }
      });
    });
  }
  const redraw = () => renderTasks(root, plantNames, me);
  const query = filter === "all" ? "" : `?status=${filter}`;
  const [tasks, marks] = await Promise.all([
    get(`/tasks${query}`),
    me.role === "inspector" ? Promise.resolve(null) : get("/marks?status=pending"),
  ]);
  $("#task-list", root).innerHTML = tasks.tasks.length
    ? tasks.tasks.map((task) => taskCard(task, plantNames, me)).join("")
    : placeholder(t("tk.empty"));
  if (marks) $("#mark-list", root).innerHTML = marksList(marks.marks, plantNames, officer);
  wireForms(root, redraw);
}
