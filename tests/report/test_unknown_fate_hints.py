"""An unknown fate says where its reason is; only async events ask for a config.

An async event's fate is unknown only when the config says nothing about its function, so
"supply --config" is the advice. An SQS message's or stream batch's fate can be unknown with
a full config (a message gone past its retention with a redrive policy; a Kinesis stream whose
retention is not in the config; ambiguous mappings): those point to where the reason is
written, in the text and in the dashboard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from _fixed_report import fixed_report, replace
from _render import terminal_text

from tracelens.report.panels import headline, streams
from tracelens.report.panels._view import build_views

if TYPE_CHECKING:
    from tracelens.report.models import Report

REASON = "the data runs past the stream's 24 h default retention (test)"


def _stream_unknown_report() -> Report:
    report = fixed_report()
    chains = [
        msgspec.structs.replace(chain, fate="unknown") if chain.kind == "stream" else chain
        for chain in report.chains
    ]
    sections = msgspec.structs.replace(report.streams, fate_unknown_reasons=[REASON])
    return replace(report, chains=chains, streams=sections)


def test_a_stream_chain_with_an_unknown_fate_points_to_the_reason() -> None:
    text = terminal_text(_stream_unknown_report(), width=200)
    (line,) = [line for line in text.splitlines() if "failed -> unknown" in line]
    assert "supply" not in line
    assert "(why: see Stream batches above)" in line


def test_the_dashboard_says_why_a_batch_fate_is_unknown() -> None:
    report = _stream_unknown_report()
    view = build_views(report)[0]
    spec = type("Spec", (), {"kinds": ["stream"], "title": None, "limit": None})()
    labels = [label for label, *_ in headline._stream_row(view.headline)]
    assert "batch fate unknown<br>(why: see the stream batches panel)" in labels
    figure = streams.build(view, spec)
    assert REASON in str(figure["layout"]["title"])


def test_the_input_section_says_what_duplicates_are() -> None:
    from tracelens import render_markdown

    report = fixed_report()
    assert report.input.duplicates
    text = " ".join(terminal_text(report, width=200).split())
    assert "in-progress copies replaced by their completed ones" in text
    assert "in-progress copies replaced by their completed ones" in render_markdown(report)
    quiet = replace(report, input=msgspec.structs.replace(report.input, duplicates=0))
    assert "in-progress copies" not in terminal_text(quiet, width=200)
