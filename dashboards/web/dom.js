// Small DOM helpers shared by the pages.

import { downloadCsv } from "./api.js";
import { t } from "./i18n.js";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text made safe for HTML (every value from the API goes through this). */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

let pending = 0;

/**
 * Run `work` (a page or panel load) under the page's readiness signal:
 * `document.body.dataset.ready` is "false" while any such work runs and "true" once every
 * panel has drawn, or reported empty or an error. Browser tests wait on it.
 */
export async function track(work) {
  pending += 1;
  document.body.dataset.ready = "false";
  try {
    return await work();
  } finally {
    pending -= 1;
    if (pending === 0) document.body.dataset.ready = "true";
  }
}

let toastTimer = null;

export function toast(message, kind = "info") {
  const el = $("#toast");
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 4000);
}

/** A card's body while loading or after an error. */
export function placeholder(text, kind = "muted") {
  return `<div class="placeholder ${kind}">${esc(text)}</div>`;
}

/** A button that downloads the API's CSV at `path` (wired by `wireExports`). */
export function exportButton(path, filename) {
  return `<button type="button" class="secondary small-button" data-export="${esc(path)}" data-filename="${esc(filename)}" data-testid="export">${esc(t("common.export"))}</button>`;
}

/** Make the export buttons under `root` download their CSV (the key goes in a header). */
export function wireExports(root) {
  for (const button of root.querySelectorAll("[data-export]:not([data-wired])")) {
    button.dataset.wired = "true";
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await downloadCsv(button.dataset.export, button.dataset.filename);
        toast(t("common.exported"), "ok");
      } catch (err) {
        toast(`${t("common.error")}: ${err.message}`, "error");
      } finally {
        button.disabled = false;
      }
    });
  }
}

/** Widths from `data-width` (a fraction), set through the CSSOM: the CSP forbids inline styles. */
export function applyWidths(root) {
  for (const el of root.querySelectorAll("[data-width]")) {
    el.style.width = `${Math.max(0, Math.min(1, Number(el.dataset.width) || 0)) * 100}%`;
  }
  for (const el of root.querySelectorAll("[data-left]")) {
    el.style.left = `${Math.max(0, Math.min(1, Number(el.dataset.left) || 0)) * 100}%`;
  }
}
