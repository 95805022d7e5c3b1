"""Figure builders, tested on their figure dicts: valid plotly, titled, sorted, deterministic."""

from __future__ import annotations

import json
from pathlib import Path
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
    units = {label: unit for label, _, unit, _ in headline_numbers(views[0])}
    assert units["p99 dwell"] == " min"  # 147.7 s
    assert numbers["p99 dwell"][0] == pytest.approx(p99 / 60_000)


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


# ---- issue 13: a dashboard a person can read -------------------------------------------

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"


def _sample_report(*names: str) -> Report:
    """The report of sample bundles, with their configs and DLQ dumps."""
    from tracelens.analysis import analyse
    from tracelens.ingest import read_traces
    from tracelens.ingest.side import read_side_inputs
    from tracelens.report.build import build_report

    bundles = [SAMPLES / name for name in names]
    side = read_side_inputs(bundles, config=None, dlq=[])
    return build_report(analyse(read_traces(bundles), side), generated_by="tracelens test")


@pytest.fixture(scope="module")
def poll_report() -> Report:
    """SQS and Kinesis incidents next to a healthy API: no async event at all."""
    return _sample_report("sqs_poison_no_redrive", "kinesis_poison_bisect", "healthy_api")


def _view(views: list[View], key: str) -> View:
    return next(v for v in views if v.key == key)


def test_panels_with_nothing_to_show_are_marked_empty(poll_report: Report) -> None:
    from tracelens.report.panels import has_data

    views = build_views(poll_report)

    def shown(view: View) -> set[str]:
        return {p for p in PANEL_NAMES if has_data(build_panel(view, PanelSpec(panel=p)))}

    # No async event: no dwell, attempts or fate flow panel (no "Jan 2000" axes).
    assert shown(views[0]) == set(PANEL_NAMES) - {
        "dwell_histogram",
        "dwell_ecdf",
        "dwell_over_time",
        "attempts",
        "fate_flow",
    }
    # A panel empty in one function's view has data in another's.
    assert "stream_batches" not in shown(_view(views, "order-consumer"))
    assert "sqs_deliveries" in shown(_view(views, "order-consumer"))
    assert "stream_batches" in shown(_view(views, "clickstream-processor"))
    assert "sqs_poison" not in shown(_view(views, "profile-api"))
    assert "functions_table" in shown(_view(views, "profile-api"))


def test_titles_sit_below_the_mode_bar_and_are_wrapped(views: list[View]) -> None:
    from tracelens.report.panels import TITLE_WIDTH, WIDE_PANELS
    from tracelens.report.panels._figure import MODEBAR_BAND

    for panel in PANEL_NAMES:
        title = build_panel(views[0], PanelSpec(panel=panel))["layout"]["title"]
        assert title["yref"] == "container"
        assert title["yanchor"] == "top"
        assert title["pad"]["t"] >= MODEBAR_BAND
        for line in title["text"].split("<br>"):
            text = line.removeprefix("<sub>").removesuffix("</sub>")
            assert len(text) <= TITLE_WIDTH[panel in WIDE_PANELS], (panel, text)


def test_small_durations_are_shown_in_ms() -> None:
    from tracelens.report.panels._figure import format_ms

    assert format_ms(999.7) == "1 s"  # not "1e+03 ms"
    assert format_ms(45.25) == "45.2 ms"
    assert format_ms(1500.0) == "1.5 s"
    assert format_ms(100_000.0) == "1 min 40 s"  # a 1-2-5 bucket bound, not "1.67 min"
    views = build_views(_sample_report("async_retry_storm"))
    (dwell,) = [n for n in headline_numbers(views[0]) if n[0] == "p99 dwell"]
    _, value, unit, _ = dwell
    assert unit == " ms"  # async_retry_storm waits tens of ms: never "0.0 s"
    assert 10 < value < 1000


