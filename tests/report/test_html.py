"""The HTML dashboard file: self-contained, escaped, deterministic, small."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from plotly.offline import get_plotlyjs

from tracelens.report.dashboard_spec import DashboardSpec, PanelSpec, load_dashboard_spec
from tracelens.report.html import DATA_ID, json_for_script, panel_div_ids, render_html

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracelens.report.models import Report

HOSTILE = (
    "<script>window.__pwned=1</script>",
    '"><img src=x onerror="window.__pwned=1">',
    "</script><script>window.__pwned=1</script>",
)


@pytest.fixture(scope="module")
def page(dashboard_report: Report) -> str:
    return render_html(dashboard_report, spec=load_dashboard_spec("incident"))


def _outside_plotly_js(page: str) -> str:
    """The page without the embedded plotly.js bundle (which mentions URLs it never loads)."""
    bundle = get_plotlyjs()
    assert page.count(bundle[:2000]) == 1
    start = page.index(bundle[:2000])
    end = page.index("</script>", start)
    return page[:start] + page[end:]


def test_plotly_js_is_embedded_once_and_nothing_is_loaded(page: str) -> None:
    rest = _outside_plotly_js(page)
    assert 'src="http' not in page
    assert "https://cdn" not in rest
    assert "http://" not in rest
    assert "https://" not in rest
    assert "<link" not in rest
    assert "@import" not in rest
    assert re.search(r"<script[^>]*\bsrc=", page) is None
    assert "MathJax" not in rest


def test_csp_forbids_network_and_foreign_scripts(page: str) -> None:
    match = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert match is not None
    csp = match.group(1).replace("&#x27;", "'")
    assert "default-src 'none'" in csp
    assert "connect-src 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]


def test_every_panel_has_its_deterministic_div(page: str) -> None:
    spec = load_dashboard_spec("incident")
    ids = panel_div_ids(spec)
    assert ids[0] == "panel-headline"
    for div_id in ids:
        assert page.count(f'id="{div_id}"') == 1


def test_duplicate_panels_get_numbered_ids() -> None:
    spec = DashboardSpec(
        name="x", title="x", panels=(PanelSpec(panel="chains"), PanelSpec(panel="chains"))
    )
    assert panel_div_ids(spec) == ["panel-chains", "panel-chains-2"]


def test_rendering_is_byte_identical(dashboard_report: Report, page: str) -> None:
    assert render_html(dashboard_report, spec=load_dashboard_spec("incident")) == page


@pytest.mark.parametrize("payload", HOSTILE)
def test_payloads_never_appear_raw(page: str, payload: str) -> None:
    assert payload not in page


def test_function_filter_options_are_escaped(page: str) -> None:
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;</option>" in page
    assert page.count("<option ") == 6


def test_json_block_cannot_be_broken_out_of_and_round_trips(page: str) -> None:
    match = re.search(
        rf'<script type="application/json" id="{DATA_ID}">(.*?)</script>', page, re.DOTALL
    )
    assert match is not None
    block = match.group(1)
    assert "<" not in block
    assert ">" not in block
    assert "&" not in block
    payload = json.loads(block)
    assert payload["views"][0]["label"] == "All functions"
    assert "<script>window.__pwned=1</script>" in [v["key"] for v in payload["views"]]
    assert len(payload["panels"]) == len(load_dashboard_spec("incident").panels)
    for panel in payload["panels"]:
        assert len(panel["figures"]) == len(payload["views"])


def test_json_for_script_escapes_and_drops_non_finite() -> None:
    text = json_for_script({"a": "</script>&", "b": float("nan"), "c": [float("inf"), 1.5]})
    assert text == '{"a":"\\u003c/script\\u003e\\u0026","b":null,"c":[null,1.5]}'
    assert json.loads(text) == {"a": "</script>&", "b": None, "c": [None, 1.5]}


def test_page_text_from_traces_is_html_escaped(page: str) -> None:
    header = page[page.index("<header>") : page.index("</header>")]
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;.ndjson" in header


def test_size_for_100k_async_events_is_under_10_mb(
    report_factory: Callable[..., Report],
) -> None:
    report = report_factory(events=100_000, seed=3)
    html_text = render_html(report, spec=load_dashboard_spec("incident"))
    size = len(html_text.encode("utf-8"))
    print(f"\ndashboard for {report.async_.events} async events: {size / 1e6:.2f} MB")
    assert report.async_.events >= 99_999
    assert size < 10_000_000


def _payload(page: str) -> Any:
    match = re.search(
        rf'<script type="application/json" id="{DATA_ID}">(.*?)</script>', page, re.DOTALL
    )
    assert match is not None
    return json.loads(match.group(1))


def test_payload_says_in_which_views_each_panel_is_empty(page: str) -> None:
    # The page hides a panel in the views where it has nothing to show (no empty axes).
    payload = _payload(page)
    views = [v["key"] for v in payload["views"]]
    panels = {p["id"]: p for p in payload["panels"]}
    for panel in panels.values():
        assert len(panel["empty"]) == len(views)
    ecdf = panels["panel-dwell-ecdf"]["empty"]
    assert ecdf[views.index("")] is False  # all functions: async events with dwell
    assert ecdf[views.index("sqs-consumer")] is True  # an SQS consumer has no dwell
    poison = panels["panel-sqs-poison"]["empty"]
    assert poison[views.index("sqs-consumer")] is False
    assert poison[views.index("payments-async")] is True
    # the findings table always shows (it says when there is nothing to act on)
    assert not any(panels["panel-findings"]["empty"])
    # the page can say that no panel has data
    assert 'id="tracelens-nothing" hidden' in page


def test_the_timeline_and_tables_read_across_the_page(page: str) -> None:
    for panel in ("timeline", "findings", "sqs-poison", "functions-table"):
        assert f'<section class="panel wide" data-panel="{panel.replace("-", "_")}">' in page
