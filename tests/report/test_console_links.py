"""Trace ids linked to the X-Ray console: URL builder, JSON report and schema, Markdown links."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import msgspec
import pytest
from _fixed_report import fixed_report, replace

import tracelens
from tracelens.report.console_links import (
    console_prefix,
    is_console_url,
    region_of_arn,
    regions_by_function,
    trace_url,
    trace_urls,
)
from tracelens.report.dashboard_spec import PanelSpec
from tracelens.report.json_report import render_json
from tracelens.report.markdown import render_markdown
from tracelens.report.panels import build_panel, build_views
from tracelens.report.schema import report_schema

TRACE = "1-6747c1a0-000000000000000000000001"
US = "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#xray:traces/"
SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"


@pytest.mark.parametrize(
    ("arn", "region"),
    [
        ("arn:aws:lambda:us-east-1:123456789012:function:orders", "us-east-1"),
        ("arn:aws:lambda:eu-central-2:123456789012:function:orders:live", "eu-central-2"),
        ("arn:aws:lambda:ap-southeast-4:123456789012:function:us-east-1.edge:2", "ap-southeast-4"),
        ("arn:aws:lambda:us-gov-west-1:123456789012:function:f", "us-gov-west-1"),
        # never a guess: no ARN, another partition (other console hosts), another service,
        # a malformed or hostile region, a truncated ARN
        (None, None),
        ("", None),
        ("arn:aws-cn:lambda:cn-north-1:123456789012:function:f", None),
        ("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f", None),
        ("arn:aws:sqs:us-east-1:123456789012:queue", None),
        ("arn:aws:lambda:evil.example/x?:123456789012:function:f", None),
        ("arn:aws:lambda:US-EAST-1:123456789012:function:f", None),
        ("arn:aws:lambda:us-east-1", None),
        ("orders", None),
    ],
)
def test_region_of_arn(arn: str | None, region: str | None) -> None:
    assert region_of_arn(arn) == region


def test_trace_url_form_and_encoding() -> None:
    assert trace_url("us-east-1", TRACE) == US + TRACE
    # text from documents is percent-encoded: it cannot end the URL, add a query or markup
    hostile = trace_url("us-east-1", 'x") [y](javascript:alert(1)) <b>#?&')
    assert hostile == US + "x%22%29%20%5By%5D%28javascript%3Aalert%281%29%29%20%3Cb%3E%23%3F%26"
    assert is_console_url(hostile)
    assert is_console_url(US + TRACE)
    assert not is_console_url("javascript:alert(1)")
    assert not is_console_url(US + TRACE + ")")
    assert not is_console_url("https://evil.example/?" + US)
    with pytest.raises(ValueError, match="not a region"):
        console_prefix("evil.example/")


def test_regions_by_function_and_urls_in_order() -> None:
    regions = regions_by_function(
        [
            ("a", "arn:aws:lambda:eu-west-1:1:function:a"),
            ("b", None),
            ("c", "arn:aws:lambda:bad:1:function:c"),
        ]
    )
    assert regions == {"a": "eu-west-1"}
    ids = ["1-6747c1a0-000000000000000000000002", TRACE]
    eu = console_prefix("eu-west-1")
    assert trace_urls("a", ids, regions) == [eu + ids[0], eu + TRACE]
    assert trace_urls("b", ids, regions) == []


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(report_schema())


def test_report_of_a_sample_bundle_has_valid_trace_urls(
    validator: jsonschema.Draft202012Validator,
) -> None:
    # GIVEN a real analysis of a bundle whose function ARNs are in us-east-1
    bundle = SAMPLES / "async_retry_storm"
    frames = tracelens.read_traces([bundle], workers=1)
    side = tracelens.read_side_inputs([bundle], config=None, dlq=[])
    report = tracelens.build_report(tracelens.analyse(frames, side), generated_by="tracelens t")
    doc = json.loads(render_json(report))
    # THEN every chain has one URL per trace id, in order, and the report is valid
    validator.validate(doc)
    assert doc["chains"]
    for chain in doc["chains"]:
        assert chain["trace_urls"] == [US + t for t in chain["trace_ids"]]


@pytest.mark.parametrize(
    "urls",
    [["javascript:alert(1)"], [US + TRACE + ")"], "not a list", [3]],
)
def test_schema_rejects_other_urls(
    validator: jsonschema.Draft202012Validator, urls: object
) -> None:
    doc = json.loads(render_json(fixed_report()))
    doc["chains"][0]["trace_urls"] = urls
    assert not validator.is_valid(doc)


def test_markdown_links_trace_ids_only_to_console_urls() -> None:
    report = fixed_report()
    doc = render_markdown(report)
    # the chain of the function with an ARN links its trace; the one without shows the id
    assert f"[{TRACE}]({US}{TRACE})" in doc
    assert "| 1-6747c1a0-000000000000000000000003 |" in doc
    # a report read back from a file may hold anything in trace_urls: only console URLs
    # become links, and the id is escaped either way
    first = report.chains[0]
    hostile = msgspec.structs.replace(
        first,
        trace_ids=["1-[x](javascript:alert(1))"],
        trace_urls=["javascript:alert(1)"],
    )
    doc = render_markdown(replace(report, chains=[hostile, *report.chains[1:]]))
    assert not re.search(r"(?<!\\)\]\(javascript:", doc)  # no unescaped link to it
    assert "1-\\[x\\](javascript:alert(1))" in doc
    # a mismatched list (not one URL per id) links nothing
    odd = msgspec.structs.replace(first, trace_ids=[TRACE, TRACE], trace_urls=[US + TRACE])
    doc = render_markdown(replace(report, chains=[odd, *report.chains[1:]]))
    assert f"]({US}{TRACE})" not in doc


def test_markdown_shows_the_first_trace_ids_and_counts_the_rest() -> None:
    report = fixed_report()
    ids = [f"1-6747c1a0-00000000000000000000010{i}" for i in range(5)]
    many = msgspec.structs.replace(
        report.chains[0], trace_ids=ids, trace_urls=[US + t for t in ids]
    )
    doc = render_markdown(replace(report, chains=[many, *report.chains[1:]]))
    assert f"[{ids[2]}]({US}{ids[2]})<br>and 2 more" in doc
    assert ids[3] not in doc


def test_dashboard_chain_labels_link_to_the_console() -> None:
    # GIVEN the fixed report: two chains of a function with an ARN (URLs), two without, and
    # one chain whose (read back) URL is not a console URL
    report = fixed_report()
    hostile = msgspec.structs.replace(report.chains[0], key="hostile", trace_urls=["javascript:x"])
    view = build_views(replace(report, chains=[*report.chains, hostile]))[0]
    # WHEN the chains panel is built
    figure = build_panel(view, PanelSpec(panel="chains"))
    yaxis = figure["layout"]["yaxis"]
    ticks = dict(zip(yaxis["tickvals"], yaxis["ticktext"], strict=True))
    # THEN a chain label with a console URL is a link to its first trace; others stay text
    linked = {label: text for label, text in ticks.items() if text != label}
    assert set(linked) == {
        "async req-dropped · [bold]x[/]",
        "async req-ok-retry · [bold]x[/]",
    }
    for label, text in linked.items():
        assert text.startswith(f'<a href="{US}1-6747c1a0-00000000000000000000000')
        assert text.endswith(f'" target="_blank">{label}</a>')
    assert "javascript" not in json.dumps(figure)
    assert yaxis["categoryarray"] == yaxis["tickvals"]
