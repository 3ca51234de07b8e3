// Revisions of recorded readings (SPEC section 14): the record stands; an officer accepts one.
import { get, normalizeRevisions, post } from "./api.js";
import { $, esc, toast, track } from "./dom.js";
import { fmtNumber, fmtTime, label, t } from "./i18n.js";

const MAX_ROWS = 200;

function valueText(value, flag) {
  return `${value === null ? "–" : fmtNumber(value, 2)} <span class="muted">${esc(flag)}</span>`;
}

function row(r) {
  const state =
    r.status === "pending"
      ? `<span class="bad">${esc(t("rv.pending"))}</span>
         <button type="button" class="primary small-button" data-accept="${esc(r.id)}" data-testid="accept-revision">${esc(t("rv.accept"))}</button>`
      : `<span class="ok">${esc(t("rv.accepted", { by: r.by ?? "", at: fmtTime(r.at) }))}</span>`;
  return `<tr data-status="${esc(r.status)}">
    <td>${esc(fmtTime(r.t))}</td><td>${esc(r.meter)}</td><td>${esc(label("poll", r.name))}</td>
    <td class="num">${valueText(r.record, r.recordFlag)}</td>
    <td class="num revised">${valueText(r.value, r.flag)}</td>
    <td>${esc(t(`rv.src.${r.source}`))}</td><td>${esc(fmtTime(r.arrived))}</td><td>${state}</td></tr>`;
}

/** The plant's revisions card: hidden when the plant has none (or the route is absent). */
export async function loadRevisions(root, plantId) {
  const card = $("#revisions-card", root);
  let list;
  try {
    list = normalizeRevisions(await get(`/plants/${encodeURIComponent(plantId)}/revisions`));
  } catch {
    card.hidden = true;
    return;
  }
  if (!list.length) {
    card.hidden = true;
    return;
  }
  const pending = list.filter((r) => r.status === "pending").length;
  const shown = list.slice(0, MAX_ROWS);
  $("#revisions", root).innerHTML = `
    <p class="muted small note" data-testid="revisions-note">${esc(t("rv.note", { pending, total: list.length }))}
      ${list.length > shown.length ? esc(t("rv.more", { shown: shown.length })) : ""}</p>
    <div class="table-wrap"><table class="table small" data-testid="revisions">
      <thead><tr><th>${esc(t("rv.time"))}</th><th>${esc(t("rv.meter"))}</th><th>${esc(t("rv.name"))}</th>
        <th>${esc(t("rv.record"))}</th><th>${esc(t("rv.revised"))}</th><th>${esc(t("rv.source"))}</th>
        <th>${esc(t("rv.arrived"))}</th><th>${esc(t("rv.status"))}</th></tr></thead>
      <tbody>${shown.map(row).join("")}</tbody>
    </table></div>`;
  card.hidden = false;
  for (const button of card.querySelectorAll("[data-accept]")) {
    button.addEventListener("click", () =>
      track(async () => {
        button.disabled = true;
        try {
          await post(`/revisions/${encodeURIComponent(button.dataset.accept)}/accept`, {});
          toast(t("rv.done"), "ok");
          await loadRevisions(root, plantId);
        } catch (err) {
          toast(`${t("common.error")}: ${err.message}`, "error");
          button.disabled = false;
        }
      }),
    );
  }
}
