"""Config input: AWS's own ranges enforced, and the raw AWS CLI outputs users already have."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from tests.emulator.conftest import BUILTINS, builtin_result
from tracelens.cli import main
from tracelens.errors import SideInputError
from tracelens.ingest.config_file import read_config_files
from tracelens.ingest.side import read_side_inputs

if TYPE_CHECKING:
    from tracelens.ingest.config_file import ConfigContents

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_traces"
ACCOUNT = "arn:aws:lambda:us-east-1:123456789012"
WORKER = f"{ACCOUNT}:function:orders-worker"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:orders"
DLQ = "arn:aws:sqs:us-east-1:123456789012:orders-dlq"
FAILED = "arn:aws:sqs:us-east-1:123456789012:failed"
STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"


def _write(path: Path, obj: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2))
    return path


def _read(tmp_path: Path, *objs: object) -> ConfigContents:
    files = [_write(tmp_path / f"c{i}.json", obj) for i, obj in enumerate(objs)]
    return read_config_files(files)


def _error(tmp_path: Path, obj: object, monkeypatch: pytest.MonkeyPatch) -> str:
    """The one-line message for ``obj`` written as ./config.json."""
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "config.json", obj)
    with pytest.raises(SideInputError) as info:
        read_config_files([Path("config.json")])
    message = str(info.value)
    assert "\n" not in message
    return message


def _function(**fields: Any) -> dict[str, Any]:
    return {"functions": {"orders-worker": {"FunctionArn": WORKER, **fields}}}


def _invoke(**fields: Any) -> dict[str, Any]:
    return _function(EventInvokeConfig=fields)


def _mapping(**fields: Any) -> dict[str, Any]:
    return {"EventSourceMappings": [{"EventSourceArn": STREAM, "FunctionArn": WORKER, **fields}]}


def _queue(**attributes: str) -> dict[str, Any]:
    return {"queues": {QUEUE: {"Attributes": {"QueueArn": QUEUE, **attributes}}}}


def _policy(count: object) -> str:
    return json.dumps({"deadLetterTargetArn": DLQ, "maxReceiveCount": count})


# --- values outside AWS's ranges or of the wrong type: exit 2 with file and JSON path ----------

WORKER_PATH = "functions.orders-worker"
INVOKE_PATH = f"{WORKER_PATH}.EventInvokeConfig"
QUEUE_PATH = f"queues.{QUEUE}.Attributes"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (_invoke(MaximumRetryAttempts=7), f"{INVOKE_PATH}.MaximumRetryAttempts: 7 is outside 0-2"),
        (
            _invoke(MaximumRetryAttempts=-1),
            f"{INVOKE_PATH}.MaximumRetryAttempts: -1 is outside 0-2",
        ),
        (
            _invoke(MaximumEventAgeInSeconds=59),
            f"{INVOKE_PATH}.MaximumEventAgeInSeconds: 59 is outside 60-21600",
        ),
        (
            _invoke(MaximumEventAgeInSeconds=21601),
            f"{INVOKE_PATH}.MaximumEventAgeInSeconds: 21601 is outside 60-21600",
        ),
        (_function(Timeout="abc"), f'{WORKER_PATH}.Timeout: expected int, got "abc"'),
        (_function(Timeout=0), f"{WORKER_PATH}.Timeout: 0 is outside 1-5400"),
        (_function(Timeout=True), f"{WORKER_PATH}.Timeout: expected int, got true"),
        (
            _invoke(MaximumRetryAttempts=1.5),
            f"{INVOKE_PATH}.MaximumRetryAttempts: expected int, got 1.5",
        ),
        (
            _function(DeadLetterConfig={"TargetArn": 3}),
            f"{WORKER_PATH}.DeadLetterConfig.TargetArn: expected str, got 3",
        ),
        (
            _invoke(DestinationConfig={"OnFailure": []}),
            f"{INVOKE_PATH}.DestinationConfig.OnFailure: expected object, got []",
        ),
        (_mapping(BatchSize=0), "EventSourceMappings[0].BatchSize: 0 is outside 1-10000"),
        (_mapping(BatchSize=10001), "EventSourceMappings[0].BatchSize: 10001 is outside 1-10000"),
        (
            _mapping(ParallelizationFactor=11),
            "EventSourceMappings[0].ParallelizationFactor: 11 is outside 1-10",
        ),
        (
            _mapping(MaximumRecordAgeInSeconds=30),
            "EventSourceMappings[0].MaximumRecordAgeInSeconds: 30 is outside -1 or 60-604800",
        ),
        (
            _mapping(MaximumRecordAgeInSeconds=604801),
            "EventSourceMappings[0].MaximumRecordAgeInSeconds: 604801 is outside -1 or 60-604800",
        ),
        (
            _mapping(MaximumRetryAttempts=-2),
            "EventSourceMappings[0].MaximumRetryAttempts: -2 is outside -1-10000",
        ),
        (
            _mapping(BisectBatchOnFunctionError="yes"),
            'EventSourceMappings[0].BisectBatchOnFunctionError: expected bool, got "yes"',
        ),
        ({"functions": []}, "functions: expected object, got []"),
        ({"EventSourceMappings": {}}, "EventSourceMappings: expected array, got {}"),
        (
            _queue(VisibilityTimeout="43201"),
            f'{QUEUE_PATH}.VisibilityTimeout: "43201" is outside 0-43200',
        ),
        (
            _queue(VisibilityTimeout="soon"),
            f'{QUEUE_PATH}.VisibilityTimeout: expected int, got "soon"',
        ),
        (
            _queue(MessageRetentionPeriod="59"),
            f'{QUEUE_PATH}.MessageRetentionPeriod: "59" is outside 60-1209600',
        ),
        (
            _queue(RedrivePolicy=_policy(0)),
            f"{QUEUE_PATH}.RedrivePolicy.maxReceiveCount: 0 is outside 1-1000",
        ),
        (
            _queue(RedrivePolicy=_policy("1001")),
            f'{QUEUE_PATH}.RedrivePolicy.maxReceiveCount: "1001" is outside 1-1000',
        ),
        (_queue(RedrivePolicy="{oops"), f"{QUEUE_PATH}.RedrivePolicy: not valid JSON"),
    ],
)
def test_bad_value_is_one_line_with_file_and_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: object, expected: str
) -> None:
    message = _error(tmp_path, config, monkeypatch)
    assert message.startswith(f"config.json: {expected}"), message


@pytest.mark.parametrize(
    "config",
    [
        {},
        [],
        {"hello": 1},
        [{"FunctionName": "x"}],
        "functions",
        {"Attributes": {"VisibilityTimeout": "30"}},  # get-queue-attributes without QueueArn
        {"FunctionArn": WORKER},  # neither a function configuration nor an event invoke config
    ],
)
def test_unknown_shape_names_the_accepted_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: object
) -> None:
    message = _error(tmp_path, config, monkeypatch)
    assert message.startswith("config.json: ")
    for shape in (
        "list-functions",
        "get-function-configuration",
        "get-function-event-invoke-config",
        "list-function-event-invoke-configs",
        "list-event-source-mappings",
        "get-queue-attributes",
    ):
        assert shape in message


def test_not_json_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text("{not json")
    with pytest.raises(SideInputError, match=r"c\.json: .*not valid JSON"):
        read_config_files([bad])
    with pytest.raises(SideInputError, match="not found"):
        read_config_files([tmp_path / "nope.json"])


def test_range_edges_are_accepted(tmp_path: Path) -> None:
    config = {
        "functions": {
            "a": {
                "Timeout": 1,
                "EventInvokeConfig": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60},
            },
            "b": {
                "Timeout": 900,
                "EventInvokeConfig": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600},
            },
        },
        "queues": {
            QUEUE: {
                "Attributes": {
                    "VisibilityTimeout": "0",
                    "MessageRetentionPeriod": "1209600",
                    "RedrivePolicy": _policy(1000),
                }
            }
        },
        "EventSourceMappings": [
            {
                "UUID": "1",
                "EventSourceArn": STREAM,
                "BatchSize": 1,
                "MaximumRecordAgeInSeconds": -1,
                "MaximumRetryAttempts": -1,
            },
            {
                "UUID": "2",
                "EventSourceArn": STREAM,
                "BatchSize": 10000,
                "MaximumRecordAgeInSeconds": 60,
                "MaximumRetryAttempts": 10000,
            },
            {"UUID": "3", "EventSourceArn": STREAM, "MaximumRecordAgeInSeconds": 604800},
        ],
    }
    read = _read(tmp_path, config)
    assert read.functions["a"].maximum_retry_attempts == 0
    assert read.functions["b"].maximum_event_age_seconds == 21600
    assert [m.maximum_record_age_seconds for m in read.mappings] == [-1, 60, 604800]
    queue = read.queues[QUEUE]
    assert (queue.visibility_timeout_seconds, queue.message_retention_seconds) == (0, 1209600)
    assert queue.redrive_policy is not None
    assert queue.redrive_policy.max_receive_count == 1000


def test_unknown_keys_and_nulls_are_ignored(tmp_path: Path) -> None:
    config = _function(
        Timeout=30,
        Environment={"Variables": {"A": "1"}},
        Layers=[{"Arn": "x"}],
        DeadLetterConfig=None,
        EventInvokeConfig={"MaximumRetryAttempts": 1, "LastModified": 1573686021.479},
    )
    fn = _read(tmp_path, config).functions["orders-worker"]
    assert (fn.arn, fn.maximum_retry_attempts, fn.dlq_arn) == (WORKER, 1, None)


# --- the raw AWS CLI outputs users already have --------------------------------------------


def _configuration(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "FunctionName": name,
        "FunctionArn": f"{ACCOUNT}:function:{name}",
        "Runtime": "python3.12",
        "Timeout": 30,
        "MemorySize": 512,
        "LastModified": "2026-11-01T00:00:00.000+0000",
        "TracingConfig": {"Mode": "Active"},
        **fields,
    }


def _invoke_config(qualified_arn: str, retries: int, age: int = 21600, **dest: Any) -> Any:
    return {
        "LastModified": 1573686021.479,
        "FunctionArn": qualified_arn,
        "MaximumRetryAttempts": retries,
        "MaximumEventAgeInSeconds": age,
        "DestinationConfig": {"OnSuccess": {}, "OnFailure": dest},
    }


def test_pasted_list_functions_is_read(tmp_path: Path) -> None:
    listing = {
        "Functions": [
            _configuration("orders-worker", DeadLetterConfig={"TargetArn": DLQ}),
            _configuration("thumbnailer"),
        ],
        "NextMarker": None,
    }
    read = _read(tmp_path, listing)
    assert sorted(read.functions) == ["orders-worker", "thumbnailer"]
    worker = read.functions["orders-worker"]
    assert (worker.arn, worker.dlq_arn) == (WORKER, DLQ)
    # no event invoke config supplied: Lambda's defaults
    assert (worker.maximum_retry_attempts, worker.maximum_event_age_seconds) == (2, 21600)


def test_list_functions_with_a_bad_timeout_names_the_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing = {"Functions": [_configuration("a"), _configuration("b", Timeout="abc")]}
    message = _error(tmp_path, listing, monkeypatch)
    assert message == 'config.json: Functions[1].Timeout: expected int, got "abc"'


def test_get_function_configuration_and_event_invoke_config_merge(tmp_path: Path) -> None:
    # WHEN one file per call, as `aws lambda ... > file.json` writes them
    read = _read(
        tmp_path,
        _configuration("orders-worker", DeadLetterConfig={"TargetArn": DLQ}),
        _invoke_config(f"{WORKER}:$LATEST", 1, 3600, Destination=FAILED),
    )
    # THEN the event invoke config (qualifier stripped) lands on the same function
    (name,) = read.functions
    fn = read.functions[name]
    assert name == "orders-worker"
    assert (fn.arn, fn.dlq_arn, fn.on_failure_arn) == (WORKER, DLQ, FAILED)
    assert (fn.maximum_retry_attempts, fn.maximum_event_age_seconds) == (1, 3600)


def test_get_function_output_is_read(tmp_path: Path) -> None:
    got = {"Configuration": _configuration("orders-worker", Timeout=60), "Code": {}}
    assert _read(tmp_path, got).functions["orders-worker"].arn == WORKER


def test_event_invoke_config_alone_makes_a_function(tmp_path: Path) -> None:
    read = _read(tmp_path, _invoke_config(f"{WORKER}:$LATEST", 0, 60))
    fn = read.functions["orders-worker"]
    assert (fn.arn, fn.maximum_retry_attempts, fn.maximum_event_age_seconds) == (WORKER, 0, 60)


def test_event_invoke_config_out_of_range_has_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = _error(tmp_path, _invoke_config(f"{WORKER}:$LATEST", 7), monkeypatch)
    assert message == "config.json: MaximumRetryAttempts: 7 is outside 0-2"


def test_list_function_event_invoke_configs(tmp_path: Path) -> None:
    listing = {
        "FunctionEventInvokeConfigs": [
            _invoke_config(f"{ACCOUNT}:function:thumbnailer:$LATEST", 1),
            _invoke_config(f"{WORKER}:$LATEST", 0, Destination=FAILED),
        ]
    }
    read = _read(tmp_path, listing)
    assert read.functions["thumbnailer"].maximum_retry_attempts == 1
    assert read.functions["orders-worker"].failure_targets == (FAILED,)


def test_event_invoke_configs_of_several_qualifiers_prefer_latest_and_say_so(
    tmp_path: Path,
) -> None:
    listing = {
        "FunctionEventInvokeConfigs": [
            _invoke_config(f"{WORKER}:live", 0),
            _invoke_config(f"{WORKER}:$LATEST", 2),
        ]
    }
    read = _read(tmp_path, listing)
    assert read.functions["orders-worker"].maximum_retry_attempts == 2
    (note,) = read.notes
    assert "orders-worker" in note
    assert "$LATEST" in note
    assert "live" in note


def test_list_event_source_mappings(tmp_path: Path) -> None:
    listing = {
        "EventSourceMappings": [
            {
                "UUID": "u-1",
                "EventSourceArn": STREAM,
                "FunctionArn": WORKER,
                "BatchSize": 100,
                "BisectBatchOnFunctionError": True,
                "MaximumRetryAttempts": 3,
                "MaximumRecordAgeInSeconds": 3600,
                "DestinationConfig": {"OnFailure": {"Destination": FAILED}},
                "StartingPosition": "LATEST",
            },
            {
                "UUID": "u-2",
                "EventSourceArn": QUEUE,
                "FunctionArn": f"{WORKER}:live",
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            },
        ]
    }
    read = _read(tmp_path, listing)
    stream, queue = read.mappings
    assert (stream.event_source_arn, stream.batch_size, stream.on_failure_arn) == (
        STREAM,
        100,
        FAILED,
    )
    assert stream.bisect_batch_on_function_error
    assert (stream.maximum_retry_attempts, stream.maximum_record_age_seconds) == (3, 3600)
    assert queue.function_name == "orders-worker"
    assert queue.function_response_types == ("ReportBatchItemFailures",)
    assert not read.functions


def test_mapping_without_event_source_arn_is_skipped_with_a_note(tmp_path: Path) -> None:
    # a self-managed Kafka mapping has no EventSourceArn; tracelens has nothing to do with it
    listing = {
        "EventSourceMappings": [
            {"UUID": "k", "FunctionArn": WORKER, "SelfManagedEventSource": {"Endpoints": {}}},
            {"UUID": "s", "EventSourceArn": STREAM, "FunctionArn": WORKER},
        ]
    }
    read = _read(tmp_path, listing)
    assert [m.event_source_arn for m in read.mappings] == [STREAM]
    (note,) = read.notes
    assert "EventSourceMappings[0]" in note


def test_same_mapping_in_two_files_is_counted_once(tmp_path: Path) -> None:
    mapping = {"UUID": "u-1", "EventSourceArn": STREAM, "FunctionArn": WORKER, "BatchSize": 10}
    newer = {**mapping, "BatchSize": 20}
    read = _read(tmp_path, {"EventSourceMappings": [mapping]}, {"EventSourceMappings": [newer]})
    (only,) = read.mappings
    assert only.batch_size == 20


def test_get_queue_attributes(tmp_path: Path) -> None:
    output = {
        "Attributes": {
            "QueueArn": QUEUE,
            "ApproximateNumberOfMessages": "0",
            "VisibilityTimeout": "45",
            "MessageRetentionPeriod": "345600",
            "RedrivePolicy": _policy(5),
            "FifoQueue": "false",
        }
    }
    queue = _read(tmp_path, output).queues[QUEUE]
    assert (queue.visibility_timeout_seconds, queue.message_retention_seconds) == (45, 345600)
    assert queue.redrive_policy is not None
    assert (
        queue.redrive_policy.dead_letter_target_arn,
        queue.redrive_policy.max_receive_count,
    ) == (
        DLQ,
        5,
    )
    assert queue.url is None


def test_get_queue_attributes_bad_policy_has_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = {"Attributes": {"QueueArn": QUEUE, "RedrivePolicy": _policy(0)}}
    message = _error(tmp_path, output, monkeypatch)
    assert message == "config.json: Attributes.RedrivePolicy.maxReceiveCount: 0 is outside 1-1000"


def test_tracelens_config_queue_retention_and_mapping_destination(tmp_path: Path) -> None:
    config = {
        **_queue(MessageRetentionPeriod="900", VisibilityTimeout="30"),
        **_mapping(DestinationConfig={"OnFailure": {"Destination": FAILED}}),
    }
    config["queues"][QUEUE]["QueueUrl"] = "https://q"
    read = _read(tmp_path, config)
    assert read.queues[QUEUE].message_retention_seconds == 900
    assert read.queues[QUEUE].url == "https://q"
    assert read.mappings[0].on_failure_arn == FAILED


def test_a_directory_is_every_json_in_it(tmp_path: Path) -> None:
    directory = tmp_path / "aws"
    _write(directory / "fn.json", _configuration("orders-worker"))
    _write(directory / "invoke.json", _invoke_config(f"{WORKER}:$LATEST", 0))
    _write(directory / "esm.json", _mapping())
    _write(directory / "queue.json", _queue(VisibilityTimeout="60"))
    (directory / "notes.txt").write_text("not read")
    side = read_side_inputs([], config=[directory], dlq=())
    assert side.functions["orders-worker"].maximum_retry_attempts == 0
    assert side.queues[QUEUE].visibility_timeout_seconds == 60
    assert len(side.mappings) == 1
    assert side.config_files == tuple(
        str(directory / n) for n in ("esm.json", "fn.json", "invoke.json", "queue.json")
    )
    assert side.has_config


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SideInputError, match=r"empty.*no \*\.json"):
        read_side_inputs([], config=[tmp_path / "empty"], dlq=())


def test_bundle_config_also_named_by_config_dir_is_read_once(tmp_path: Path) -> None:
    _write(tmp_path / "config.json", {**_mapping(), **_function()})
    side = read_side_inputs([tmp_path], config=[tmp_path], dlq=())
    assert side.config_files == (str(tmp_path / "config.json"),)
    assert len(side.mappings) == 1


def test_same_mapping_without_uuid_is_keyed_by_source_and_function(tmp_path: Path) -> None:
    read = _read(tmp_path, _mapping(BatchSize=5), _mapping(BatchSize=7))
    assert [m.batch_size for m in read.mappings] == [7]


def test_later_files_win(tmp_path: Path) -> None:
    read = _read(tmp_path, _invoke(MaximumRetryAttempts=2), _invoke(MaximumRetryAttempts=0))
    assert read.functions["orders-worker"].maximum_retry_attempts == 0


# --- what tracelens itself writes still validates -------------------------------------------


@pytest.mark.parametrize("bundle", sorted(p.parent.name for p in SAMPLES.glob("*/config.json")))
def test_every_sample_bundle_config_validates(bundle: str) -> None:
    read = read_config_files([SAMPLES / bundle / "config.json"])
    assert read.functions


@pytest.mark.parametrize("name", BUILTINS)
def test_emulator_config_validates(name: str, tmp_path: Path) -> None:
    config = builtin_result(name).config
    read = read_config_files([_write(tmp_path / "config.json", config)])
    assert sorted(read.functions) == sorted(config["functions"])
    assert len(read.mappings) == len(config["EventSourceMappings"])


# --- the command line ------------------------------------------------------------------------


def test_cli_bad_config_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "bad.json", _invoke(MaximumRetryAttempts=7))
    result = CliRunner().invoke(
        main, ["analyze", str(SAMPLES / "async_dropped"), "--config", "bad.json"]
    )
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == (
        "error: bad.json: functions.orders-worker.EventInvokeConfig.MaximumRetryAttempts: "
        "7 is outside 0-2\n"
    )


@pytest.mark.parametrize("config", [{}, {"Functions": "x"}])
def test_cli_unusable_config_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: object
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "bad.json", config)
    result = CliRunner().invoke(
        main, ["analyze", str(SAMPLES / "async_dropped"), "--config", "bad.json"]
    )
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: bad.json: ")


def test_cli_config_is_repeatable_and_takes_a_directory(tmp_path: Path) -> None:
    directory = tmp_path / "aws"
    _write(directory / "fn.json", _configuration("thumbnailer"))
    invoke = _write(
        tmp_path / "invoke.json",
        _invoke_config(f"{ACCOUNT}:function:thumbnailer:$LATEST", 1),
    )
    traces = SAMPLES / "async_dropped" / "traces.ndjson"
    result = CliRunner().invoke(
        main,
        [
            "analyze",
            str(traces),
            "--config",
            str(directory),
            "--config",
            str(invoke),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["input"]["config"] is True


def test_readme_config_example_validates(tmp_path: Path) -> None:
    import re

    text = (ROOT / "README.md").read_text()
    section = text[text.index("### config.json") :]
    match = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert match is not None
    read = _read(tmp_path, json.loads(match.group(1)))
    assert read.functions["invoice-renderer"].on_failure_arn == FAILED
    assert read.mappings[0].function_name == "order-worker"


def _real_outputs() -> list[tuple[str, dict[str, Any]]]:
    """Every recorded AWS response in LocalStack's snapshots that is a config shape."""
    real = ROOT.parent / "shared" / "real_traces" / "localstack"
    if not real.is_dir():
        import os

        if os.environ.get("CI"):
            pytest.fail(f"{real} is missing")
        pytest.skip(f"{real} is missing")
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            keys = set(value)
            attributes = value.get("Attributes")
            if {"FunctionName", "Timeout"} <= keys:
                found.append(("get-function-configuration", value))
            elif {"UUID", "EventSourceArn"} <= keys:
                found.append(("get-event-source-mapping", value))
            elif "EventSourceMappings" in keys:
                found.append(("list-event-source-mappings", value))
            elif isinstance(attributes, dict) and "QueueArn" in attributes:
                found.append(("get-queue-attributes", value))
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    for snapshot in sorted(real.glob("*.snapshot.json")):
        walk(json.loads(snapshot.read_text()))
    return found


def test_real_aws_outputs_validate(tmp_path: Path) -> None:
    # GIVEN the AWS responses LocalStack's test suite recorded (and checks against AWS)
    outputs = _real_outputs()
    kinds = {kind for kind, _ in outputs}
    assert kinds == {
        "get-function-configuration",
        "get-event-source-mapping",
        "list-event-source-mappings",
        "get-queue-attributes",
    }
    # WHEN each is given as a config file THEN each is accepted and yields its object
    for i, (kind, output) in enumerate(outputs):
        read = read_config_files([_write(tmp_path / f"{i}.json", output)])
        if kind == "get-function-configuration":
            assert len(read.functions) == 1, output
        elif kind == "get-queue-attributes":
            assert len(read.queues) == 1, output
        elif kind == "get-event-source-mapping":
            assert len(read.mappings) == 1, output
