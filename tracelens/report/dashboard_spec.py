"""Dashboard specs: which panels an HTML dashboard shows, in what order, read from TOML."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tracelens.errors import DashboardSpecError

#: Every panel a spec may name, with what it shows.
PANEL_NAMES: dict[str, str] = {
    "headline": "headline numbers coloured by severity",
    "findings": "findings, most severe first, with example ids",
    "dwell_histogram": "dwell time distribution (log buckets)",
    "dwell_ecdf": "dwell time ECDF (log scale)",
    "dwell_over_time": "dwell percentiles over time",
    "attempts": "async events by attempts",
    "fate_flow": "fate flow of async events (sankey)",
    "chains": "worst retry chains as a Gantt chart",
    "sqs_deliveries": "SQS deliveries per message",
    "sqs_poison": "SQS poison messages",
    "stream_batches": "retried stream batches per shard over time",
    "functions_table": "per-function requests, failures and durations",
}

#: Dashboards shipped inside the package (``tracelens/dashboards/<name>.toml``).
BUILTIN_DASHBOARDS: tuple[str, ...] = ("async", "incident", "queues", "streams")

DEFAULT_DASHBOARD = "incident"

_CHAIN_KINDS = ("async", "sqs", "stream")
_TOP_KEYS = ("description", "name", "panels", "title")
_PANEL_KEYS = ("kinds", "limit", "panel", "title")


@dataclass(frozen=True, slots=True)
class PanelSpec:
    """One panel of a dashboard.

    Attributes:
        panel: Panel name, one of ``PANEL_NAMES``.
        title: Title replacing the panel's default one, if set.
        limit: Most rows, chains or items shown (panels with a list), if set.
        kinds: Chain kinds shown by the ``chains`` panel (``async``, ``sqs``, ``stream``);
            empty means all.
    """

    panel: str
    title: str | None = None
    limit: int | None = None
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DashboardSpec:
    """A dashboard: a name, a page title and its panels in order.

    Attributes:
        name: Short name (a built-in name or the spec file's stem).
        title: Page title shown above the panels.
        panels: Panels in display order.
        description: One line shown under the title.
    """

    name: str
    title: str
    panels: tuple[PanelSpec, ...]
    description: str = ""


def load_dashboard_spec(name_or_path: str = DEFAULT_DASHBOARD) -> DashboardSpec:
    """Load a built-in dashboard spec by name, or a user's TOML spec file by path.

    Args:
        name_or_path: ``incident``, ``async``, ``queues``, ``streams``, or the path of a
            TOML file with ``title`` and ``panels``.

    Returns:
        The validated spec.

    Raises:
        DashboardSpecError: The name is unknown, the file is unreadable or not valid TOML,
            or a key is missing, of the wrong type, or names an unknown panel. The message
            names the file and the key.

    Example:
        >>> load_dashboard_spec("queues").panels[0].panel
        'headline'
    """
    if name_or_path in BUILTIN_DASHBOARDS:
        resource = resources.files("tracelens.dashboards").joinpath(f"{name_or_path}.toml")
        return parse_dashboard_spec(
            resource.read_text(encoding="utf-8"),
            source=f"<built-in dashboard {name_or_path}>",
            default_name=name_or_path,
        )
    path = Path(name_or_path)
    if not path.is_file():
        raise DashboardSpecError(
            f"{name_or_path}: no such dashboard (built-ins: {', '.join(BUILTIN_DASHBOARDS)}; "
            "or give the path of a TOML spec file)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DashboardSpecError(f"{path}: cannot read dashboard spec: {exc}") from exc
    return parse_dashboard_spec(text, source=str(path), default_name=path.stem)


def parse_dashboard_spec(text: str, *, source: str, default_name: str) -> DashboardSpec:
    """Parse and validate the TOML text of a dashboard spec.

    Args:
        text: The TOML document.
        source: Where it came from, used in error messages.
        default_name: Name used when the spec has no ``name`` key.

    Returns:
        The validated spec.

    Raises:
        DashboardSpecError: Invalid TOML or an invalid key (message names source and key).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line N, column M)".
        raise DashboardSpecError(f"{source}: TOML syntax error: {exc}") from exc
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise DashboardSpecError(
            f"{source}: unknown key {unknown[0]!r} (allowed: {', '.join(_TOP_KEYS)})"
        )
    name = _optional_str(data, "name", source=source) or default_name
    title = _optional_str(data, "title", source=source) or f"tracelens: {name}"
    description = _optional_str(data, "description", source=source) or ""
    if "panels" not in data:
        raise DashboardSpecError(
            f"{source}: missing key 'panels' (a list of panel names, e.g. "
            'panels = ["headline", "findings"])'
        )
    raw_panels = data["panels"]
    if not isinstance(raw_panels, list) or not raw_panels:
        raise DashboardSpecError(
            f"{source}: key 'panels' must be a non-empty list of panel names or tables, "
            f"got {_type_name(raw_panels)}"
        )
    panels = tuple(
        _parse_panel(item, key=f"panels[{index}]", source=source)
        for index, item in enumerate(raw_panels)
    )
    return DashboardSpec(name=name, title=title, panels=panels, description=description)


