"""Where `gas_share_off_track` gets the projected year-end share from (swappable).

The rule itself is the pure `rules.gas_share_off_track(projected, goal)`. The default
provider asks the fuel core for the one projection (`api.fuel.outlook`, the same the
history endpoint, the web page and reports show). Tests may pass another provider to
`AlertEngine` / `build_runtime`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from api.fuel.service import FuelCore
from ingest.kernel.registry import Plant, Registry


class ProjectionProvider(Protocol):
    def projected_share(self, now: datetime, firms: Sequence[Plant] | None = None) -> float | None:
        """The projected year-end share of `firms` (default: the registry's stainless-steel
        firms) on gas, or None when it cannot be projected."""
        ...


class HistoryProjection:
    """The year-end projection of the monthly history (`GET /kpi/gas-share/history`)."""

    def __init__(self, core: FuelCore, registry: Registry) -> None:
        self.core, self.registry = core, registry

    def projected_share(self, now: datetime, firms: Sequence[Plant] | None = None) -> float | None:
        steel = self.registry.by_sector("stainless_steel") if firms is None else firms
        return self.core.projected_share(steel, now)
