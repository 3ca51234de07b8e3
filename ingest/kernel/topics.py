"""MQTT topic names of SPEC section 4 and their parsing."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ingest.kernel.errors import UnknownSource


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic builder for one topic root (default `plantwatch`)."""

    root: str = "plantwatch"

    def readings(self, plant: str, meter: str) -> str:
        return f"{self.root}/plants/{plant}/meters/{meter}/readings"

    def hj212(self, plant: str) -> str:
        return f"{self.root}/plants/{plant}/hj212"

    def status(self, plant: str) -> str:
        return f"{self.root}/plants/{plant}/status"

    def rejected(self, plant: str) -> str:
        return f"{self.root}/plants/{plant}/rejected"

    def alerts(self, plant: str) -> str:
        return f"{self.root}/alerts/{plant}"

    def sync(self, client_id: str) -> str:
        """Where a service publishes its empty durability barriers (nobody subscribes)."""
        return f"{self.root}/sync/{client_id}"

    def collector_filters(self) -> tuple[str, str]:
        """The two filters a collector subscribes to (readings and HJ 212 packets)."""
        return (f"{self.root}/plants/+/meters/+/readings", f"{self.root}/plants/+/hj212")


@dataclass(frozen=True, slots=True)
class Source:
    """Where a message came from: the plant, and the meter for JSON readings."""

    kind: str  # "readings" | "hj212"
    plant: str
    meter: str | None = None


# A county's meters send on a few thousand topics, each many times: parsed once each.
@functools.lru_cache(maxsize=65_536)
def parse_topic(topic: str, root: str = "plantwatch") -> Source:
    """Map an inbound topic to its plant and meter; anything else is refused."""
    parts = topic.split("/")
    if (
        len(parts) == 6
        and parts[0] == root
        and parts[1] == "plants"
        and parts[3] == "meters"
        and parts[5] == "readings"
    ):
        return Source("readings", parts[2], parts[4])
    if len(parts) == 4 and parts[0] == root and parts[1] == "plants" and parts[3] == "hj212":
        return Source("hj212", parts[2])
    raise UnknownSource(f"topic {topic!r} is not a plantwatch readings or hj212 topic")
