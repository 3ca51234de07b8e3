"""Static partitions of the plant set (pure): stable, complete, disjoint."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ingest.kernel.topics import Topics
from ingest.partition import Partition, plant_bucket, stale_filters, subscription_filters
from ingest.settings import CollectorSettings

TOPICS = Topics()
PLANTS = [f"ss-{i:03d}" for i in range(1, 61)] + [f"sl-{i:03d}" for i in range(1, 26)]


@pytest.mark.parametrize(
    ("plant", "count", "bucket"),
    # CRC-32 of the id: a literal table, so a change of hash shows up here, not in production.
    [("ss-001", 2, 2), ("ss-002", 2, 2), ("ss-001", 3, 1), ("sl-001", 3, 2), ("x", 1, 1)],
)
def test_bucket_is_stable(plant: str, count: int, bucket: int) -> None:
    assert plant_bucket(plant, count) == bucket


@pytest.mark.parametrize("count", [2, 3, 5])
def test_every_plant_is_in_exactly_one_partition(count: int) -> None:
    owners = {p: [i for i in range(1, count + 1) if Partition(i, count).owns(p)] for p in PLANTS}
    assert all(len(o) == 1 for o in owners.values())
    sizes = [sum(o == [i] for o in owners.values()) for i in range(1, count + 1)]
    assert min(sizes) >= len(PLANTS) / count / 2, sizes  # roughly even


def test_filters_of_partitions_are_disjoint_and_cover_every_plant() -> None:
    parts = [set(subscription_filters(TOPICS, PLANTS, Partition(i, 3))) for i in (1, 2, 3)]
    assert not (parts[0] & parts[1] or parts[1] & parts[2] or parts[0] & parts[2])
    assert len(set().union(*parts)) == 2 * len(PLANTS)
    assert "plantwatch/plants/ss-001/meters/+/readings" in set().union(*parts)
    assert "plantwatch/plants/ss-001/hj212" in set().union(*parts)


def test_one_partition_is_the_plain_wildcard_and_share_is_explicit() -> None:
    assert subscription_filters(TOPICS, PLANTS, Partition()) == [
        "plantwatch/plants/+/meters/+/readings",
        "plantwatch/plants/+/hj212",
    ]
    assert subscription_filters(TOPICS, PLANTS, Partition(), "emqx") == [
        "$share/emqx/plantwatch/plants/+/meters/+/readings",
        "$share/emqx/plantwatch/plants/+/hj212",
    ]


def test_stale_filters_drop_the_old_wildcard_and_other_partitions() -> None:
    mine = subscription_filters(TOPICS, PLANTS, Partition(1, 2))
    stale = stale_filters(TOPICS, PLANTS, Partition(1, 2))
    assert not set(mine) & set(stale)
    assert "plantwatch/plants/+/meters/+/readings" in stale
    assert "$share/collectors/plantwatch/plants/+/hj212" in stale
    assert len(stale) == 4 + 2 * len(PLANTS) - len(mine)


def test_defaults_keep_the_delivery_promise_on_mosquitto() -> None:
    settings = CollectorSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.share_group == "" and settings.partition == Partition(1, 1)


@pytest.mark.parametrize("spec", ["0/2", "3/2", "1", "a/b", "1/0", "1/2/3"])
def test_bad_partition_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValidationError, match="i/N"):
        CollectorSettings(collector_partition=spec, _env_file=None)  # type: ignore[call-arg]


def test_share_group_and_partitions_do_not_mix() -> None:
    with pytest.raises(ValidationError, match="choose one"):
        CollectorSettings(collector_partition="1/2", share_group="g", _env_file=None)  # type: ignore[call-arg]