def _parse_panel(item: object, *, key: str, source: str) -> PanelSpec:
    """Validate one entry of ``panels``: a panel name or an inline table."""
    if isinstance(item, str):
        return PanelSpec(panel=_panel_name(item, key=key, source=source))
    if not isinstance(item, dict):
        raise DashboardSpecError(
            f"{source}: key '{key}' must be a panel name or a table, got {_type_name(item)}"
        )
    unknown = sorted(set(item) - set(_PANEL_KEYS))
    if unknown:
        raise DashboardSpecError(
            f"{source}: unknown key '{key}.{unknown[0]}' (allowed: {', '.join(_PANEL_KEYS)})"
        )
    if "panel" not in item:
        raise DashboardSpecError(f"{source}: missing key '{key}.panel'")
    panel_value = item["panel"]
    if not isinstance(panel_value, str):
        raise DashboardSpecError(
            f"{source}: key '{key}.panel' must be a string, got {_type_name(panel_value)}"
        )
    panel = _panel_name(panel_value, key=f"{key}.panel", source=source)
    title = _optional_str(item, "title", source=source, prefix=f"{key}.")
    limit = item.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise DashboardSpecError(
            f"{source}: key '{key}.limit' must be a positive integer, got {limit!r}"
        )
    kinds_value = item.get("kinds", [])
    if not isinstance(kinds_value, list) or not all(k in _CHAIN_KINDS for k in kinds_value):
        raise DashboardSpecError(
            f"{source}: key '{key}.kinds' must be a list of {', '.join(_CHAIN_KINDS)}, "
            f"got {kinds_value!r}"
        )
    return PanelSpec(panel=panel, title=title, limit=limit, kinds=tuple(kinds_value))


def _panel_name(value: str, *, key: str, source: str) -> str:
    """Check that a panel name is known."""
    if value not in PANEL_NAMES:
        raise DashboardSpecError(
            f"{source}: key '{key}': unknown panel {value!r} "
            f"(known panels: {', '.join(sorted(PANEL_NAMES))})"
        )
    return value


def _optional_str(
    table: dict[str, object], key: str, *, source: str, prefix: str = ""
) -> str | None:
    """Read an optional string key of a TOML table."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DashboardSpecError(
            f"{source}: key '{prefix}{key}' must be a string, got {_type_name(value)}"
        )
    return value


def _type_name(value: object) -> str:
    """The TOML-ish name of a parsed value's type, for error messages."""
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)


__all__ = [
    "BUILTIN_DASHBOARDS",
    "DEFAULT_DASHBOARD",
    "PANEL_NAMES",
    "DashboardSpec",
    "PanelSpec",
    "load_dashboard_spec",
    "parse_dashboard_spec",
]
