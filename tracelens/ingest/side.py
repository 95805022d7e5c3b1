"""config.json and DLQ / on-failure destination dumps -> SideInputs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from tracelens.errors import SideInputError
from tracelens.model.side import (
    DEFAULT_MAXIMUM_EVENT_AGE_SECONDS,
    DEFAULT_MAXIMUM_RETRY_ATTEMPTS,
    DestinationRecord,
    DlqMessage,
    EventSourceMapping,
    FunctionConfig,
    QueueConfig,
    RedrivePolicy,
    SideDump,
    SideInputs,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

_ARN_SPEC = re.compile(r"^(arn:[^=]+)=(.+)$")


def read_side_inputs(
    paths: Sequence[Path], *, config: Path | None, dlq: Sequence[str]
) -> SideInputs:
    """Read config.json files and DLQ / destination dumps.

    Args:
        paths: The PATH arguments of ``analyze``; a directory among them holding
            ``config.json`` and/or ``dlq/*.json`` is an incident bundle and those are read.
        config: An explicit ``--config FILE``; it is merged last, so it wins.
        dlq: ``--dlq FILE`` or ``--dlq ARN=FILE`` values.

    Returns:
        The typed side inputs.

    Raises:
        SideInputError: A side file is missing or cannot be understood.
    """
    config_files: list[Path] = []
    dump_specs: list[tuple[str | None, Path]] = []
    for path in paths:
        if not path.is_dir():
            continue
        if (path / "config.json").is_file():
            config_files.append(path / "config.json")
        dlq_dir = path / "dlq"
        if dlq_dir.is_dir():
            dump_specs.extend((None, p) for p in sorted(dlq_dir.glob("*.json")) if p.is_file())
    if config is not None:
        config_files.append(config)
    for spec in dlq:
        match = _ARN_SPEC.match(spec)
        if match:
            dump_specs.append((match.group(1), Path(match.group(2))))
        else:
            dump_specs.append((None, Path(spec)))

    functions: dict[str, FunctionConfig] = {}
    queues: dict[str, QueueConfig] = {}
    mappings: list[EventSourceMapping] = []
    for file in config_files:
        f, q, m = _read_config(file)
        functions.update(f)
        queues.update(q)
        mappings.extend(m)
    dumps = tuple(_read_dump(file, arn) for arn, file in dump_specs)
    return SideInputs(
        functions=dict(sorted(functions.items())),
        queues=dict(sorted(queues.items())),
        mappings=tuple(mappings),
        dumps=dumps,
        config_files=tuple(str(f) for f in config_files),
    )


# --- config.json ------------------------------------------------------------------------


def _load(file: Path, what: str) -> bytes:
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise SideInputError(f"{file}: {what} file not found") from None
    except OSError as exc:
        raise SideInputError(f"{file}: cannot read {what} file: {exc.strerror}") from exc


def _decode(data: bytes, file: Path, what: str) -> Any:
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise SideInputError(f"{file}: {what} is not valid JSON ({exc})") from exc


def _obj(value: Any, file: Path, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SideInputError(f"{file}: {where} must be a JSON object")
    return value


def _int(value: Any, file: Path, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise SideInputError(f"{file}: {where} must be a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise SideInputError(f"{file}: {where} must be a number, got {value!r}")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _read_config(
    file: Path,
) -> tuple[dict[str, FunctionConfig], dict[str, QueueConfig], list[EventSourceMapping]]:
    raw = _obj(_decode(_load(file, "config"), file, "config"), file, "the config")
    functions = {
        str(name): _function(str(name), _obj(body, file, f"functions.{name}"), file)
        for name, body in _obj(raw.get("functions"), file, "'functions'").items()
    }
    queues = {
        str(arn): _queue(str(arn), _obj(body, file, f"queues.{arn}"), file)
        for arn, body in _obj(raw.get("queues"), file, "'queues'").items()
    }
    raw_mappings = raw.get("EventSourceMappings") or []
    if not isinstance(raw_mappings, list):
        raise SideInputError(f"{file}: 'EventSourceMappings' must be a list")
    mappings = [
        _mapping(_obj(m, file, f"EventSourceMappings[{i}]"), file, i)
        for i, m in enumerate(raw_mappings)
    ]
    return functions, queues, mappings


def _function(name: str, body: dict[str, Any], file: Path) -> FunctionConfig:
    where = f"functions.{name}"
    invoke = _obj(body.get("EventInvokeConfig"), file, f"{where}.EventInvokeConfig")
    destinations = _obj(
        invoke.get("DestinationConfig"), file, f"{where}.EventInvokeConfig.DestinationConfig"
    )
    # ``OnFailure: {}`` (no Destination) is how AWS reports "no destination"; OnSuccess is
    # never a failure target.
    on_failure = _obj(destinations.get("OnFailure"), file, f"{where}...OnFailure")
    retries = _int(invoke.get("MaximumRetryAttempts"), file, f"{where}...MaximumRetryAttempts")
    age = _int(invoke.get("MaximumEventAgeInSeconds"), file, f"{where}...MaximumEventAgeInSeconds")
    return FunctionConfig(
        name=name,
        arn=_str(body.get("FunctionArn")),
        maximum_retry_attempts=DEFAULT_MAXIMUM_RETRY_ATTEMPTS if retries is None else retries,
        maximum_event_age_seconds=DEFAULT_MAXIMUM_EVENT_AGE_SECONDS if age is None else age,
        dlq_arn=_str(_obj(body.get("DeadLetterConfig"), file, where).get("TargetArn")),
        on_failure_arn=_str(on_failure.get("Destination")),
    )


def _queue(arn: str, body: dict[str, Any], file: Path) -> QueueConfig:
    where = f"queues.{arn}"
    attributes = _obj(body.get("Attributes"), file, f"{where}.Attributes")
    raw_policy = attributes.get("RedrivePolicy")
    policy: RedrivePolicy | None = None
    if isinstance(raw_policy, str) and raw_policy.strip():
        # AWS returns the policy as a JSON string inside the attribute map.
        parsed = _obj(
            _decode(raw_policy.encode(), file, f"{where}.Attributes.RedrivePolicy"),
            file,
            f"{where}.Attributes.RedrivePolicy",
        )
        raw_policy = parsed
    if isinstance(raw_policy, dict):
        policy = RedrivePolicy(
            dead_letter_target_arn=_str(raw_policy.get("deadLetterTargetArn")),
            max_receive_count=_int(
                raw_policy.get("maxReceiveCount"), file, f"{where} maxReceiveCount"
            ),
        )
    elif raw_policy not in (None, ""):
        raise SideInputError(f"{file}: {where}.Attributes.RedrivePolicy must be a JSON string")
    return QueueConfig(
        arn=arn,
        url=_str(body.get("QueueUrl")),
        redrive_policy=policy,
        visibility_timeout_seconds=_int(
            attributes.get("VisibilityTimeout"), file, f"{where}.Attributes.VisibilityTimeout"
        ),
        message_retention_seconds=_int(
            attributes.get("MessageRetentionPeriod"),
            file,
            f"{where}.Attributes.MessageRetentionPeriod",
        ),
    )


def _mapping(body: dict[str, Any], file: Path, index: int) -> EventSourceMapping:
    where = f"EventSourceMappings[{index}]"
    source = _str(body.get("EventSourceArn"))
    if source is None:
        raise SideInputError(f"{file}: {where} has no EventSourceArn")
    types = body.get("FunctionResponseTypes") or []
    return EventSourceMapping(
        event_source_arn=source,
        function_arn=_str(body.get("FunctionArn")),
        batch_size=_int(body.get("BatchSize"), file, f"{where}.BatchSize"),
        function_response_types=tuple(str(t) for t in types) if isinstance(types, list) else (),
        bisect_batch_on_function_error=bool(body.get("BisectBatchOnFunctionError")),
        maximum_retry_attempts=_int(
            body.get("MaximumRetryAttempts"), file, f"{where}.MaximumRetryAttempts"
        ),
        maximum_record_age_seconds=_int(
            body.get("MaximumRecordAgeInSeconds"), file, f"{where}.MaximumRecordAgeInSeconds"
        ),
        on_failure_arn=_str(
            _obj(
                _obj(body.get("DestinationConfig"), file, f"{where}.DestinationConfig").get(
                    "OnFailure"
                ),
                file,
                f"{where}.DestinationConfig.OnFailure",
            ).get("Destination")
        ),
    )


# --- DLQ and destination dumps ----------------------------------------------------------


def _read_dump(file: Path, arn: str | None) -> SideDump:
    data = _load(file, "DLQ dump")
    if not data.strip():
        # `aws sqs receive-message` prints nothing at all when the queue is empty.
        return SideDump(source=str(file), queue_arn=arn)
    try:
        raw: Any = msgspec.json.decode(data)
    except msgspec.DecodeError:
        raw = _ndjson(data, file)
    queue_arn = arn
    if isinstance(raw, dict):
        if arn is None:
            queue_arn = _str(raw.get("QueueArn")) or _str(raw.get("TopicArn"))
        # SQS receive-message output, or SNS notifications (an SNS topic as DLQ / destination).
        for key in ("Messages", "Notifications"):
            if key in raw:
                messages = raw.get(key) or []
                if not isinstance(messages, list):
                    raise SideInputError(f"{file}: '{key}' must be a list")
                if queue_arn is None and key == "Notifications":
                    queue_arn = next(
                        (
                            t
                            for m in messages
                            if isinstance(m, dict) and (t := _str(m.get("TopicArn")))
                        ),
                        None,
                    )
                return _from_messages(messages, file, queue_arn)
        if "requestContext" in raw:
            raw = [raw]
        elif not raw or set(raw) == {"QueueArn"}:
            return SideDump(source=str(file), queue_arn=queue_arn)
        else:
            raise SideInputError(
                f"{file}: not a DLQ dump (expected `aws sqs receive-message` output with "
                "'Messages', or destination records)"
            )
    if not isinstance(raw, list):
        raise SideInputError(f"{file}: a DLQ dump must be a JSON object or a list of records")
    if raw and all(isinstance(r, dict) and ("Body" in r or "MessageAttributes" in r) for r in raw):
        return _from_messages(raw, file, queue_arn)
    records = []
    for i, item in enumerate(raw):
        record = _destination(item, queue_arn)
        if record is None:
            raise SideInputError(
                f"{file}: record {i + 1} has no requestContext.requestId "
                "(expected an on-failure destination record)"
            )
        records.append(record)
    return SideDump(source=str(file), queue_arn=queue_arn, destination_records=tuple(records))


def _ndjson(data: bytes, file: Path) -> list[Any]:
    out = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(msgspec.json.decode(line))
        except msgspec.DecodeError as exc:
            raise SideInputError(f"{file}:{number}: not valid JSON ({exc})") from exc
    return out


def _attribute(attributes: dict[str, Any], name: str) -> str | None:
    value = attributes.get(name)
    if isinstance(value, dict):
        # SQS writes {"DataType", "StringValue"}; SNS notifications {"Type", "Value"}.
        return _str(value.get("StringValue")) or _str(value.get("Value"))
    return _str(value)


def _from_messages(messages: list[Any], file: Path, queue_arn: str | None) -> SideDump:
    dlq_messages: list[DlqMessage] = []
    records: list[DestinationRecord] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise SideInputError(f"{file}: Messages[{i}] must be a JSON object")
        attributes = message.get("MessageAttributes")
        request_id = _attribute(attributes, "RequestID") if isinstance(attributes, dict) else None
        if request_id is not None and isinstance(attributes, dict):
            dlq_messages.append(
                DlqMessage(
                    request_id=request_id,
                    error_code=_attribute(attributes, "ErrorCode"),
                    error_message=_attribute(attributes, "ErrorMessage"),
                )
            )
            continue
        body = message.get("Body", message.get("Message"))
        if isinstance(body, str):
            try:
                body = msgspec.json.decode(body)
            except msgspec.DecodeError:
                body = None
        record = _destination(body, queue_arn)
        if record is not None:
            records.append(record)
        # Anything else (e.g. a message an SQS redrive moved here) says nothing about Lambda.
    return SideDump(
        source=str(file),
        queue_arn=queue_arn,
        dlq_messages=tuple(dlq_messages),
        destination_records=tuple(records),
    )


def _destination(body: Any, queue_arn: str | None) -> DestinationRecord | None:
    if not isinstance(body, dict):
        return None
    context = body.get("requestContext")
    if not isinstance(context, dict):
        return None
    request_id = _str(context.get("requestId"))
    if request_id is None:
        return None
    count = context.get("approximateInvokeCount")
    return DestinationRecord(
        request_id=request_id,
        condition=_str(context.get("condition")),
        approximate_invoke_count=count if isinstance(count, int) else None,
        destination_arn=queue_arn,
        function_arn=_str(context.get("functionArn")),
        batch_info="KinesisBatchInfo" in body or "DDBStreamBatchInfo" in body,
    )
