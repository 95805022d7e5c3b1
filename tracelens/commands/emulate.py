"""``tracelens emulate``: run a scenario and write its bundle, or list the scenarios."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pathlib import Path

    from tracelens.emulator.bundle import TraceFormat

#: The ``--format`` choices (``tracelens.emulator.bundle.TRACE_FORMATS``, spelled out here so
#: that the command line loads the emulator only when it runs).
TRACE_FORMATS = ("xray", "spans", "both")


def list_scenarios() -> None:
    """Print each built-in scenario's name and description, one per line."""
    from tracelens import emulator

    for name, description in emulator.list_scenarios():
        click.echo(f"{name}  {description}")


def run(
    scenario: str,
    *,
    seed: int,
    udp: tuple[str, int] | None,
    output: Path,
    force: bool = False,
    trace_format: TraceFormat = "xray",
) -> None:
    """Run ``scenario`` (a built-in name or TOML file) and write the bundle to ``output``.

    Args:
        scenario: A built-in scenario name or a TOML scenario file.
        seed: The random seed.
        udp: Also send every document as a daemon datagram to this (host, port).
        output: The bundle directory: missing, empty or a bundle the emulator wrote (its
            files are replaced), else refused unless ``force``.
        force: Write into any directory, replacing only the bundle's own files.
        trace_format: ``xray`` (traces.ndjson), ``spans`` (spans.ndjson) or ``both``.
    """
    from tracelens import emulator

    # Refuse a directory before the scenario runs, not after.
    emulator.check_output(output, force=force)
    result = emulator.run_scenario(emulator.load_scenario(scenario), seed=seed, udp=udp)
    emulator.write_bundle(result, output, force=force, trace_format=trace_format)
    click.echo(f"wrote {output}", err=True)
