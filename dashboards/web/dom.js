// Small DOM helpers shared by the pages.

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
