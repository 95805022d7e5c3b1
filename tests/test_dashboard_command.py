"""`tracelens dashboard` itself, run on a real sample bundle: one self-contained, escaped file."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from click.testing import CliRunner

from tracelens.cli import main

ROOT = Path(__file__).resolve().parent.parent
STORM = ROOT / "sample_traces" / "async_retry_storm"
HOSTILE = "<script>window.__pwned=1</script>"


def _dashboard(*args: str | Path) -> str:
    result = CliRunner().invoke(main, ["dashboard", *[str(a) for a in args]])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("wrote ")
    out = Path(str(args[args.index("-o") + 1]))
    assert out.is_file()
    return out.read_text(encoding="utf-8")


def test_dashboard_of_a_sample_bundle(tmp_path: Path) -> None:
    out = tmp_path / "incident.html"
    page = _dashboard(STORM, "-o", out)
    report = json.loads(
        CliRunner().invoke(main, ["analyze", str(STORM), "--format", "json"]).stdout
    )
    # self-contained: nothing is loaded from anywhere
    assert page.startswith("<!DOCTYPE html>") or page.lower().startswith("<!doctype html>")
    assert re.search(r"<script[^>]*\bsrc=", page) is None
    assert "<link" not in page
    assert 'src="http' not in page
    # the function, its figures and its findings are on the page
    fn = report["functions"][0]
    assert fn["name"] == "invoice-renderer"
    assert "invoice-renderer" in page
    for finding in report["findings"]:
        assert finding["code"] in page
    exhausted = report["async"]["outcomes"]["retries_exhausted"]
    assert exhausted == 11
    assert re.search(rf"\b{fn['requests']}\b", page)
    assert re.search(rf"\b{exhausted}\b", page)


def test_dashboard_escapes_names_from_the_traces(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    text = (STORM / "traces.ndjson").read_text()
    hostile = "invoice-renderer" + HOSTILE.replace("/", "\\/")  # a JSON string may escape "/"
    (bundle / "traces.ndjson").write_text(text.replace("invoice-renderer", hostile))
    shutil.copytree(STORM / "dlq", bundle / "dlq")
    page = _dashboard(bundle, "-o", tmp_path / "d.html", "--dashboard", "async")
    assert "window.__pwned" in page  # the name is shown ...
    assert HOSTILE not in page  # ... but never as markup
    assert "<script>window" not in page
