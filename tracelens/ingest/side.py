"""config.json and DLQ / on-failure destination dumps -> SideInputs."""

from __future__ import annotations

import dataclasses
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
    from collections.abc import Mapping, Sequence

#: arn:partition:service:region:account:resource (region and account may be empty).
_ARN = re.compile(r"^arn:[^:=\s]+:[^:=\s]+:[^:=\s]*:[^:=\s]*:[^=\s]+$")
#: Top-level keys a dump may carry besides its messages: the queue and its recorded depth.
_DEPTH_KEYS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
_DUMP_KEYS = frozenset({"QueueArn", "TopicArn", *_DEPTH_KEYS})
#: Message attributes only Lambda writes on a DLQ message (besides RequestID).
_LAMBDA_ATTRIBUTES = ("ErrorCode", "ErrorMessage")


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
    dump_specs.extend(_dump_spec(spec) for spec in dlq)

    functions: dict[str, FunctionConfig] = {}
    queues: dict[str, QueueConfig] = {}
    mappings: list[EventSourceMapping] = []
    for file in config_files:
        f, q, m = _read_config(file)
        functions.update(f)
        queues.update(q)
        mappings.extend(m)
    dumps, notes = _read_dumps(
        dump_specs,
        targets=_failure_targets(functions, queues, mappings),
        has_config=bool(config_files),
    )
    return SideInputs(
        functions=dict(sorted(functions.items())),
        queues=dict(sorted(queues.items())),
        mappings=tuple(mappings),
        dumps=dumps,
        config_files=tuple(str(f) for f in config_files),
        notes=notes,
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
    )


# --- DLQ and destination dumps ----------------------------------------------------------


def _dump_spec(spec: str) -> tuple[str | None, Path]:
    """``--dlq FILE`` or ``--dlq ARN=FILE``; an existing file wins, whatever its name."""
    path = Path(spec)
    if "=" not in spec or path.is_file():
        return None, path
    arn, _, file = spec.partition("=")
    if not _ARN.match(arn):
        raise SideInputError(
            f"--dlq {spec}: {arn!r} is not an ARN (give ARN=FILE, e.g. "
            "arn:aws:sqs:us-east-1:123456789012:my-dlq=dlq.json)"
        )
    if not file:
        raise SideInputError(f"--dlq {spec}: no file after '=' (give ARN=FILE)")
    return arn, Path(file)


def _failure_targets(
    functions: Mapping[str, FunctionConfig],
    queues: Mapping[str, QueueConfig],
    mappings: Sequence[EventSourceMapping],
) -> dict[str, str]:
    """Every configured DLQ or on-failure destination ARN, with what it is."""
    targets: dict[str, str] = {}
    for fn in functions.values():
        if fn.dlq_arn:
            targets.setdefault(fn.dlq_arn, "DLQ")
        if fn.on_failure_arn:
            targets.setdefault(fn.on_failure_arn, "on-failure destination")
    for mapping in mappings:
        if mapping.on_failure_arn:
            targets.setdefault(mapping.on_failure_arn, "on-failure destination")
    for queue in queues.values():
        if queue.redrive_policy and queue.redrive_policy.dead_letter_target_arn:
            targets.setdefault(queue.redrive_policy.dead_letter_target_arn, "DLQ")
    return targets


def _read_dumps(
    specs: Sequence[tuple[str | None, Path]], *, targets: Mapping[str, str], has_config: bool
) -> tuple[tuple[SideDump, ...], tuple[str, ...]]:
    """Read every dump; give a dump without ``QueueArn`` the only configured target.

    A dump that names no queue (no ``QueueArn`` / ``TopicArn`` in it, not given as
    ``ARN=FILE``) is taken as the only DLQ / on-failure destination the config names, and a
    note says so. With several (or no) configured targets it is ambiguous: an error. With no
    config at all it is kept: its request ids still show events that were sent.
    """
    dumps: list[SideDump] = []
    notes: list[str] = []
    for arn, file in specs:
        dump, dump_notes = _read_dump(file, arn)
        if dump.queue_arn is None:
            if not has_config:
                notes.append(
                    f"{dump.source} has no QueueArn and no config was given: its request ids "
                    "show events that were sent, but no event can be found missing from it"
                )
            elif len(targets) == 1:
                ((target, kind),) = targets.items()
                dump = _with_queue_arn(dump, target)
                notes.append(
                    f"{dump.source} has no QueueArn; taken as the only configured {kind} {target}"
                )
            else:
                raise SideInputError(f"{dump.source} has no QueueArn; give it as --dlq ARN=FILE")
        dumps.append(dump)
        notes.extend(dump_notes)
    return tuple(dumps), tuple(notes)


def _with_queue_arn(dump: SideDump, arn: str) -> SideDump:
    return dataclasses.replace(
        dump,
        queue_arn=arn,
        destination_records=tuple(
            dataclasses.replace(r, destination_arn=arn) for r in dump.destination_records
        ),
    )


