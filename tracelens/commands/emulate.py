"""``tracelens emulate``: run a scenario and write its bundle, or list the scenarios."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pathlib import Path


def list_scenarios() -> None:
    """Print each built-in scenario's name and description, one per line."""
    from tracelens import emulator

    for name, description in emulator.list_scenarios():
        click.echo(f"{name}  {description}")


def run(scenario: str, *, seed: int, udp: tuple[str, int] | None, output: Path) -> None:
    """Run ``scenario`` (a built-in name or TOML file) and write the bundle to ``output``.

    Args:
        scenario: A built-in scenario name or a TOML scenario file.
        seed: The random seed.
        udp: Also send every document as a daemon datagram to this (host, port).
        output: The bundle directory.
    """
    from tracelens import emulator

    result = emulator.run_scenario(emulator.load_scenario(scenario), seed=seed, udp=udp)
    emulator.write_bundle(result, output)
    click.echo(f"wrote {output}", err=True)
