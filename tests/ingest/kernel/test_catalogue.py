"""Every surface names a firm status with the catalogue's words (issue 21: 用气 vs 燃气 drift)."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

from api.alerts.texts import labels
from api.export import to_csv
from api.fuel.rules import STATUSES
from api.reports.texts import STATUS_NAMES, name_of
from api.schemas import FirmStatus
from dashboards.grafana_boards import status_alias
from ingest.kernel.catalogue import FIRM_STATUSES, status_label

ROOT = Path(__file__).resolve().parents[3]
BOARD_FILES = sorted((ROOT / "dashboards/grafana/dashboards").glob("*.json"))


def test_the_status_vocabulary_is_the_catalogues() -> None:
    assert STATUSES == tuple(FIRM_STATUSES) == typing.get_args(FirmStatus)


def test_report_csv_page_and_grafana_use_the_catalogue_words() -> None:
    for status, label in FIRM_STATUSES.items():
        for lang in ("zh", "en"):
            word = label.in_lang(lang)
            assert name_of(STATUS_NAMES, status, lang) == word
            assert labels(lang)["status"][status] == word
            assert status_label(status, lang) == word
        assert status_alias(status) == f"{label.zh} {label.en}"
    csv_zh = to_csv(["status"], [{"status": s} for s in FIRM_STATUSES], lang="zh")
    assert csv_zh.splitlines()[1:] == [label.zh for label in FIRM_STATUSES.values()]


def test_no_surface_keeps_a_spelling_of_its_own() -> None:
    # The page takes status words from GET /api/v1/labels, never from its own dictionary.
    i18n = (ROOT / "dashboards/web/i18n.js").read_text(encoding="utf-8")
    assert not re.search(r'"status\.(gas|mixed|coal|idle|unknown)":', i18n)
    # Grafana names each status series by the catalogue, in every panel that shows one.
    queries = "\n".join(_strings(json.loads(p.read_text("utf-8"))) for p in BOARD_FILES)
    seen = 0
    for status in FIRM_STATUSES:
        for alias in re.findall(rf'last\("{status}"\) AS "([^"]+)"', queries):
            assert alias == status_alias(status), (status, alias)
            seen += 1
    assert seen >= 10  # status stat (5), goal stat (1), status over the year (4)


def _strings(node: object) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        return "\n".join(_strings(v) for v in node.values())
    if isinstance(node, list):
        return "\n".join(_strings(v) for v in node)
    return ""
