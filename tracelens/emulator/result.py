"""The result of one emulation run, in memory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass(frozen=True)
class EmulationResult:
    """Documents, config, DLQ dumps and truth of one run (documents sorted by start, id).

    Documents are held as compact JSON lines; :attr:`documents` decodes them on first use.
    """

    scenario: str
    seed: int
    lines: list[str]
    config: dict[str, Any]
    dlq: dict[str, dict[str, Any]]
    truth: dict[str, Any]

    def trace_lines(self) -> Iterator[str]:
        """Yield one compact JSON segment document per line, in bundle order."""
        yield from self.lines

    @cached_property
    def documents(self) -> list[dict[str, Any]]:
        """The documents decoded (computed once, on first use)."""
        return [json.loads(line) for line in self.lines]
