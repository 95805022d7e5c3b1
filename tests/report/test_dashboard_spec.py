"""Dashboard specs: built-ins load, the two copies agree, bad specs name the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracelens.errors import DashboardSpecError
from tracelens.report.dashboard_spec import (
    BUILTIN_DASHBOARDS,
    DEFAULT_DASHBOARD,
    PANEL_NAMES,
    load_dashboard_spec,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", BUILTIN_DASHBOARDS)
def test_builtin_specs_load(name: str) -> None:
    spec = load_dashboard_spec(name)
    assert spec.name == name
    assert spec.title
    assert spec.panels[0].panel == "headline"
    assert all(panel.panel in PANEL_NAMES for panel in spec.panels)


def test_default_is_incident_with_every_panel() -> None:
    assert DEFAULT_DASHBOARD == "incident"
    spec = load_dashboard_spec()
    assert {panel.panel for panel in spec.panels} == set(PANEL_NAMES)


def test_repo_and_package_copies_are_identical() -> None:
    repo = sorted(p.name for p in (ROOT / "dashboards").glob("*.toml"))
    package = sorted(p.name for p in (ROOT / "tracelens" / "dashboards").glob("*.toml"))
    assert repo == package == sorted(f"{name}.toml" for name in BUILTIN_DASHBOARDS)
    for name in repo:
        assert (ROOT / "dashboards" / name).read_bytes() == (
            ROOT / "tracelens" / "dashboards" / name
        ).read_bytes()


def test_user_file_with_options(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'title = "Mine"\npanels = ["headline", '
        '{ panel = "chains", kinds = ["sqs"], limit = 3, title = "T" }]\n'
    )
    spec = load_dashboard_spec(str(path))
    assert spec.name == "mine"
    assert spec.title == "Mine"
    chains = spec.panels[1]
    assert (chains.panel, chains.kinds, chains.limit, chains.title) == ("chains", ("sqs",), 3, "T")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('panels = ["headline", "nope"]', "panels[1]': unknown panel 'nope'"),
        ('title = "x"', "missing key 'panels'"),
        ("panels = 3", "key 'panels' must be a non-empty list"),
        ("panels = []", "key 'panels' must be a non-empty list"),
        ('title = 5\npanels = ["headline"]', "key 'title' must be a string"),
        ('panels = [{ title = "x" }]', "missing key 'panels[0].panel'"),
        ('panels = [{ panel = "chains", limit = 0 }]', "'panels[0].limit' must be a positive"),
        ('panels = [{ panel = "chains", kinds = ["kafka"] }]', "'panels[0].kinds'"),
        ('panels = [{ panel = "chains", colour = "red" }]', "unknown key 'panels[0].colour'"),
        ('panel = ["headline"]', "unknown key 'panel'"),
        ("panels = [1]", "'panels[0]' must be a panel name or a table, got an integer"),
        ('panels = ["headline"\n', "TOML syntax error"),
    ],
)
def test_bad_specs_name_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(DashboardSpecError) as info:
        load_dashboard_spec(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('title = "x"\n\npanels = [\n  "headline",\n  oops\n]\n')
    with pytest.raises(DashboardSpecError, match=r"line 5"):
        load_dashboard_spec(str(path))


def test_unknown_name_lists_builtins() -> None:
    with pytest.raises(DashboardSpecError, match=r"no such dashboard.*incident"):
        load_dashboard_spec("nonexistent-dashboard")
