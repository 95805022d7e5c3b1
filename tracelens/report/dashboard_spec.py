"""Dashboard specs: which panels an HTML dashboard shows, in what order, read from TOML."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, get_args

from msgspec import Meta, Struct

from tracelens.errors import DashboardSpecError
from tracelens.validation import InvalidDocument, Problem, convert, key_text

#: Every panel a spec may name, with what it shows.
PANEL_NAMES: dict[str, str] = {
    "headline": "headline numbers coloured by severity, one row per kind of traffic",
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
    "timeline": "requests, failures, throttles, cold starts and retries over time",
}

#: Dashboards shipped inside the package (``tracelens/dashboards/<name>.toml``).
BUILTIN_DASHBOARDS: tuple[str, ...] = ("async", "incident", "queues", "streams")

DEFAULT_DASHBOARD = "incident"

ChainKind = Literal["async", "sqs", "stream"]


class PanelSpec(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One panel of a dashboard.

    Attributes:
        panel: Panel name, one of ``PANEL_NAMES``.
        title: Title replacing the panel's default one, if set.
        limit: Most rows, chains or items shown (panels with a list), or most functions
            drawn as their own series (panels with one series per function), if set.
        kinds: Kinds of traffic (``async``, ``sqs``, ``stream``): the chains the ``chains``
            panel shows (empty: all), and the rows of numbers the ``headline`` panel leads
            with (empty: the kinds the view has traffic of).
    """

    panel: str
    title: str | None = None
    limit: Annotated[int, Meta(ge=1)] | None = None
    kinds: tuple[ChainKind, ...] = ()


class DashboardSpec(Struct, frozen=True, kw_only=True):
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


class _SpecFile(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A dashboard spec file: an empty name or title means the default one."""

    panels: Annotated[tuple[str | PanelSpec, ...], Meta(min_length=1)]
    name: str = ""
    title: str = ""
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
    try:
        spec = convert(data, _SpecFile)
    except InvalidDocument as exc:
        raise DashboardSpecError(f"{source}: {_why(exc.problem)}") from exc
    name = spec.name or default_name
    panels = tuple(
        _panel(item, key=f"panels[{index}]", source=source)
        for index, item in enumerate(spec.panels)
    )
    return DashboardSpec(
        name=name,
        title=spec.title or f"tracelens: {name}",
        panels=panels,
        description=spec.description,
    )


def _panel(item: str | PanelSpec, *, key: str, source: str) -> PanelSpec:
    """Check that the panel an entry of ``panels`` names is known."""
    name, key = (item, key) if isinstance(item, str) else (item.panel, f"{key}.panel")
    if name not in PANEL_NAMES:
        raise DashboardSpecError(
            f"{source}: key '{key}': unknown panel {name!r} "
            f"(known panels: {', '.join(sorted(PANEL_NAMES))})"
        )
    return PanelSpec(panel=name) if isinstance(item, str) else item


def _why(problem: Problem) -> str:
    """Word a problem of a spec file (the source is prefixed by the caller)."""
    key = key_text(problem.key)
    last = problem.key[-1] if problem.key else ""
    if problem.reason == "unknown":
        table = _SpecFile if len(problem.key) == 1 else PanelSpec
        return f"unknown key '{key}' (allowed: {', '.join(sorted(table.__struct_fields__))})"
    if problem.reason == "missing":
        if key == "panels":
            return (
                "missing key 'panels' (a list of panel names, e.g. "
                'panels = ["headline", "findings"])'
            )
        return f"missing key '{key}'"
    value = problem.value
    if last == "limit":
        return f"key '{key}' must be a positive integer, got {value!r}"
    if last == "kinds":
        return f"key '{key}' must be a list of {', '.join(get_args(ChainKind))}, got {value!r}"
    if key == "panels":
        return (
            "key 'panels' must be a non-empty list of panel names or tables, "
            f"got {_type_name(value)}"
        )
    if isinstance(last, int):
        return f"key '{key}' must be a panel name or a table, got {_type_name(value)}"
    return f"key '{key}' must be a string, got {_type_name(value)}"


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
