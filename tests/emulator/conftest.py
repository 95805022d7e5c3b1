"""Shared fixtures: built-in scenario results, run once per test session."""

from __future__ import annotations

from functools import cache

import pytest

from tracelens.emulator import EmulationResult, list_scenarios, load_scenario, run_scenario

BUILTINS = [name for name, _ in list_scenarios()]


@cache
def builtin_result(name: str, seed: int = 1) -> EmulationResult:
    """Run a built-in scenario once per session."""
    return run_scenario(load_scenario(name), seed=seed)


@pytest.fixture(params=BUILTINS)
def builtin(request: pytest.FixtureRequest) -> EmulationResult:
    """Each built-in scenario's result (seed 1)."""
    return builtin_result(request.param)