def test_no_bars_are_stacked_on_a_log_axis(views: list[View], poll_report: Report) -> None:
    for view in views + build_views(poll_report):
        for panel in PANEL_NAMES:
            figure = build_panel(view, PanelSpec(panel=panel))
            layout = figure["layout"]
            bars = any(trace["type"] == "bar" for trace in figure["data"])
            if bars and layout.get("yaxis", {}).get("type") == "log":
                assert layout.get("barmode") != "stack", panel


@pytest.fixture(scope="module")
def mixed_report() -> Report:
    """An async, an SQS and a Kinesis incident read together (the README's example)."""
    return _sample_report("async_retry_storm", "sqs_poison_no_redrive", "kinesis_poison_no_bisect")


@pytest.mark.parametrize(
    ("dashboard", "first", "absent"),
    [
        ("queues", ["SQS messages", "redelivered messages", "poison messages"], "async events"),
        ("streams", ["stream batches", "retried batches"], "SQS messages"),
        ("async", ["async events", "succeeded after retry"], "stream batches"),
        ("incident", ["async events"], ""),
    ],
)
def test_headline_leads_with_the_numbers_of_its_layout(
    mixed_report: Report, dashboard: str, first: list[str], absent: str
) -> None:
    from tracelens.report.dashboard_spec import load_dashboard_spec

    spec = load_dashboard_spec(dashboard).panels[0]
    assert spec.panel == "headline"
    figure = build_panel(build_views(mixed_report)[0], spec)
    labels = [trace["title"]["text"] for trace in figure["data"]]
    assert labels[: len(first)] == first
    assert absent not in labels
    # every layout ends with the requests of every invoke path
    assert labels[-3:] == ["requests", "failed requests", "throttled requests"]
    if dashboard == "incident":  # all three kinds of traffic, each in its own row
        assert {"async events", "SQS messages", "stream batches"} <= set(labels)


def test_headline_numbers_of_sqs_and_streams_match_the_report() -> None:
    from tracelens.report.panels.headline import headline_rows

    report = _sample_report("sqs_poison_no_redrive", "kinesis_poison_no_bisect", "healthy_api")
    views = build_views(report)
    rows = dict(headline_rows(views[0]))
    assert list(rows) == ["sqs", "stream", "requests"]  # no async row: there is no async event
    sqs = {label: value for label, value, _, _ in rows["sqs"]}
    assert sqs["SQS messages"] == report.sqs.messages
    assert sqs["redelivered messages"] == report.sqs.redelivered_messages
    assert sqs["poison messages"] == len(report.sqs.poison_messages) == 1
    assert sqs["still in the queue"] == report.sqs.fates.in_queue == 1
    stream = {label: value for label, value, _, _ in rows["stream"]}
    assert stream["stream batches"] == report.streams.batches
    assert stream["retried batches"] == report.streams.retried_batches
    assert stream["sent to on-failure<br>destination"] == report.streams.fates.sent == 1
    assert stream["records discarded"] == 0
    requests = {label: value for label, value, _, _ in rows["requests"]}
    assert requests["requests"] == sum(f.requests for f in report.functions)
    # The function views add up to the view of all functions.
    for label in ("SQS messages", "redelivered messages", "stream batches", "retried batches"):
        total = sum(
            value
            for view in views[1:]
            for name, value, _, _ in headline_numbers(view, ("sqs", "stream"))
            if name == label
        )
        assert total == {**sqs, **stream}[label], label


def test_every_chain_outcome_and_fate_has_a_rank() -> None:
    from typing import get_args

    from tracelens.model.vocab import ChainFate, ChainOutcome
    from tracelens.report.panels.chains import _BADNESS

    names = {name for kind in get_args(ChainOutcome) for name in get_args(kind)}
    names |= {name for kind in get_args(ChainFate) for name in get_args(kind)}
    assert names <= set(_BADNESS)


