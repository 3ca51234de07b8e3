"""Lockout after repeated authentication failures, per MN and per remote address. Pure.

A failure is a wrong PW or (HJ 212-2025) a packet the stack's SM4 key cannot decrypt.
`MAX_FAILURES` failures of one key within `WINDOW_SECONDS` lock it for `BASE_LOCK_SECONDS`;
each further lock of the same key doubles that, up to `MAX_LOCK_SECONDS`; a key quiet for
`MAX_LOCK_SECONDS` after its lock ends starts again from the base. While a key is locked,
every packet it sends is refused unanswered, whatever its PW: a guess that happens to be
right is not told apart from a wrong one.

Neither lock shuts out a stack's own logger: the address that last sent an MN a packet
with the right PW keeps being served for that MN (a guesser elsewhere cannot silence a
stack, and loggers sharing a carrier's NAT address with a guesser keep working). An
address lock refuses every other MN from that address.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime

from ingest.kernel.hj212 import EVENT_MEASUREMENT
from ingest.kernel.store import encode_point

MAX_FAILURES = 5
WINDOW_SECONDS = 300.0
BASE_LOCK_SECONDS = 60.0
MAX_LOCK_SECONDS = 3600.0
MAX_KEYS = 100_000  # addresses tracked at most (oldest forgotten): memory stays bounded
MN, ADDRESS = "mn", "address"
# The alert kind a lockout raises (api.alerts reads the gateway's `hj212_event` points).
AUTH_FAILURES_KIND = "logger_auth_failures"


@dataclass(slots=True)
class _State:
    failures: deque[float] = field(default_factory=deque)
    locks: int = 0  # locks so far (the back-off exponent)
    locked_until: float = 0.0


@dataclass(frozen=True, slots=True)
class Lock:
    """A lock that has just begun."""

    scope: str  # MN or ADDRESS
    key: str
    seconds: float
    failures: int  # failures that led to it (within the window)
    locks: int  # this key's locks in a row, this one included


class Lockout:
    """Failures and locks of one kind of key (MNs, or addresses)."""

    def __init__(
        self,
        scope: str,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_SECONDS,
        base_s: float = BASE_LOCK_SECONDS,
        max_s: float = MAX_LOCK_SECONDS,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.scope = scope
        self.max_failures, self.window_s = max_failures, window_s
        self.base_s, self.max_s, self.max_keys = base_s, max_s, max_keys
        self._states: OrderedDict[str, _State] = OrderedDict()

    def locked_for(self, key: str, now: float) -> float:
        """Seconds left of this key's lock (0: not locked)."""
        state = self._states.get(key)
        return max(0.0, state.locked_until - now) if state is not None else 0.0

    def failure(self, key: str, now: float) -> Lock | None:
        """Count a failure; the lock it starts, if it starts one."""
        state = self._states.pop(key, None) or _State()
        self._states[key] = state  # most recently failed last: the oldest is forgotten first
        while len(self._states) > self.max_keys:
            self._states.popitem(last=False)
        if state.locked_until > now:
            return None  # already locked: refused anyway, the lock runs its course
        if state.locks and now - state.locked_until > self.max_s:
            state.locks = 0  # quiet long enough: forgiven
        state.failures.append(now)
        while state.failures and state.failures[0] <= now - self.window_s:
            state.failures.popleft()
        if len(state.failures) < self.max_failures:
            return None
        count = len(state.failures)
        state.failures.clear()
        state.locks += 1
        seconds = min(self.base_s * 2 ** (state.locks - 1), self.max_s)
        state.locked_until = now + seconds
        return Lock(self.scope, key, seconds, count, state.locks)


class AuthGuard:
    """The gateway's lockouts: by MN and by address, and each MN's trusted address."""

    def __init__(self, by_mn: Lockout | None = None, by_address: Lockout | None = None) -> None:
        self.by_mn = by_mn or Lockout(MN)
        self.by_address = by_address or Lockout(ADDRESS)
        self._trusted: dict[str, str] = {}  # MN -> address of its last right PW

    def refusal(self, mn: str, address: str, now: float) -> str | None:
        """Why a packet of this MN from this address is refused now (None: it is not)."""
        if self._trusted.get(mn) == address:
            return None
        seconds = self.by_address.locked_for(address, now)
        if seconds > 0:
            return (
                f"address {address} is locked out for {seconds:.0f} s more after repeated "
                "wrong passwords or undecryptable packets"
            )
        seconds = self.by_mn.locked_for(mn, now)
        if seconds > 0:
            return (
                f"MN {mn!r} is locked out for {seconds:.0f} s more after repeated wrong "
                "passwords or undecryptable packets"
            )
        return None

    def failure(self, mn: str, address: str, now: float) -> list[Lock]:
        """Count one failure against the MN and the address; the locks it starts."""
        found = [self.by_address.failure(address, now)]
        if self._trusted.get(mn) != address:  # the stack's own logger never locks its MN
            found.append(self.by_mn.failure(mn, now))
        return [lock for lock in found if lock is not None]

    def success(self, mn: str, address: str) -> None:
        """A packet with the right PW: this address is the MN's own logger."""
        if self._trusted.get(mn) != address:
            self._trusted[mn] = address


def lock_event_line(plant: str, meter: str, mn: str, address: str, lock: Lock, at: datetime) -> str:
    """The `hj212_event` point of a lock begun (read by the `logger_auth_failures` rule)."""
    scope = "this MN" if lock.scope == MN else f"address {address}"
    message = (
        f"{lock.failures} wrong passwords or undecryptable packets for MN {mn} "
        f"from {address}: {scope} locked out for {lock.seconds:.0f} s"
    )
    fields: dict[str, float | str] = {
        "failures": float(lock.failures),
        "lock_seconds": float(lock.seconds),
        "scope": lock.scope,
        "address": address,
        "message": message,
    }
    tags = {"plant": plant, "meter": meter, "kind": AUTH_FAILURES_KIND}
    return encode_point(EVENT_MEASUREMENT, tags, fields, at)
