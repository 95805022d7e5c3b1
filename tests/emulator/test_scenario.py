"""Scenario loading: built-ins, listing and validation errors naming file and key."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tracelens.emulator import list_scenarios, load_scenario
from tracelens.errors import EmulatorError

if TYPE_CHECKING:
    from pathlib import Path

EXPECTED = {
    "healthy_api",
    "async_retry_storm",
    "async_dropped",
    "async_throttled_expiry",
    "sqs_poison_no_redrive",
    "sqs_redrive_partial_batch",
    "kinesis_poison_bisect",
    "kinesis_poison_no_bisect",
    "dynamodb_streams",
    "sqs_fifo_blocked_group",
    "sync_client_retries",
    "async_sns_dlq",
}


def test_list_scenarios_is_sorted_with_descriptions() -> None:
    listed = list_scenarios()
    assert {name for name, _ in listed} == EXPECTED
    assert listed == sorted(listed)
    assert all(desc and "\n" not in desc for _, desc in listed)


def test_unknown_name_lists_the_builtins() -> None:
    with pytest.raises(EmulatorError, match="healthy_api"):
        load_scenario("nope")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (
            'name = "x"\n[functions.f]\nfailure_rate = 2\n[[callers]]\nkind="sdk"\nfunction="f"\n',
            "functions.f.failure_rate",
        ),
        ('name = "x"\n[functions.f]\n[[callers]]\nkind="fax"\nfunction="f"\n', "callers[0].kind"),
        (
            'name = "x"\n[functions.f]\nbogus = 1\n[[callers]]\nkind="sdk"\nfunction="f"\n',
            "functions.f.bogus",
        ),
        (
            'name = "x"\n[functions.f]\n[[callers]]\nkind="sdk"\nfunction="g"\n',
            "callers[0].function",
        ),
        (
            'name = "x"\n[functions.f]\ntimeout_s = 60\n[queues.q]\n[[mappings]]\nsource="q"\n'
            'function="f"\n[[callers]]\nkind="sqs"\ntarget="q"\n',
            "queues.q.visibility_timeout_s",
        ),
        (
            'name = "x"\n[functions.f]\nfailure_flag = "oops"\n[[callers]]\nkind="sdk"\n'
            'function="f"\n',
            "functions.f.failure_flag",
        ),
        (
            'name = "x"\n[functions.f]\nfailure_cause = 1\n[[callers]]\nkind="sdk"\nfunction="f"\n',
            "functions.f.failure_cause",
        ),
    ],
)
def test_invalid_scenarios_name_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(EmulatorError) as info:
        load_scenario(path)
    assert str(path) in str(info.value)
    assert f"key {key}:" in str(info.value)


def test_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("name = = 1")
    with pytest.raises(EmulatorError, match="not valid TOML"):
        load_scenario(path)


def test_import_tracelens_does_not_import_the_xray_sdk() -> None:
    import subprocess
    import sys

    code = "import sys, tracelens; print('aws_xray_sdk' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
