"""The chains panel's labels link to the X-Ray console, clickably, in a real headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import tracelens
from tracelens.report.dashboard_spec import load_dashboard_spec
from tracelens.report.html import render_html

if TYPE_CHECKING:
    from playwright.sync_api import Route

CHROMIUM = Path("/usr/bin/chromium")
BUNDLE = Path(__file__).resolve().parents[2] / "sample_traces" / "async_retry_storm"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CONSOLE = "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#xray:traces/"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (run .ci/install-browser)",
    ),
]


def test_chain_label_opens_its_trace_in_the_console(tmp_path: Path) -> None:
    # GIVEN the incident dashboard of a bundle whose functions have ARNs (us-east-1)
    sync_api = pytest.importorskip("playwright.sync_api")
    frames = tracelens.read_traces([BUNDLE], workers=1)
    side = tracelens.read_side_inputs([BUNDLE], config=None, dlq=[])
    report = tracelens.build_report(tracelens.analyse(frames, side), generated_by="tracelens t")
    page_path = tmp_path / "incident.html"
    page_path.write_text(render_html(report, spec=load_dashboard_spec("incident")), "utf-8")
    opened: list[str] = []

    def route(route: Route) -> None:  # offline: note where a click goes, fetch nothing
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            opened.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route("**/*", route)
        page = context.new_page()
        page.goto(page_path.as_uri())
        page.wait_for_selector("body[data-rendered='true']", timeout=15_000)
        # WHEN the first chain label is clicked where it is drawn
        point = page.evaluate(
            """() => {
              const link = document.querySelector('#panel-chains a');
              link.scrollIntoView({block: 'center'});
              const r = link.getBoundingClientRect();
              const x = r.x + r.width / 2, y = r.y + r.height / 2;
              const hit = document.elementFromPoint(x, y);
              return {x, y, href: link.getAttribute('xlink:href') || link.getAttribute('href'), hit: link.contains(hit),
                      links: document.querySelectorAll('#panel-chains a').length};
            }"""
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-chain-links.png"))
        with page.expect_popup(timeout=10_000) as popup:
            page.mouse.click(point["x"], point["y"])
        popup.value.wait_for_load_state()
        browser.close()
    # THEN every drawn chain is a link, nothing covers it, and the click opens its trace
    assert point["links"] == 15
    assert point["hit"]
    assert point["href"].startswith(CONSOLE)
    assert opened == [point["href"].split("#")[0]]  # a request never carries the fragment
