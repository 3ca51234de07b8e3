"""The project's exception tree.

PlantwatchError
├── RegistryError        the registry file is unreadable or inconsistent
├── RefusedReading       a message from a plant was refused (reason readable by the plant)
│   ├── UnknownSource    topic, plant or meter not in the registry
│   └── InvalidPayload   not JSON / wrong shape / bad value / bad timestamp
├── Hj212Error           an HJ 212-2017 packet failed length, CRC or syntax checks
├── StoreSchemaError     the store's data has a shape this release cannot read
└── StoreError           InfluxDB could not be reached or refused a request
    ├── StoreUnavailable transient: connection failed, timeout, 5xx (retry later)
    └── StoreRejected    permanent: the server said 4xx to what we sent
"""

from __future__ import annotations


class PlantwatchError(Exception):
    """Base of every error raised on purpose by plantwatch."""


class RegistryError(PlantwatchError):
    """The registry file is unreadable or inconsistent."""


class RefusedReading(PlantwatchError):
    """A plant's message was refused; `str(exc)` is the reason sent back to the plant."""

    code = "invalid"


class UnknownSource(RefusedReading):
    code = "unknown_source"


class InvalidPayload(RefusedReading):
    code = "invalid_payload"


class Hj212Error(RefusedReading):
    code = "hj212"


class StoreSchemaError(PlantwatchError):
    """The store's data has a shape this release cannot read; the message says what to do."""


class StoreError(PlantwatchError):
    """InfluxDB could not be reached or refused a request."""


class StoreUnavailable(StoreError):
    """Transient store failure: connection refused, timeout or a 5xx answer."""


class StoreRejected(StoreError):
    """The store refused the request itself (4xx): retrying the same request will not help."""
