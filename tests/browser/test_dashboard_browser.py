"""The HTML dashboard in a real headless Chromium, offline: it renders, and payloads stay text."""

from __future__ import annotations

import importlib.util
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tracelens.report.dashboard_spec import BUILTIN_DASHBOARDS, load_dashboard_spec
from tracelens.report.html import FILTER_ID, panel_div_ids, render_html

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser, Locator, Page, Route

    from tracelens.report.models import Report

CHROMIUM = Path("/usr/bin/chromium")
REPORT_FIXTURES = Path(__file__).resolve().parents[1] / "report" / "conftest.py"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (run .ci/install-browser)",
    ),
]


@pytest.fixture(scope="module")
def dashboard_report() -> Report:
    """The realistic Report of ``tests/report/conftest.py`` (loaded by path: no packages)."""
    spec = importlib.util.spec_from_file_location("tracelens_dashboard_fixtures", REPORT_FIXTURES)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    report: Report = module.synthetic_report()
    return report


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class _Loaded:
    """A page loaded offline, with what it tried to fetch and what it logged."""

    def __init__(self, page: Page, blocked: list[str], errors: list[str], seconds: float):
        self.page = page
        self.blocked = blocked
        self.errors = errors
        self.seconds = seconds


def _load(browser: Browser, path: Path) -> _Loaded:
    """Open a dashboard file with every non-file request aborted; wait until drawn."""
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    blocked: list[str] = []
    errors: list[str] = []

    def route(route: Route) -> None:
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", route)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    started = time.perf_counter()
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-rendered='true']", timeout=15_000)
    seconds = time.perf_counter() - started
    return _Loaded(page, blocked, errors, seconds)


@pytest.fixture(scope="module")
def incident_page(
    browser: Browser, dashboard_report: Report, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Loaded]:
    """The incident dashboard of the fixture report, loaded offline."""
    path = tmp_path_factory.mktemp("dashboard") / "incident.html"
    path.write_text(
        render_html(dashboard_report, spec=load_dashboard_spec("incident")), encoding="utf-8"
    )
    loaded = _load(browser, path)
    yield loaded
    loaded.page.context.close()


def test_incident_dashboard_renders_offline_without_errors(incident_page: _Loaded) -> None:
    # GIVEN the incident dashboard loaded with the network blocked
    page = incident_page.page
    print(f"\nincident dashboard rendered in {incident_page.seconds:.2f} s")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-incident.png"), full_page=True)

    # THEN nothing was fetched, nothing was logged as an error
    assert incident_page.blocked == []
    assert incident_page.errors == []
    # AND every panel of the spec has a drawn plotly SVG, but the timeline: the fixture
    # report has none, so its panel is hidden
    for div_id in panel_div_ids(load_dashboard_spec("incident")):
        if div_id == "panel-timeline":
            assert not page.locator(f"#{div_id}").is_visible()
        else:
            assert page.locator(f"#{div_id} .main-svg").count() >= 1, div_id


def test_payloads_show_as_text_and_never_run(incident_page: _Loaded) -> None:
    page = incident_page.page
    assert page.evaluate("typeof window.__pwned") == "undefined"
    # No element was created from trace data: the only scripts are the page's own three.
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 3
    # The hostile function name is an option's text, and a legend/table text in the SVG.
    options = page.locator(f"#{FILTER_ID} option").all_text_contents()
    assert "<script>window.__pwned=1</script>" in options
    svg_text = page.locator("#panel-functions-table").text_content() or ""
    assert "<script>window.__pwned=1</script>" in svg_text
    findings = page.locator("#panel-findings").text_content() or ""
    assert '"><img src=x onerror="window.__pwned=1">' in findings


def test_function_filter_redraws_every_panel(incident_page: _Loaded) -> None:
    # GIVEN the page, WHEN one function is chosen in the filter
    page = incident_page.page
    page.select_option(f"#{FILTER_ID}", label="payments-async")
    page.wait_for_selector("body[data-rendered='true']", timeout=10_000)

    # THEN the functions table shows only that function, and the panels with data are drawn
    table = page.locator("#panel-functions-table").text_content() or ""
    assert "payments-async" in table
    assert "orders-async" not in table
    for div_id in panel_div_ids(load_dashboard_spec("incident")):
        if page.locator(f"#{div_id}").is_visible():
            assert page.locator(f"#{div_id} .main-svg").count() >= 1, div_id
    assert not page.locator("#panel-sqs-poison").is_visible()  # no SQS in payments-async
    assert incident_page.errors == []
    page.select_option(f"#{FILTER_ID}", index=0)
    page.wait_for_selector("body[data-rendered='true']", timeout=10_000)


