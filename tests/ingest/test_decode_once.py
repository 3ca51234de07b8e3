"""Decode once (issue 21): a packet is decoded, decrypted and its stack looked up once per process.

The gateway's check hands the collector's `accept` the packet it decoded; the collector, given
the same bytes on the `hj212` topic, decodes them once too. Neither builds line protocol to
judge a packet: points are encoded only where they are written. Counted with wrappers around
the codec, the SM4 opener and the registry; no network.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingest.gateway.checks import DataPacket, check_frame
from ingest.gateway.run import build_rules
from ingest.kernel import hj212, hj212_sm4, lineproto
from ingest.kernel.pipeline import Accepted, Hj212Data, IngestRules, accept, handle_message
from ingest.kernel.registry import Registry, load_registry
from ingest.kernel.topics import Topics
from ingest.settings import GatewaySettings
from tests.ingest import hj2025 as v2025
from tests.ingest.gateway.helpers import packet, registry

NOW = datetime(2026, 3, 1, 0, 10, tzinfo=UTC)
T = datetime(2026, 3, 1, 0, 5, tzinfo=UTC)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Calls of the codec, the SM4 opener and the registry's MN lookup, by name."""
    counted: Counter[str] = Counter()

    def counting(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counted[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(hj212, "decode_packet", counting("decode", hj212.decode_packet))
    monkeypatch.setattr(hj212_sm4, "open_packet", counting("open", hj212_sm4.open_packet))
    monkeypatch.setattr(Registry, "stack_by_mn", counting("lookup", Registry.stack_by_mn))
    monkeypatch.setattr(lineproto, "encode_point", counting("encode", lineproto.encode_point))
    return counted


def plain_rules(tmp_path: Path) -> IngestRules:
    path = registry(tmp_path / "r.toml")
    return build_rules(GatewaySettings(registry=path), load_registry(path))


CASES = [
    pytest.param(plain_rules, lambda: packet(T), {"decode": 1, "lookup": 1}, id="plain"),
    pytest.param(
        lambda _: v2025.rules(),
        lambda: v2025.A2_SEALED_TAIL,
        {"decode": 1, "lookup": 1, "open": 1},
        id="sm4-sealed",
    ),
]


@pytest.mark.parametrize(("make_rules", "raw", "expected"), CASES)
def test_the_gateway_decodes_and_looks_up_once_and_encodes_nothing(
    tmp_path: Path,
    calls: Counter[str],
    make_rules: Callable[[Path], IngestRules],
    raw: Callable[[], bytes],
    expected: dict[str, int],
) -> None:
    rules = make_rules(tmp_path)
    decision = check_frame(rules, raw(), NOW)
    assert isinstance(decision, DataPacket), decision
    assert dict(calls) == expected  # no "encode": nothing is built to be thrown away


@pytest.mark.parametrize(("make_rules", "raw", "expected"), CASES)
def test_the_collector_decodes_and_looks_up_once(
    tmp_path: Path,
    calls: Counter[str],
    make_rules: Callable[[Path], IngestRules],
    raw: Callable[[], bytes],
    expected: dict[str, int],
) -> None:
    rules = make_rules(tmp_path)
    decision = check_frame(rules, raw(), NOW)
    assert isinstance(decision, DataPacket)
    calls.clear()
    outcome = handle_message(rules, decision.topic, decision.raw, NOW)
    assert isinstance(outcome, Accepted) and outcome.points
    assert dict(calls) == expected
    # the points the gateway's check judged are the ones the collector stores
    again = accept(rules, Hj212Data(decision.plant, decision.meter, decision.packet), NOW)
    assert isinstance(again, Accepted) and again.points == outcome.points


def test_json_and_hj212_share_the_one_entry_point(tmp_path: Path) -> None:
    rules = plain_rules(tmp_path)
    decision = check_frame(rules, packet(T), NOW)
    assert isinstance(decision, DataPacket)
    topic = Topics(rules.topic_root).readings(decision.plant.id, decision.meter.id)
    payload = b'{"ts": "2026-03-01T08:05:00+08:00", "values": {"nmhc_mgm3": 1.5}}'
    outcome = handle_message(rules, topic, payload, NOW)
    assert isinstance(outcome, Accepted)
    [point] = outcome.points
    assert (point.measurement, point.ts_ms) == ("voc", int(T.timestamp() * 1000))
    assert point.fields["nmhc_mgm3"] == 1.5 and point.fields["_source"] == "mqtt"
    assert outcome.lines == [lineproto.encode(point)]
