"""Seeded generators of X-Ray ids, Lambda request ids and SQS / stream record ids."""

from __future__ import annotations

import random


class IdGenerator:
    """Every id the emulator writes, drawn from one seeded random generator."""

    def __init__(self, seed: int, namespace: str = "") -> None:
        """Create a generator.

        Args:
            seed: the scenario seed; the same seed gives the same ids.
            namespace: the scenario name, so that bundles of different scenarios made with
                the same seed do not share trace, segment or request ids when they are
                analysed together.
        """
        self._rng = random.Random(f"ids:{namespace}:{seed}")

    def hex(self, digits: int) -> str:
        """Return ``digits`` random lowercase hex digits."""
        return f"{self._rng.getrandbits(4 * digits):0{digits}x}"

    def entity_id(self) -> str:
        """Return a 16-hex segment or subsegment id."""
        return self.hex(16)

    def trace_id(self, epoch: float) -> str:
        """Return ``1-<8 hex epoch seconds>-<24 hex>``."""
        return f"1-{int(epoch):08x}-{self.hex(24)}"

    def uuid(self) -> str:
        """Return a random version-4-shaped UUID string (request and message ids)."""
        h = self.hex(32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"
