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

    from playwright.sync_api import Browser, Page, Route

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
    # AND every panel of the spec has a drawn plotly SVG
    for div_id in panel_div_ids(load_dashboard_spec("incident")):
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

    # THEN the functions table shows only that function, and the panels are still drawn
    table = page.locator("#panel-functions-table").text_content() or ""
    assert "payments-async" in table
    assert "orders-async" not in table
    for div_id in panel_div_ids(load_dashboard_spec("incident")):
        assert page.locator(f"#{div_id} .main-svg").count() >= 1, div_id
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
