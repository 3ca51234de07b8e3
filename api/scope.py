"""Counties as tenants: what part of the registry a caller sees (issue 26, item 4).

Every request reads the registry through `api.deps.get_scope`, which hands it the caller's
view: one county's firms, name and goal for a key scoped to a county, the whole registry for
every other key. Routes then answer from that view alone, so a firm, alert, report row or
stream event outside it is absent, exactly like one that does not exist (404, never 403).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.alerts.model import county_alert_plant, county_of_alert
from api.auth import Principal
from api.errors import Forbidden
from ingest.kernel.registry import Registry


@dataclass(frozen=True, slots=True)
class Scope:
    """The registry as one caller sees it; `whole` when that is every county."""

    registry: Registry
    whole: bool

    def sees(self, plant: str) -> bool:
        """Whether an alert, record or task about `plant` is in view.

        County-wide alerts of the whole registry (`api.alerts.model.COUNTY`) are seen by a
        view of every county; those of one county (`county_alert_plant`) by that county's.
        """
        if self.whole or self.registry.plant(plant) is not None:
            return True
        county = county_of_alert(plant)
        return county is not None and self.registry.county(county) is not None

    def sees_all(self, plants: Sequence[str]) -> bool:
        """Whether a thing about several firms (a task) is in view: all of them are; one
        about no firm is the whole registry's."""
        return all(self.sees(p) for p in plants) if plants else self.whole

    @property
    def plant_ids(self) -> tuple[str, ...] | None:
        """The firms in view, for a query's filter; None: every one (no filter)."""
        return None if self.whole else tuple(p.id for p in self.registry.plants)

    @property
    def alert_plants(self) -> tuple[str, ...] | None:
        """The plant slots of the alerts in view (its firms and its counties' county-wide
        alerts), for a query's filter; None: every alert."""
        if self.plant_ids is None:
            return None
        return self.plant_ids + tuple(county_alert_plant(c.id) for c in self.registry.counties)


def scope_of(registry: Registry, principal: Principal) -> Scope:
    """The caller's view: its county's, or the whole registry (no county on the key)."""
    if principal.county is None:
        return Scope(registry, whole=True)
    if registry.county(principal.county) is None:
        raise Forbidden(
            f"this key is scoped to county {principal.county!r}, which the registry no "
            "longer names; ask an administrator for a new key"
        )
    return Scope(registry.scoped(principal.county), whole=len(registry.counties) == 1)
