"""Lambda emulator: a deterministic discrete-event emulation of Lambda's invoke paths.

It emits the X-Ray documents AWS would (through aws-xray-sdk's own recorder), or the same
run as the ``aws/spans`` events of CloudWatch Transaction Search (``spans``), plus the
config, DLQ dumps and truth of an incident bundle. Import this package explicitly;
``import tracelens`` does not load it.
"""

from __future__ import annotations

from tracelens.emulator.builtins import list_scenarios, load_scenario
from tracelens.emulator.bundle import check_output, write_bundle
from tracelens.emulator.result import EmulationResult
from tracelens.emulator.runner import LambdaEmulator
from tracelens.emulator.scenario import Scenario


def run_scenario(
    scenario: Scenario, *, seed: int, udp: tuple[str, int] | None = None
) -> EmulationResult:
    """Run a scenario and return its documents, config, DLQ dumps and truth.

    Args:
        scenario: from :func:`load_scenario`.
        seed: the seed; the same scenario and seed give byte-identical bundles.
        udp: optional (host, port) of an X-Ray daemon to also send every document to.

    Returns:
        The emulation result; write it with :func:`write_bundle`.
    """
    return LambdaEmulator(scenario, seed=seed, udp=udp).run()


__all__ = [
    "EmulationResult",
    "LambdaEmulator",
    "Scenario",
    "check_output",
    "list_scenarios",
    "load_scenario",
    "run_scenario",
    "write_bundle",
]
