"""The result of one emulation run, in memory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass(frozen=True)
class EmulationResult:
    """Documents, config, DLQ dumps and truth of one run (documents sorted by start, id)."""

    scenario: str
    seed: int
    documents: list[dict[str, Any]]
    config: dict[str, Any]
    dlq: dict[str, dict[str, Any]]
    truth: dict[str, Any]

    def trace_lines(self) -> Iterator[str]:
        """Yield one compact JSON segment document per line, in bundle order."""
        for doc in self.documents:
            yield json.dumps(doc, separators=(",", ":"))
