"""Function behaviour: durations, failures, cold starts, warm reuse and concurrency limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random

    from tracelens.emulator.scenario import FunctionSpec

ACCOUNT_CONCURRENCY = 1000


@dataclass
class Environment:
    """One execution environment (a microVM running the runtime)."""

    busy_until: float = 0.0
    last_used: float = 0.0
    needs_init: bool = True


@dataclass(frozen=True)
class Execution:
    """What one invocation did: phase times and its error, if any."""

    init_start: float | None
    start: float  # Invocation (handler) start
    end: float  # Invocation end
    overhead_end: float
    error: tuple[str, str] | None  # (type, message)
    timed_out: bool

    @property
    def cold(self) -> bool:
        """True when this invocation ran the Init phase."""
        return self.init_start is not None


class FunctionRuntime:
    """The live state of one function: its environments and concurrency."""

    def __init__(self, spec: FunctionSpec, rng: random.Random, arn: str) -> None:
        """Create the runtime.

        Args:
            spec: the function's scenario settings.
            rng: the seeded generator for this function's behaviour.
            arn: the function ARN.
        """
        self.spec = spec
        self.rng = rng
        self.arn = arn
        self.envs: list[Environment] = []
        limit = ACCOUNT_CONCURRENCY
        if spec.reserved_concurrency is not None:
            limit = spec.reserved_concurrency
        self.limit = limit

    def admit(self, now: float) -> Environment | None:
        """Pick an environment for an invocation at ``now``, or None when throttled."""
        if self.limit == 0:
            return None
        if self.spec.throttle_rate and self.rng.random() < self.spec.throttle_rate:
            return None
        keep = self.spec.keep_warm_s
        busy = 0
        best: Environment | None = None
        for env in self.envs:
            if env.busy_until > now:
                busy += 1
            elif (now - env.last_used <= keep and not env.needs_init) and (
                best is None or env.last_used > best.last_used
            ):
                best = env
        if best is not None:
            return best
        if busy >= self.limit:
            return None
        # reuse a reclaimed slot (idle too long) or create a new environment
        for env in self.envs:
            if env.busy_until <= now and (now - env.last_used > keep or env.needs_init):
                env.needs_init = True
                return env
        env = Environment()
        self.envs.append(env)
        return env

    def service_error(self) -> bool:
        """Draw whether Lambda itself fails this request with a 5xx (service error rate)."""
        rate = self.spec.service_error_rate
        return rate > 0 and self.rng.random() < rate

    def fails(self) -> bool:
        """Draw whether a handler run fails (by the function's failure rate)."""
        rate = self.spec.failure_rate
        return rate > 0 and self.rng.random() < rate

    def run(self, env: Environment, now: float, *, fail: bool) -> Execution:
        """Run the handler in ``env`` starting at ``now`` and mark the environment busy.

        Args:
            env: the environment from :meth:`admit`.
            now: when Lambda hands the request to the environment.
            fail: whether the handler fails on this run.

        Returns:
            The phase times and error of the run.
        """
        spec = self.spec
        rng = self.rng
        t = now + rng.uniform(0.0005, 0.003)
        init_start: float | None = None
        if env.needs_init:
            init_start = t
            t += max(0.01, rng.lognormvariate(0.0, 0.25) * spec.init_ms / 1000.0)
            env.needs_init = False
        start = t + rng.uniform(0.0001, 0.0008)
        duration = rng.lognormvariate(0.0, spec.duration_sigma) * spec.duration_ms / 1000.0
        error: tuple[str, str] | None = None
        timed_out = False
        if (fail and spec.failure_kind == "timeout") or duration >= spec.timeout_s:
            duration = spec.timeout_s
            timed_out = True
            error = ("Sandbox.Timedout", f"Task timed out after {spec.timeout_s:.2f} seconds")
        elif fail:
            error = (spec.error_type, spec.error_message)
        end = start + duration
        overhead_end = end + rng.uniform(0.0002, 0.002)
        env.busy_until = overhead_end
        env.last_used = overhead_end
        if timed_out:
            env.needs_init = True  # the runtime is reset after a timeout
        return Execution(init_start, start, end, overhead_end, error, timed_out)
