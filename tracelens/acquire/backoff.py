"""Exponential backoff with full jitter, shared by the threads of one fetch."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
    And Jitter"): sleep ``uniform(0, min(cap, base * 2**attempt))``.

    Attributes:
        max_attempts: Calls per request before giving up.
        base: First backoff ceiling, seconds.
        cap: Largest backoff ceiling, seconds.
        seed: Seed of the jitter's random generator (tests pass one; None = OS entropy).
    """

    max_attempts: int = 8
    base: float = 0.2
    cap: float = 20.0
    seed: int | None = None


class Backoff:
    """Draws backoff delays for a ``RetryPolicy`` from one seeded generator (thread-safe)."""

    def __init__(self, policy: RetryPolicy) -> None:
        """Start the generator from ``policy.seed``.

        Args:
            policy: The backoff policy.
        """
        self.policy = policy
        self._rng = random.Random(policy.seed)
        self._lock = threading.Lock()

    def delay(self, attempt: int) -> float:
        """The sleep before retry number ``attempt + 1`` (``attempt`` counts from 0).

        Args:
            attempt: Attempts that failed so far, minus one.

        Returns:
            Seconds, uniform in ``[0, min(cap, base * 2**attempt)]``.
        """
        ceiling = min(self.policy.cap, self.policy.base * (2**attempt))
        with self._lock:
            return self._rng.uniform(0.0, ceiling)


__all__ = ["Backoff", "RetryPolicy"]
