"""Built-in scenarios: TOML files shipped in ``tracelens/emulator/scenarios``."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from tracelens.emulator.scenario import Scenario, load_scenario_file, parse_scenario
from tracelens.errors import EmulatorError


def _files() -> dict[str, str]:
    root = resources.files("tracelens.emulator") / "scenarios"
    return {
        entry.name[: -len(".toml")]: entry.read_text(encoding="utf-8")
        for entry in root.iterdir()
        if entry.name.endswith(".toml")
    }


def list_scenarios() -> list[tuple[str, str]]:
    """Return (name, one-line description) of every built-in scenario, sorted by name."""
    out = []
    for name, text in _files().items():
        description = str(tomllib.loads(text).get("description", "")).splitlines()
        out.append((name, description[0] if description else ""))
    return sorted(out)


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a built-in scenario by name, or a scenario TOML file by path.

    Args:
        name_or_path: a built-in name (see :func:`list_scenarios`) or a path to a TOML file.

    Returns:
        The validated scenario.

    Raises:
        EmulatorError: unknown name, unreadable file or invalid scenario.
    """
    text = str(name_or_path)
    builtin = _files()
    if isinstance(name_or_path, str) and text in builtin:
        return parse_scenario(tomllib.loads(builtin[text]), f"<builtin>/{text}.toml")
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return load_scenario_file(path)
    names = ", ".join(sorted(builtin))
    raise EmulatorError(f"{text}: no such scenario; built-ins are: {names}")
