"""Lockout, refusal sampling and the PW checks, as pure logic (issue 22, security review)."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.gateway import checks
from ingest.gateway.checks import Refusal, check_frame, stacks_without_pw
from ingest.gateway.deadletters import RefusalSampler
from ingest.gateway.lockout import ADDRESS, MN, AuthGuard, Lock, Lockout
from ingest.gateway.run import build_rules, check_passwords
from ingest.kernel.errors import RegistryError
from ingest.kernel.registry import load_registry
from ingest.settings import GatewaySettings
from tests.ingest.gateway.helpers import packet, registry

T = 1_000.0


@pytest.mark.parametrize(
    ("failures_at", "expected_locks"),
    [
        ([0, 1, 2, 3], []),  # four: no lock
        ([0, 1, 2, 3, 4], [Lock(MN, "k", 60.0, 5, 1)]),
        ([0, 100, 200, 300, 400], []),  # spread past the 300 s window
        # locked at 4; failures while locked do not count; after it, five more: doubled
        ([0, 1, 2, 3, 4, 10, 70, 71, 72, 73, 74], [Lock(MN, "k", 60.0, 5, 1), Lock(MN, "k", 120.0, 5, 2)]),
    ],
)  # fmt: skip
def test_lock_after_five_failures_in_the_window_doubling(
    failures_at: list[float], expected_locks: list[Lock]
) -> None:
    """Failed before the fix: there was no limit on wrong passwords."""
    lockout = Lockout(MN)
    locks = [lockout.failure("k", T + t) for t in failures_at]
    assert [lock for lock in locks if lock is not None] == expected_locks


def test_back_off_is_capped_and_forgiven_after_a_quiet_spell() -> None:
    lockout = Lockout(MN, max_failures=1, base_s=60, max_s=200)
    seconds = []
    now = T
    for _ in range(4):
        lock = lockout.failure("k", now)
        assert lock is not None
        seconds.append(lock.seconds)
        now += lock.seconds
    assert seconds == [60, 120, 200, 200]
    lock = lockout.failure("k", now + 201)  # quiet for longer than the cap: from the base
    assert lock is not None and lock.seconds == 60


def test_the_tracked_keys_are_bounded() -> None:
    lockout = Lockout(ADDRESS, max_keys=3)
    for i in range(10):
        lockout.failure(f"10.0.0.{i}", T)
    assert len(lockout._states) == 3


def test_an_mn_lock_spares_the_address_its_logger_uses_and_an_address_lock_spares_nothing() -> None:
    guard = AuthGuard()
    guard.success("MN1", "10.0.0.1")  # the stack's own logger
    locks = [lock for i in range(5) for lock in guard.failure("MN1", "10.0.0.9", T + i)]
    assert {(lock.scope, lock.key) for lock in locks} == {(ADDRESS, "10.0.0.9"), (MN, "MN1")}
    assert guard.refusal("MN1", "10.0.0.1", T + 5) is None  # the logger keeps working
    assert "MN 'MN1' is locked out" in (guard.refusal("MN1", "10.0.0.7", T + 5) or "")
    assert "address 10.0.0.9" in (guard.refusal("MN2", "10.0.0.9", T + 5) or "")
    guard.success("MN3", "10.0.0.9")  # a logger behind the guesser's NAT address
    assert guard.refusal("MN3", "10.0.0.9", T + 5) is None
    assert guard.refusal("MN1", "10.0.0.7", T + 5 + 61) is None  # the lock has run out
    # the trusted address's own failures never lock its MN (a stale PW locks the address)
    locks = [lock for i in range(5) for lock in guard.failure("MN1", "10.0.0.1", T + 100 + i)]
    assert [lock.scope for lock in locks] == [ADDRESS]


@pytest.mark.parametrize(
    ("calls", "kept"),
    [
        ([("a", "wrong_password", 0)] * 7, [True] * 5 + [False] * 2),
        # another source or reason has its own five; the next minute starts again
        ([("a", "x", 0), ("b", "x", 1), ("a", "y", 2), ("a", "x", 61)], [True] * 4),
    ],
)
def test_refusals_are_kept_five_a_minute_per_source_and_reason(
    calls: list[tuple[str, str, float]], kept: list[bool]
) -> None:
    """Failed before the fix: every refusal was its own InfluxDB write."""
    sampler = RefusalSampler()
    assert [sampler.keep(source, code, T * 60 + t) for source, code, t in calls] == kept


def test_a_flood_of_new_sources_is_counted_not_kept() -> None:
    sampler = RefusalSampler(max_sources=3)
    assert [sampler.keep(f"s{i}", "x", 0) for i in range(5)] == [True] * 3 + [False] * 2


def test_the_pw_is_compared_in_constant_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failed before the fix: the PW was compared with `!=`."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(checks.hmac, "compare_digest", spy)
    settings = GatewaySettings(registry=registry(tmp_path / "r.toml"))
    rules = build_rules(settings, load_registry(settings.registry))
    now = datetime.now(UTC).replace(microsecond=0)
    decision = check_frame(rules, packet(now, pw="999999"), now)
    assert isinstance(decision, Refusal) and decision.refused.code == "wrong_password"
    assert calls == [(b"999999", b"pw0001")]


def test_a_stack_without_pw_stops_the_gateway_unless_told_it_is_a_test(tmp_path: Path) -> None:
    """Failed before the fix: a stack without hj212_pw accepted any PW, silently."""
    path = registry(tmp_path / "r.toml")  # sl-002's stack has an MN and no PW
    reg = load_registry(path)
    assert stacks_without_pw(reg) == ["sl-002/stack-1"]
    with pytest.raises(RegistryError, match="sl-002/stack-1"):
        check_passwords(GatewaySettings(registry=path), reg)
    check_passwords(GatewaySettings(registry=path, hj212_allow_no_pw=True), reg)