def test_worst_chains_include_every_kind_like_the_text_report() -> None:
    # 21 async events given up outrank 6 recovered stream batches and 9 SQS messages
    report = _sample_report("async_sns_dlq", "dynamodb_streams", "sqs_redrive_partial_batch")
    chains = worst_chains(build_views(report)[0], PanelSpec(panel="chains", limit=10))
    assert len(chains) == 10
    assert {c.kind for c in chains} == {"async", "sqs", "stream"}
    # still worst first: the recovered stream batch comes after every chain that ended badly
    assert chains[-1].kind == "stream"
    assert chains[-1].outcome == "succeeded_after_retry"
    figure = build_panel(build_views(report)[0], PanelSpec(panel="chains", limit=10))
    labels = figure["layout"]["yaxis"]["categoryarray"]
    assert any(label.startswith("stream ") for label in labels)


def test_chain_labels_are_shortened_in_the_middle_and_hover_has_the_whole_key() -> None:
    from tracelens.report.panels.chains import LABEL_WIDTH

    report = _sample_report("kinesis_poison_bisect")
    view = build_views(report)[0]
    figure = build_panel(view, PanelSpec(panel="chains"))
    labels = figure["layout"]["yaxis"]["categoryarray"]
    assert labels
    assert all(len(label) <= LABEL_WIDTH for label in labels)
    # the whole shard, the end of the sequence number
    assert all(label.startswith("stream shardId-000000000000/…") for label in labels)
    hovers = " ".join(text for trace in figure["data"] for text in trace["hovertext"])
    for chain in report.chains:
        assert chain.key in hovers


def test_percentile_panels_show_the_top_functions_and_the_others(views: list[View]) -> None:
    view = views[0]
    with_dwell = [d for d in view.details if d.dwell_over_time]
    assert len(with_dwell) == 3
    spec = PanelSpec(panel="dwell_over_time", limit=1)
    names = [trace["name"] for trace in build_panel(view, spec)["data"]]
    assert len(names) == 2
    assert names[-1] == "highest p99 of the others (2 functions)"
    ecdf = build_panel(view, PanelSpec(panel="dwell_ecdf", limit=1))
    assert len(ecdf["data"]) == 1
    assert "not drawn" in ecdf["layout"]["title"]["text"]
    # Counts add up exactly: the "others" bars hold what the other functions had.
    for panel, histograms in (
        ("dwell_histogram", [d.dwell_histogram_ms for d in view.details]),
        ("attempts", [d.attempts for d in view.details]),
        ("sqs_deliveries", [d.deliveries_histogram for d in view.details]),
    ):
        total = sum(sum(histogram.values()) for histogram in histograms)
        functions = sum(1 for histogram in histograms if histogram)
        figure = build_panel(view, PanelSpec(panel=panel, limit=1))
        assert len(figure["data"]) == min(functions, 2), panel
        if functions > 2:
            assert figure["data"][-1]["name"] == f"others ({functions - 1} functions)", panel
        assert sum(sum(trace["y"]) for trace in figure["data"]) == total, panel


def test_sankey_labels_are_short_and_columns_are_placed() -> None:
    report = _sample_report("async_retry_storm", "async_dropped")
    figure = build_panel(build_views(report)[0], PanelSpec(panel="fate_flow"))
    (sankey,) = figure["data"]
    node = sankey["node"]
    assert sankey["arrangement"] == "fixed"
    assert len(node["x"]) == len(node["y"]) == len(node["label"])
    assert all(len(label) <= 40 for label in node["label"]), node["label"]
    # the fates' evidence and advice are in the hover text
    assert any("checked in DLQ dump" in text for text in node["customdata"])


def test_readme_documents_every_panel_and_spec_key() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for name in PANEL_NAMES:
        assert f"| `{name}` |" in readme, name
    for key in ("name", "title", "description", "panels", "panel", "limit", "kinds"):
        assert f"| `{key}` |" in readme, key
