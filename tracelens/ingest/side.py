"""config.json and DLQ / on-failure destination dumps -> SideInputs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from tracelens.errors import SideInputError
from tracelens.ingest.config_file import read_config_files
from tracelens.model.side import (
    DestinationRecord,
    DlqMessage,
    SideDump,
    SideInputs,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

_ARN_SPEC = re.compile(r"^(arn:[^=]+)=(.+)$")


def read_side_inputs(
    paths: Sequence[Path], *, config: Path | Sequence[Path] | None, dlq: Sequence[str]
) -> SideInputs:
    """Read config files and DLQ / destination dumps.

    Args:
        paths: The PATH arguments of ``analyze``; a directory among them holding
            ``config.json`` and/or ``dlq/*.json`` is an incident bundle and those are read.
        config: ``--config`` files or directories (tracelens' config.json or raw AWS CLI
            output, see ``tracelens.ingest.config_file``); merged last, in order, so they win.
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
    if isinstance(config, Path):
        config_files.append(config)
    elif config is not None:
        config_files.extend(config)
    for spec in dlq:
        match = _ARN_SPEC.match(spec)
        if match:
            dump_specs.append((match.group(1), Path(match.group(2))))
        else:
            dump_specs.append((None, Path(spec)))

    settings = read_config_files(config_files)
    dumps = tuple(_read_dump(file, arn) for arn, file in dump_specs)
    return SideInputs(
        functions=settings.functions,
        queues=settings.queues,
        mappings=settings.mappings,
        dumps=dumps,
        config_files=settings.files,
        notes=settings.notes,
    )


# --- reading ----------------------------------------------------------------------------


def _load(file: Path, what: str) -> bytes:
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise SideInputError(f"{file}: {what} file not found") from None
    except OSError as exc:
        raise SideInputError(f"{file}: cannot read {what} file: {exc.strerror}") from exc


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


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