@pytest.mark.parametrize("name", [n for n in BUILTIN_DASHBOARDS if n != "incident"])
def test_other_builtin_dashboards_render(
    browser: Browser, dashboard_report: Report, tmp_path: Path, name: str
) -> None:
    path = tmp_path / f"{name}.html"
    spec = load_dashboard_spec(name)
    path.write_text(render_html(dashboard_report, spec=spec), encoding="utf-8")
    loaded = _load(browser, path)
    try:
        assert loaded.blocked == []
        assert loaded.errors == []
        for div_id in panel_div_ids(spec):
            if div_id != "panel-timeline":  # the fixture report has no timeline: hidden
                assert loaded.page.locator(f"#{div_id} .main-svg").count() >= 1, div_id
    finally:
        loaded.page.context.close()


def test_escaping_alone_stops_payloads_without_the_csp(
    browser: Browser, dashboard_report: Report, tmp_path: Path
) -> None:
    # GIVEN the dashboard with its Content Security Policy removed, so only escaping protects
    page_html = render_html(dashboard_report, spec=load_dashboard_spec("incident"))
    without_csp, removed = re.subn(
        r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page_html
    )
    assert removed == 1
    path = tmp_path / "no-csp.html"
    path.write_text(without_csp, encoding="utf-8")

    # WHEN it is loaded and the payload-carrying panels are hovered and redrawn
    loaded = _load(browser, path)
    try:
        loaded.page.hover("#panel-chains .main-svg")
        loaded.page.select_option(f"#{FILTER_ID}", label="<script>window.__pwned=1</script>")
        loaded.page.wait_for_selector("body[data-rendered='true']", timeout=10_000)

        # THEN no payload ran and no element came from trace data
        assert loaded.page.evaluate("typeof window.__pwned") == "undefined"
        assert loaded.page.locator("img").count() == 0
        assert loaded.errors == []
    finally:
        loaded.page.context.close()


# ---- issue 13: the dashboards of real sample bundles, checked in the DOM ---------------

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"
#: An async, an SQS and a Kinesis incident read together (the README's example).
MIXED = ("async_retry_storm", "sqs_poison_no_redrive", "kinesis_poison_no_bisect")
#: SQS and Kinesis incidents next to a healthy API: no async event at all.
POLL = ("sqs_poison_no_redrive", "kinesis_poison_bisect", "healthy_api")
#: Panels that need async events.
ASYNC_PANELS = ("dwell_histogram", "dwell_ecdf", "dwell_over_time", "attempts", "fate_flow")


def _sample_report(names: tuple[str, ...]) -> Report:
    from tracelens.analysis import analyse
    from tracelens.ingest import read_traces
    from tracelens.ingest.side import read_side_inputs
    from tracelens.report.build import build_report

    bundles = [SAMPLES / name for name in names]
    side = read_side_inputs(bundles, config=None, dlq=[])
    return build_report(analyse(read_traces(bundles), side), generated_by="tracelens test")