def _read_dump(file: Path, arn: str | None) -> tuple[SideDump, list[str]]:
    """One dump file -> the dump and the notes on how it was read."""
    data = _load(file, "DLQ dump")
    if not data.strip():
        # `aws sqs receive-message` prints nothing at all when the queue is empty.
        return SideDump(source=str(file), queue_arn=arn), []
    try:
        raw: Any = msgspec.json.decode(data)
    except msgspec.DecodeError:
        raw = _ndjson(data, file)
    queue_arn = arn
    expected: int | None = None
    if isinstance(raw, dict):
        if arn is None:
            queue_arn = _str(raw.get("QueueArn")) or _str(raw.get("TopicArn"))
        expected = _expected_messages(raw, file)
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
                return _from_messages(messages, file, queue_arn, expected, key)
        if "requestContext" in raw:
            raw = [raw]
        elif set(raw) <= _DUMP_KEYS:
            return SideDump(source=str(file), queue_arn=queue_arn, expected_messages=expected), []
        else:
            raise SideInputError(
                f"{file}: not a DLQ dump (expected `aws sqs receive-message` output with "
                "'Messages', or destination records)"
            )
    if not isinstance(raw, list):
        raise SideInputError(f"{file}: a DLQ dump must be a JSON object or a list of records")
    if raw and all(isinstance(r, dict) and ("Body" in r or "MessageAttributes" in r) for r in raw):
        return _from_messages(raw, file, queue_arn, expected, "Messages")
    records = []
    for i, item in enumerate(raw):
        record = _destination(item, queue_arn)
        if record is None:
            raise SideInputError(
                f"{file}: record {i + 1} has no requestContext.requestId "
                "(expected an on-failure destination record)"
            )
        records.append(record)
    dump = SideDump(
        source=str(file),
        queue_arn=queue_arn,
        destination_records=tuple(records),
        messages=len(records),
        expected_messages=expected,
    )
    return dump, []


def _expected_messages(raw: dict[str, Any], file: Path) -> int | None:
    """The queue depth recorded in a dump (``fetch --with-dlq`` writes it), if any.

    Messages in flight (``NotVisible``) or delayed were in the queue too, but a receive
    could not return them, so they count in what the dump should hold.
    """
    counts = [_int(raw.get(key), file, key) for key in _DEPTH_KEYS]
    known = [n for n in counts if n is not None]
    if any(n < 0 for n in known):
        raise SideInputError(f"{file}: a recorded ApproximateNumberOfMessages is negative")
    return sum(known) if known else None


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


def _from_messages(
    messages: list[Any], file: Path, queue_arn: str | None, expected: int | None, key: str
) -> tuple[SideDump, list[str]]:
    dlq_messages: list[DlqMessage] = []
    records: list[DestinationRecord] = []
    unchecked = 0
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise SideInputError(f"{file}: {key}[{i}] must be a JSON object")
        attributes = message.get("MessageAttributes")
        if not isinstance(attributes, dict):
            attributes = {}
        body = _json_body(message.get("Body", message.get("Message")))
        if isinstance(body, dict) and body.get("Type") == "Notification" and "Message" in body:
            # An SNS notification read through an SQS subscriber (no raw delivery): SNS's
            # envelope holds Lambda's attributes and, as "Message", the record.
            inner = body.get("MessageAttributes")
            if isinstance(inner, dict):
                attributes = {**inner, **attributes}
            body = _json_body(body.get("Message"))
        request_id = _attribute(attributes, "RequestID")
        if request_id is not None:
            dlq_messages.append(
                DlqMessage(
                    request_id=request_id,
                    error_code=_attribute(attributes, "ErrorCode"),
                    error_message=_attribute(attributes, "ErrorMessage"),
                )
            )
            continue
        record = _destination(body, queue_arn)
        if record is not None:
            records.append(record)
        elif _may_hide_a_request_id(message, attributes):
            unchecked += 1
        # Anything else (a message an SQS redrive moved here, or one with other attributes
        # than Lambda's) says nothing about Lambda.
    notes = []
    if unchecked:
        verb = "has" if unchecked == 1 else "have"
        notes.append(
            f"{file}: {unchecked} of {len(messages)} messages {verb} no RequestID message "
            "attribute (dumped without --message-attribute-names All?), so no event can be "
            "checked against it"
        )
    dump = SideDump(
        source=str(file),
        queue_arn=queue_arn,
        dlq_messages=tuple(dlq_messages),
        destination_records=tuple(records),
        messages=len(messages),
        comparable=not unchecked,
        expected_messages=expected,
    )
    return dump, notes


def _json_body(body: Any) -> Any:
    """A message body decoded from JSON when it is a JSON string, else None (or as given)."""
    if not isinstance(body, str):
        return body
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None


def _may_hide_a_request_id(message: dict[str, Any], attributes: dict[str, Any]) -> bool:
    """Whether a message without ``RequestID`` may be Lambda's with its attributes left out.

    True when it carries Lambda's other attributes (``ErrorCode`` / ``ErrorMessage``), or
    no message attributes at all, unless SQS marks it as moved by a queue's redrive policy
    (``DeadLetterQueueSourceArn``): ``receive-message`` returns message attributes only
    when ``--message-attribute-names`` asks for them.
    """
    if any(name in attributes for name in _LAMBDA_ATTRIBUTES):
        return True
    if attributes:
        return False
    system = message.get("Attributes")
    return not (isinstance(system, dict) and "DeadLetterQueueSourceArn" in system)


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
