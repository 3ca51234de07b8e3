// The monthly report download (PDF or XLSX) on the overview page: fetched with the API key,
// handed to the browser as a file (no inline script: the page's CSP forbids it).

import { API_BASE, ApiError, getKey } from "./api.js";
import { $, esc } from "./dom.js";
import { getLang, t } from "./i18n.js";

function lastMonth(now = new Date()) {
  const d = new Date(now.getFullYear(), now.getMonth() - 1, 1);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`;
}

export function renderReportCard(el) {
  el.innerHTML = `
    <h2>${esc(t("rep.title"))}</h2>
    <form class="report-form" id="report-form" data-testid="report-form">
      <label>${esc(t("rep.month"))} <input type="month" id="report-month" required value="${lastMonth()}"></label>
      <label>${esc(t("rep.format"))}
        <select id="report-format"><option value="pdf">PDF</option><option value="xlsx">Excel (XLSX)</option></select>
      </label>
      <button type="submit" class="primary" id="report-download" data-testid="report-download">${esc(t("rep.download"))}</button>
      <span class="muted" id="report-status" role="status"></span>
    </form>`;
  $("#report-form", el).addEventListener("submit", (event) => {
    event.preventDefault();
    download(el).catch(() => {});
  });
}

async function download(el) {
  const month = $("#report-month", el).value;
  const format = $("#report-format", el).value;
  const status = $("#report-status", el);
  const button = $("#report-download", el);
  const lang = getLang() === "zh" ? "zh" : "en";
  button.disabled = true;
  status.textContent = t("rep.working");
  try {
    const params = new URLSearchParams({ month, format, lang });
    const resp = await fetch(`${API_BASE}/reports/monthly?${params}`, {
      headers: { Authorization: `Bearer ${getKey()}` },
    });
    if (!resp.ok) {
      let detail = resp.statusText;
      try {
        detail = (await resp.json()).detail ?? detail;
      } catch {
        /* not JSON */
      }
      throw new ApiError(resp.status, String(detail));
    }
    const url = URL.createObjectURL(await resp.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = `plantwatch-${month}-${lang}.${format}`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    status.textContent = "";
  } catch (err) {
    status.textContent = `${t("common.error")}: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}
