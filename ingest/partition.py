"""Static partitions of the plant set: which plants' topics a collector subscribes to.

Mosquitto 2.0 does not keep `$share` subscriptions over a broker restart, so on it the
collectors scale out by partitioning the plants instead (SPEC section 5): collector i of N
subscribes plainly, in its own persistent session, to the topics of the plants whose stable
hash falls in bucket i. Every plant is in exactly one partition, every subscription survives
a broker restart, and a message is delivered to exactly one collector.

The hash is CRC-32 of the plant id (never Python's `hash`, which changes per process), so
every collector computes the same partitions, and adding a plant never moves another one.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from ingest.kernel.errors import PlantwatchError
from ingest.kernel.topics import Topics

_SPEC = re.compile(r"(\d{1,4})/(\d{1,4})")
OLD_DEFAULT_SHARE_GROUP = "collectors"  # the group collectors used before partitions


class PartitionError(PlantwatchError, ValueError):
    """A partition spec that is not `i/N` with 1 <= i <= N."""


@dataclass(frozen=True, slots=True)
class Partition:
    """Partition `index` (1-based) of `count`."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Partition:
        """`"2/3"` -> Partition(2, 3); refuses anything else with a readable reason."""
        match = _SPEC.fullmatch(text.strip())
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise PartitionError(
                f"collector partition {text!r} must be i/N with 1 <= i <= N, e.g. 1/2 and 2/2"
            )
        return cls(int(match[1]), int(match[2]))

    def owns(self, plant_id: str) -> bool:
        """Whether this partition holds `plant_id`."""
        return plant_bucket(plant_id, self.count) == self.index


def plant_bucket(plant_id: str, count: int) -> int:
    """The partition (1..count) a plant belongs to; the same in every process and release."""
    return zlib.crc32(plant_id.encode("utf-8")) % count + 1


def plant_filters(topics: Topics, plant_id: str) -> tuple[str, str]:
    """The two filters that carry one plant's readings and HJ 212 packets."""
    return (f"{topics.root}/plants/{plant_id}/meters/+/readings", topics.hj212(plant_id))


def subscription_filters(
    topics: Topics, plant_ids: Iterable[str], partition: Partition, share_group: str = ""
) -> list[str]:
    """What a collector subscribes to.

    One partition (the default): the two wildcard filters, so it also hears plants that are
    not in its registry yet (they become dead letters, never silence). Several partitions:
    the filters of each plant in this one. A share group (brokers that persist `$share`,
    such as EMQX): the wildcard filters under `$share/<group>/`.
    """
    if share_group:
        return [f"$share/{share_group}/{f}" for f in topics.collector_filters()]
    if partition.count == 1:
        return list(topics.collector_filters())
    return [f for p in sorted(plant_ids) if partition.owns(p) for f in plant_filters(topics, p)]


def stale_filters(
    topics: Topics, plant_ids: Iterable[str], partition: Partition, share_group: str = ""
) -> list[str]:
    """Filters a resumed persistent session may still hold from an earlier configuration.

    Unsubscribed after subscribing on every connect, so a collector that changed partition
    (or left the old `$share/collectors` default) stops receiving what is no longer its own.
    Unsubscribing a filter the session does not hold is harmless.
    """
    current = set(subscription_filters(topics, plant_ids, partition, share_group))
    candidates = [
        *topics.collector_filters(),
        *(f"$share/{OLD_DEFAULT_SHARE_GROUP}/{f}" for f in topics.collector_filters()),
        *(f for p in sorted(plant_ids) for f in plant_filters(topics, p)),
    ]
    return [f for f in candidates if f not in current]