def _sample_page(
    browser: Browser, tmp: Path, names: tuple[str, ...], dashboard: str, width: int = 1500
) -> _Loaded:
    path = tmp / f"{dashboard}.html"
    page_html = render_html(_sample_report(names), spec=load_dashboard_spec(dashboard))
    path.write_text(page_html, encoding="utf-8")
    context = browser.new_context(viewport={"width": width, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-rendered='true']", timeout=15_000)
    return _Loaded(page, [], errors, 0.0)


def _choose(page: Page, label: str) -> None:
    page.select_option(f"#{FILTER_ID}", label=label)
    page.wait_for_selector("body[data-rendered='true']", timeout=10_000)


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _section(page: Page, panel: str) -> Locator:
    return page.locator(f"section[data-panel='{panel}']")


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


@pytest.fixture(scope="module")
def mixed_page(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Loaded]:
    loaded = _sample_page(browser, tmp_path_factory.mktemp("mixed"), MIXED, "incident")
    yield loaded
    loaded.page.context.close()


def test_panels_without_data_are_hidden_and_shown_again(mixed_page: _Loaded) -> None:
    page = mixed_page.page
    # GIVEN all functions: every async panel has data and is drawn full width or half width
    for panel in ASYNC_PANELS:
        assert _section(page, panel).is_visible(), panel
    # WHEN the SQS consumer alone is chosen: no async event, so no async panel
    _choose(page, "order-consumer")
    _shot(page, "dashboard-mixed-order-consumer")
    for panel in (*ASYNC_PANELS, "stream_batches"):
        assert not _section(page, panel).is_visible(), panel
    assert _section(page, "sqs_poison").is_visible()
    # no empty axes anywhere ("Jan 2000" is plotly's default date range)
    assert "2000" not in " ".join(page.locator("svg text").all_text_contents())
    # WHEN all functions are chosen again: the async panels come back, drawn at their width
    _choose(page, "All functions")
    for panel in ASYNC_PANELS:
        section = _section(page, panel)
        assert section.is_visible(), panel
        assert section.locator(".main-svg").count() >= 1, panel
        box = section.locator(".main-svg").first.bounding_box()
        assert box is not None
        assert box["width"] > 400, panel
    assert mixed_page.errors == []


def test_no_async_traffic_hides_the_async_panels(browser: Browser, tmp_path: Path) -> None:
    loaded = _sample_page(browser, tmp_path, POLL, "incident")
    try:
        page = loaded.page
        _shot(page, "dashboard-poll-incident")
        for panel in ASYNC_PANELS:
            assert not _section(page, panel).is_visible(), panel
        for panel in ("headline", "timeline", "findings", "chains", "sqs_poison"):
            assert _section(page, panel).is_visible(), panel
        assert "Jan 2000" not in " ".join(page.locator("svg text").all_text_contents())
        assert loaded.errors == []
    finally:
        loaded.page.context.close()


@pytest.mark.parametrize("width", [1500, 1000])
def test_no_title_is_covered_by_the_mode_bar(browser: Browser, tmp_path: Path, width: int) -> None:
    loaded = _sample_page(browser, tmp_path, MIXED, "incident", width=width)
    try:
        page = loaded.page
        _shot(page, f"dashboard-mixed-incident-{width}")
        checked = 0
        for section in page.locator("section.panel").all():
            if not section.is_visible():
                continue
            section.hover()  # the mode bar shows while the pointer is over the plot
            title = section.locator(".gtitle").first.bounding_box()
            modebar = section.locator(".modebar").first.bounding_box()
            plot = section.locator(".main-svg").first.bounding_box()
            assert title is not None
            assert modebar is not None
            assert plot is not None
            name = section.get_attribute("data-panel")
            assert not _overlap(title, modebar), name
            # and the title fits in its panel (it is wrapped, not cut)
            assert title["x"] + title["width"] <= plot["x"] + plot["width"], name
            checked += 1
        assert checked >= 10
    finally:
        loaded.page.context.close()


def test_findings_table_grows_with_its_rows(mixed_page: _Loaded) -> None:
    page = mixed_page.page
    _choose(page, "All functions")
    findings = page.locator("#panel-findings")
    box = findings.bounding_box()
    assert box is not None
    # every row is drawn inside the panel: the last row's severity cell ends above its bottom
    column = findings.locator(".y-column").first
    texts = column.locator(".column-block:not(#header) .column-cell text").all_text_contents()
    assert len([t for t in texts if t]) == 8  # the 8 findings of the three bundles
    last = column.locator(".column-block:not(#header) .column-cell text").last.bounding_box()
    assert last is not None
    assert last["y"] + last["height"] <= box["y"] + box["height"]
    # and nothing is left to scroll to
    scroll = page.evaluate(
        "document.querySelector('#panel-findings .table-control-view')"
        ".__data__.scrollbarState.wiggleRoom"
    )
    assert scroll <= 0


def test_sankey_labels_do_not_overlap(mixed_page: _Loaded) -> None:
    page = mixed_page.page
    _choose(page, "All functions")
    labels = page.locator("#panel-fate-flow .node-label").all()
    assert len(labels) >= 6
    boxes = [(label.text_content(), label.bounding_box()) for label in labels]
    for index, (text, box) in enumerate(boxes):
        assert box is not None
        for other, other_box in boxes[index + 1 :]:
            assert other_box is not None
            assert not _overlap(box, other_box), (text, other)


def test_worst_chains_show_every_kind(mixed_page: _Loaded) -> None:
    page = mixed_page.page
    _choose(page, "All functions")
    ticks = page.locator("#panel-chains .ytick text").all_text_contents()
    assert {tick.split(" ")[0] for tick in ticks} == {"async", "sqs", "stream"}


@pytest.mark.parametrize(
    ("dashboard", "first"),
    [("queues", "SQS messages"), ("streams", "stream batches"), ("async", "async events")],
)
def test_headline_leads_with_the_layouts_numbers(
    browser: Browser, tmp_path: Path, dashboard: str, first: str
) -> None:
    loaded = _sample_page(browser, tmp_path, MIXED, dashboard)
    try:
        page = loaded.page
        _shot(page, f"dashboard-mixed-{dashboard}")
        titles = page.locator("#panel-headline text.title").all_text_contents()
        assert titles
        assert titles[0] == first
        assert loaded.errors == []
    finally:
        loaded.page.context.close()
