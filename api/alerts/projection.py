"""Where `gas_share_off_track` gets the projected year-end share from (swappable).

The rule itself is the pure `rules.gas_share_off_track(projected, goal)`. The engine asks a
`ProjectionProvider`; until the monthly history and its fitted projection exist
(`api/history.py`, built separately), `CurrentShareProjection` projects naively: the share
over the current KPI window is assumed to hold until year end. Replace it by passing
another provider to `AlertEngine` / `build_runtime`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from api.fuel import firm_fuels
from api.kpi import gas_share
from api.settings import KpiDefinition
from ingest.registry import Registry
from ingest.store import InfluxStore


class ProjectionProvider(Protocol):
    def projected_share(self, now: datetime) -> float | None:
        """The projected year-end share of firms on gas, or None when it cannot be projected."""
        ...


class CurrentShareProjection:
    """Naive projection: today's gas share (SPEC section 6, trailing KPI window) holds to year end."""

    def __init__(self, store: InfluxStore, registry: Registry, definition: KpiDefinition) -> None:
        self.store, self.registry, self.definition = store, registry, definition

    def projected_share(self, now: datetime) -> float | None:
        firms = self.registry.by_sector("stainless_steel")
        if not firms:
            return None
        window = timedelta(days=self.definition.window_days)
        fuels = firm_fuels(self.store, firms, now, window, self.definition)
        return gas_share(fuels, self.registry.gas_share_goal, self.definition).share
