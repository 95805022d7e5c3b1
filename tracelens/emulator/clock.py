"""The virtual clock and the discrete-event loop that drives it."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(order=True)
class _Event:
    time: float
    seq: int
    action: Callable[[], None] = field(compare=False)


class VirtualClock:
    """A clock that only moves when the event loop runs the next event.

    Events at the same time run in the order they were scheduled, so a run is
    deterministic.
    """

    def __init__(self, start: float) -> None:
        """Create a clock.

        Args:
            start: the epoch seconds the simulation starts at.
        """
        self.now = start
        self._queue: list[_Event] = []
        self._seq = 0

    def at(self, time: float, action: Callable[[], None]) -> None:
        """Schedule ``action`` at ``time`` (never earlier than now)."""
        self._seq += 1
        heapq.heappush(self._queue, _Event(max(time, self.now), self._seq, action))

    def run(self) -> None:
        """Run events in time order until none are left."""
        queue = self._queue
        while queue:
            event = heapq.heappop(queue)
            self.now = event.time
            event.action()
