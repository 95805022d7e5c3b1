"""config.json and DLQ / on-failure destination dumps -> SideInputs."""

from __future__ import annotations

import dataclasses
import glob
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from tracelens.errors import SideInputError
from tracelens.ingest import s3
from tracelens.ingest.config_file import read_config_files
from tracelens.ingest.inputs import InputFile, read_whole
from tracelens.ingest.s3 import is_s3
from tracelens.ingest.source_file import bundle_source_file, read_source_file
from tracelens.model import bundle
from tracelens.model.side import (
    Acquisition,
    DestinationRecord,
    DlqMessage,
    EventSourceMapping,
    FunctionConfig,
    QueueConfig,
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
    paths: Sequence[str | Path], *, config: Path | Sequence[Path] | None, dlq: Sequence[str]
) -> SideInputs:
    """Read config files and DLQ / destination dumps.

    Args:
        paths: The PATH arguments of ``analyze``; a directory or ``s3://`` prefix among
            them holding ``config.json`` and/or ``dlq/*.json`` is an incident bundle and
            those are read (``bundle_side_files``).
        config: ``--config`` files or directories (tracelens' config.json or raw AWS CLI
            output, see ``tracelens.ingest.config_file``); merged last, in order, so they win.
        dlq: ``--dlq FILE`` or ``--dlq ARN=FILE`` values.

    Returns:
        The typed side inputs.

    Raises:
        SideInputError: A side file is missing or cannot be understood.
    """
    config_files: list[InputFile] = []
    dump_specs: list[tuple[str | None, InputFile]] = []
    acquisitions = [
        read_source_file(source) for path in paths if (source := bundle_source_file(path))
    ]
    for path in paths:
        config_file, bundle_dumps = bundle_side_files(path)
        if config_file is not None:
            config_files.append(config_file)
        dump_specs.extend((None, p) for p in bundle_dumps)
    if isinstance(config, Path):
        config_files.append(config)
    elif config is not None:
        config_files.extend(config)
    dump_specs.extend(_dump_spec(spec) for spec in dlq)

    settings = read_config_files(config_files)
    dumps, dump_notes = _read_dumps(
        dump_specs,
        targets=_failure_targets(settings.functions, settings.queues, settings.mappings),
        has_config=bool(config_files),
    )
    acquisition, source_notes = _one_acquisition(acquisitions)
    return SideInputs(
        functions=settings.functions,
        queues=settings.queues,
        mappings=settings.mappings,
        dumps=dumps,
        config_files=settings.files,
        notes=settings.notes + dump_notes + source_notes,
        acquisition=acquisition,
    )


def _one_acquisition(
    acquisitions: Sequence[Acquisition],
) -> tuple[Acquisition | None, tuple[str, ...]]:
    """The acquisition the report states: the first bundle's, with a note when bundles
    were fetched in different ways."""
    if not acquisitions:
        return None, ()
    first = acquisitions[0]
    others = sorted({a.path for a in acquisitions[1:] if a.path != first.path})
    if not others:
        return first, ()
    return first, (
        f"the bundles were fetched in different ways ({', '.join([first.path, *others])}); "
        f"the acquisition shown is that of {first.file}",
    )


def bundle_side_files(path: str | Path) -> tuple[InputFile | None, list[InputFile]]:
    """The side inputs of a bundle: its ``config.json`` (or None) and ``dlq/*.json`` dumps.

    A bundle is a local directory or an ``s3://`` prefix taken as a folder; any other path
    (a file, one S3 object, a glob) has none.

    Raises:
        SourceUnavailable: An ``s3://`` prefix cannot be listed.
    """
    if is_s3(path):
        return _s3_bundle_files(str(path))
    local = Path(path)
    if not local.is_dir():
        return None, []
    config = bundle.config_path(local)
    return (config if config.is_file() else None), list(bundle.dlq_dumps(local))


def _s3_bundle_files(url: str) -> tuple[InputFile | None, list[InputFile]]:
    """``bundle_side_files`` of an ``s3://`` URL (one object has none; a folder is listed)."""
    _, key = s3.parse_s3_url(url)
    if glob.has_magic(url) or (key and not key.endswith("/") and s3.head_object(url) is not None):
        return None, []  # not a folder
    config = s3.find_object(s3.join(url, bundle.CONFIG_FILE))
    dlq = s3.join(url, bundle.DLQ_DIR)
    folder = f"{s3.parse_s3_url(dlq)[1]}/"
    dumps: list[InputFile] = [
        obj
        for obj in s3.list_under(dlq)
        if "/" not in obj.key[len(folder) :] and obj.key.endswith(".json")
    ]
    return config, dumps


# --- reading ----------------------------------------------------------------------------


def _load(file: InputFile, what: str) -> bytes:
    try:
        return read_whole(file)
    except FileNotFoundError:
        raise SideInputError(f"{file}: {what} file not found") from None
    except OSError as exc:
        raise SideInputError(f"{file}: cannot read {what} file: {exc.strerror}") from exc


def _int(value: Any, file: InputFile, where: str) -> int | None:
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
    specs: Sequence[tuple[str | None, InputFile]], *, targets: Mapping[str, str], has_config: bool
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


def _read_dump(file: InputFile, arn: str | None) -> tuple[SideDump, list[str]]:
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


def _expected_messages(raw: dict[str, Any], file: InputFile) -> int | None:
    """The queue depth recorded in a dump (``fetch --with-dlq`` writes it), if any.

    Messages in flight (``NotVisible``) or delayed were in the queue too, but a receive
    could not return them, so they count in what the dump should hold.
    """
    counts = [_int(raw.get(key), file, key) for key in _DEPTH_KEYS]
    known = [n for n in counts if n is not None]
    if any(n < 0 for n in known):
        raise SideInputError(f"{file}: a recorded ApproximateNumberOfMessages is negative")
    return sum(known) if known else None


def _ndjson(data: bytes, file: InputFile) -> list[Any]:
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
    messages: list[Any], file: InputFile, queue_arn: str | None, expected: int | None, key: str
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
