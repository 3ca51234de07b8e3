"""The HJ 212-2025 test logger shared by the codec, pipeline and gateway tests: the
standard's Appendix A MN and SM4 key (tests/ingest/support.py holds its packets), a keyless
2025 logger, and a registry with both stacks."""

from __future__ import annotations

from datetime import UTC, datetime

from ingest.kernel.pipeline import IngestRules
from tests.builders import MeterSpec, RegistryBuilder
from tests.ingest.support import (
    A1,
    A2_PLAIN_13_BLOCKS,
    A2_PLAIN_TAIL,
    A2_SEALED_13_BLOCKS,
    A2_SEALED_TAIL,
    KEY,
)

__all__ = [
    "A1",
    "A2_PLAIN_13_BLOCKS",
    "A2_PLAIN_TAIL",
    "A2_SEALED_13_BLOCKS",
    "A2_SEALED_TAIL",
    "KEY",
    "KEY_HEX",
    "MN",
    "NOW",
    "PLAIN_MN",
    "PW",
    "rules",
]

KEY_HEX = KEY.hex()
MN = "010000A8900016F000169DC0"

NOW = datetime(2026, 3, 1, tzinfo=UTC)
PLAIN_MN = "0A0B0C0D0E0F101112131415"  # a keyless 2025 logger
PW = "123456"


def rules() -> IngestRules:
    builder = RegistryBuilder()
    builder.plant(
        "sl-025",
        "synthetic_leather",
        [
            MeterSpec("stack-1", "voc", {"hj212_mn": MN, "hj212_pw": PW, "hj212_sm4_key": KEY_HEX}),
            MeterSpec("stack-2", "voc", {"hj212_mn": PLAIN_MN, "hj212_pw": PW}),
        ],
    )
    return IngestRules(builder.registry())
