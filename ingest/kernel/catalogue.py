"""The names users read: one home for each vocabulary's words in zh and en.

Every surface that shows one of these words (the CSV export, the monthly report, the Grafana
boards, the web page through `GET /api/v1/labels`) takes it from here, and
`tests/ingest/kernel/test_catalogue.py` fails when a surface spells one differently (issue 21).
The codes (`gas`, `mixed` ...) are the wire and storage vocabulary; the labels are for people.
"""

from __future__ import annotations

from dataclasses import dataclass

LANGS = ("zh", "en")  # the product's two languages, every label in both


@dataclass(frozen=True, slots=True)
class Label:
    """One word in the two languages of the product."""

    zh: str
    en: str

    def in_lang(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


# The cumulative register of each metered kind (SPEC section 4): consumption is the sum of its
# steps by the one step rule (api/fuel/rules.py).
REGISTER_BY_KIND: dict[str, str] = {
    "gas": "volume_m3",
    "coal": "mass_kg",
    "electricity": "energy_kwh",
}
CUMULATIVE_VALUES = frozenset(REGISTER_BY_KIND.values())
# Rates above these (per hour) are implausible steps, counted in no interval: the defaults of
# the one setting `max_rate_per_hour` (ingest/settings.py) that every fuel figure uses.
MAX_RATE_PER_HOUR: dict[str, float] = {
    "volume_m3": 20_000.0,
    "mass_kg": 50_000.0,
    "energy_kwh": 100_000.0,
}


@dataclass(frozen=True, slots=True)
class Range:
    low: float
    high: float


# Physically plausible bounds per value name of each meter kind (SPEC section 4); outside them a
# value is stored as invalid, not clipped (ingest/kernel/validate.py). The registry checks vendor `codes`
# against these names.
VALUE_RANGES: dict[str, dict[str, Range]] = {
    "gas": {"volume_m3": Range(0, 1e12), "flow_m3h": Range(0, 1e6)},
    "coal": {"mass_kg": Range(0, 1e13), "rate_kgh": Range(0, 1e6)},
    "electricity": {
        "energy_kwh": Range(0, 1e13),
        "power_kw": Range(0, 1e6),
        "current_a": Range(0, 1e6),
    },
    "voc": {
        "nmhc_mgm3": Range(0, 1e5),
        "thc_mgm3": Range(0, 1e5),
        "dmf_mgm3": Range(0, 1e5),
        "benzene_mgm3": Range(0, 1e5),
        "toluene_mgm3": Range(0, 1e5),
        "xylene_mgm3": Range(0, 1e5),
        "particulate_mgm3": Range(0, 1e5),
        "flow_m3h": Range(0, 1e7),
        "temp_c": Range(-50, 1000),
        # a01013 stack static pressure: gauge on most stacks (negative on induced-draft
        # ones), absolute (~100 kPa) on some loggers; both are real.
        "pressure_kpa": Range(-50, 300),
        "humidity_pct": Range(0, 100),
        "o2_pct": Range(0, 25),
    },
}
# A stainless-steel firm's fuel status over a window (SPEC section 6), in the order every
# table and chart lists them.
FIRM_STATUSES: dict[str, Label] = {
    "gas": Label("燃气", "Gas"),
    "mixed": Label("混烧", "Mixed"),
    "coal": Label("燃煤", "Coal"),
    "idle": Label("停产", "Idle"),
    "unknown": Label("数据不足", "Unknown"),
}


def status_label(status: str, lang: str) -> str:
    """A firm status in `lang` (the code itself when it is not a status)."""
    label = FIRM_STATUSES.get(status)
    return status if label is None else label.in_lang(lang)
