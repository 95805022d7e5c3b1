"""Figure builders, tested on their figure dicts: valid plotly, titled, sorted, deterministic."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import plotly.graph_objects as go
import pytest

from tracelens.report.dashboard_spec import PANEL_NAMES, PanelSpec
from tracelens.report.panels import BUILDERS, build_panel, build_views
from tracelens.report.panels._figure import plot_text
from tracelens.report.panels.chains import worst_chains
from tracelens.report.panels.dwell import bucket_label, next_bucket
from tracelens.report.panels.flow import attempts_by_outcome
from tracelens.report.panels.headline import headline_numbers

if TYPE_CHECKING:
    from tracelens.report.models import Report
    from tracelens.report.panels import View

_TABLES = {"findings", "sqs_poison", "functions_table"}
_NO_AXES = _TABLES | {"headline", "fate_flow"}


@pytest.fixture(scope="module")
def views(dashboard_report: Report) -> list[View]:
    return build_views(dashboard_report)


def test_every_panel_name_has_a_builder() -> None:
    assert sorted(BUILDERS) == sorted(PANEL_NAMES)


def test_views_are_all_functions_then_sorted_names(views: list[View]) -> None:
    assert views[0].is_all
    names = [v.key for v in views[1:]]
    assert names == sorted(names)
    assert len(names) == 5


@pytest.mark.parametrize("panel", sorted(PANEL_NAMES))
def test_figures_are_valid_titled_and_deterministic(
    dashboard_report: Report, views: list[View], panel: str
) -> None:
    for view in views:
        figure = build_panel(view, PanelSpec(panel=panel))
        # plotly validates every property name and value against its schema.
        go.Figure(figure)
        assert figure["layout"]["title"]["text"]
        if panel not in _NO_AXES:
            assert figure["layout"]["xaxis"]["title"]["text"]
            assert figure["layout"]["yaxis"]["title"]["text"]
        rebuilt = build_views(dashboard_report)[views.index(view)]
        again = build_panel(rebuilt, PanelSpec(panel=panel))
        assert json.dumps(figure, sort_keys=True) == json.dumps(again, sort_keys=True)


def test_title_override_is_used(views: list[View]) -> None:
    figure = build_panel(views[0], PanelSpec(panel="attempts", title="My attempts"))
    assert figure["layout"]["title"]["text"] == "My attempts"


def test_trace_text_is_escaped_in_figures(views: list[View]) -> None:
    text = json.dumps([build_panel(v, PanelSpec(panel=p)) for v in views for p in PANEL_NAMES])
    assert "<script>" not in text
    assert "<img" not in text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text


def test_plot_text_escapes_markup_once() -> None:
    assert plot_text('<b>x</b> & "y"') == '&lt;b&gt;x&lt;/b&gt; &amp; "y"'
    assert plot_text("&lt;") == "&amp;lt;"


def test_histogram_categories_are_sorted_numerically(views: list[View]) -> None:
    figure = build_panel(views[0], PanelSpec(panel="dwell_histogram"))
    bounds = sorted({float(k) for d in views[0].details for k in d.dwell_histogram_ms})
    assert len(figure["layout"]["xaxis"]["categoryarray"]) == len(bounds)
    totals = [sum(trace["y"][i] for trace in figure["data"]) for i in range(len(bounds))]
    assert sum(totals) == sum(d.events for d in views[0].details)


def test_bucket_labels_follow_1_2_5() -> None:
    assert next_bucket(1.0) == 2.0
    assert next_bucket(20.0) == 50.0
    assert next_bucket(500.0) == 1000.0
    assert next_bucket(0.0) is None
    assert next_bucket(3.0) is None
    assert bucket_label(1000.0) == "1 s–2 s"


def test_ecdf_is_monotonic_per_function(views: list[View]) -> None:
    figure = build_panel(views[0], PanelSpec(panel="dwell_ecdf"))
    assert figure["data"]
    for trace in figure["data"]:
        assert trace["x"] == sorted(trace["x"])
        assert trace["y"][0] == 0
        assert trace["y"][-1] == 100


def test_headline_numbers_match_report(dashboard_report: Report, views: list[View]) -> None:
    numbers = {label: (value, severity) for label, value, _, severity in headline_numbers(views[0])}
    assert numbers["async events"][0] == dashboard_report.async_.events
    assert numbers["dropped"] == (dashboard_report.async_.fates.dropped, "critical")
    assert numbers["poison messages"][0] == len(dashboard_report.sqs.poison_messages)
    p99 = dashboard_report.async_.dwell_ms.p99
    assert p99 is not None
    assert numbers["p99 dwell"][0] == pytest.approx(p99 / 1000)


def test_attempts_by_outcome_agrees_with_the_report(views: list[View]) -> None:
    for view in views:
        joint = attempts_by_outcome(view)
        assert joint is not None
        events = sum(d.events for d in view.details)
        assert sum(joint.values()) == events
        for attempts, outcome in joint:
            if outcome == "succeeded":
                assert attempts == 1


def test_sankey_flows_balance(views: list[View]) -> None:
    figure = build_panel(views[0], PanelSpec(panel="fate_flow"))
    (sankey,) = figure["data"]
    link = sankey["link"]
    inflow: dict[int, int] = {}
    outflow: dict[int, int] = {}
    for source, target, value in zip(link["source"], link["target"], link["value"], strict=True):
        outflow[source] = outflow.get(source, 0) + value
        inflow[target] = inflow.get(target, 0) + value
    assert outflow[0] == views[0].headline.events
    for node, value in outflow.items():
        if node in inflow:  # a middle node passes on what it receives (fates come from a part)
            assert value <= inflow[node]


def test_worst_chains_put_lost_events_first(views: list[View]) -> None:
    chains = worst_chains(views[0], PanelSpec(panel="chains", limit=5))
    assert len(chains) == 5
    assert chains[0].fate in {"dropped", "missing"}
    only_sqs = worst_chains(views[0], PanelSpec(panel="chains", kinds=("sqs",)))
    assert only_sqs
    assert {c.kind for c in only_sqs} == {"sqs"}


def test_function_view_filters_every_panel(views: list[View]) -> None:
    payments = next(v for v in views if v.key == "payments-async")
    table = build_panel(payments, PanelSpec(panel="functions_table"))
    assert table["data"][0]["cells"]["values"][0] == ["payments-async"]
    chains = build_panel(payments, PanelSpec(panel="chains"))
    labels = chains["layout"]["yaxis"]["categoryarray"]
    assert labels
    assert all(label.endswith("payments-async") for label in labels)


def test_empty_view_still_draws_a_titled_figure(views: list[View]) -> None:
    sqs = next(v for v in views if v.key == "sqs-consumer")
    figure = build_panel(sqs, PanelSpec(panel="dwell_ecdf"))
    assert figure["data"] == []
    assert "No async events" in figure["layout"]["annotations"][0]["text"]


def test_failed_and_throttled_requests_are_not_green() -> None:
    # a sync-only incident: no async events, but throttled and failed requests
    from _fixed_report import SCRIPT_FUNCTION, fixed_report

    from tracelens.report.panels._figure import SEVERITY_COLOURS

    report = fixed_report()
    views = build_views(report)
    numbers = {label: (value, severity) for label, value, _, severity in headline_numbers(views[0])}
    assert numbers["failed requests"] == (18, "critical")
    assert numbers["throttled requests"] == (3, "warning")
    script = next(v for v in views if v.key == SCRIPT_FUNCTION)
    numbers = {label: (value, severity) for label, value, _, severity in headline_numbers(script)}
    assert numbers["failed requests"] == (2, "critical")
    assert numbers["throttled requests"] == (1, "warning")
    table = build_panel(script, PanelSpec(panel="functions_table"))["data"][0]
    header = [h.removeprefix("<b>").removesuffix("</b>") for h in table["header"]["values"]]
    failed = header.index("failed requests")
    throttles = header.index("throttles")
    assert table["cells"]["values"][failed] == ["2"]
    assert table["cells"]["values"][throttles] == ["1"]
    colours = table["cells"]["font"]["color"]
    assert colours[failed] == [SEVERITY_COLOURS["critical"]]
    assert colours[throttles] == [SEVERITY_COLOURS["warning"]]


def test_headline_shows_no_dwell_number_without_dwell_data() -> None:
    # sync_client_retries-like: no async event, so no dwell: no "0.0 s" that reads as "no wait"
    from _fixed_report import empty_report

    labels = [label for label, *_ in headline_numbers(build_views(empty_report())[0])]
    assert not any("dwell" in label for label in labels)
