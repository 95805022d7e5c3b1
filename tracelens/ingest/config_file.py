"""Config files -> function, queue and event source mapping settings.

A config file is tracelens' own ``config.json`` or the raw output of one of the AWS CLI calls
users already have, detected by its shape (``ACCEPTED_SHAPES``). Every value an analysis uses
is validated against AWS's own type and range (``tracelens.model.aws_config``); a bad value
stops the run with the file and the JSON path of the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
import msgspec.inspect as mi

from tracelens.errors import SideInputError
from tracelens.ingest.inputs import read_whole
from tracelens.model import aws_config as aws
from tracelens.model.side import (
    DEFAULT_MAXIMUM_EVENT_AGE_SECONDS,
    DEFAULT_MAXIMUM_RETRY_ATTEMPTS,
    EventSourceMapping,
    FunctionConfig,
    QueueConfig,
    RedrivePolicy,
    function_name_from_arn,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tracelens.ingest.inputs import InputFile

T = TypeVar("T")

#: What a config file may be, as said in the error for anything else.
ACCEPTED_SHAPES = (
    "tracelens' config.json (functions, queues, EventSourceMappings)",
    "aws lambda list-functions",
    "get-function",
    "get-function-configuration",
    "get-function-event-invoke-config",
    "list-function-event-invoke-configs",
    "list-event-source-mappings",
    "aws sqs get-queue-attributes --attribute-names All (with QueueArn)",
)

#: The event invoke config of an unqualified function ARN is the one of ``$LATEST``.
LATEST = "$LATEST"
#: The fields that make an object with ``FunctionArn`` an event invoke config.
_INVOKE_KEYS = frozenset({"MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig"})
#: Longest value shown in an error message.
_SHOWN_CHARS = 60

_ERROR = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_EXPECTED = re.compile(r"^Expected `(?P<want>[^`]+)`, got `[^`]+`$")
_RANGE = re.compile(r"^Expected `[^`]+` [<>]=? ")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")


@dataclass(frozen=True, slots=True)
class ConfigContents:
    """The settings read from all config files, merged (later files win)."""

    functions: dict[str, FunctionConfig] = field(default_factory=dict)
    queues: dict[str, QueueConfig] = field(default_factory=dict)
    mappings: tuple[EventSourceMapping, ...] = ()
    files: tuple[str, ...] = ()
    #: How the files were interpreted where a choice was made, one sentence each.
    notes: tuple[str, ...] = ()


def config_files(paths: Sequence[InputFile]) -> list[InputFile]:
    """The files to read: each path itself, or every ``*.json`` in a directory (sorted).

    Raises:
        SideInputError: A directory holds no ``*.json`` file.
    """
    files: list[InputFile] = []
    for path in paths:
        if isinstance(path, Path) and path.is_dir():
            found = sorted(p for p in path.glob("*.json") if p.is_file())
            if not found:
                raise SideInputError(f"{path}: config directory has no *.json files")
            files.extend(found)
        else:
            files.append(path)
    # A bundle's config.json also named by --config DIR is read once.
    seen: set[InputFile] = set()
    unique = []
    for file in files:
        key = file.resolve() if isinstance(file, Path) else file
        if key not in seen:
            seen.add(key)
            unique.append(file)
    return unique


def read_config_files(paths: Sequence[InputFile]) -> ConfigContents:
    """Read and validate config files and directories of them, merged in order.

    Args:
        paths: Config files or directories (every ``*.json`` in it, sorted by name).

    Returns:
        Functions (by name), queues (by ARN) and event source mappings.

    Raises:
        SideInputError: A file is missing, not JSON, not one of ``ACCEPTED_SHAPES``, or holds
            a value outside AWS's type or range (the message names file and JSON path).
    """
    files = config_files(paths)
    merged = _Merged()
    for file in files:
        _read_file(file, merged)
    return merged.contents(tuple(str(f) for f in files))


# --- merging ----------------------------------------------------------------------------------


@dataclass
class _Merged:
    configurations: dict[str, aws.FunctionConfiguration] = field(default_factory=dict)
    #: function name -> qualifier -> its event invoke config
    invoke: dict[str, dict[str, aws.FunctionEventInvokeConfig]] = field(default_factory=dict)
    queues: dict[str, QueueConfig] = field(default_factory=dict)
    mappings: list[EventSourceMapping] = field(default_factory=list)
    #: UUID (else event source and function ARN) -> index in ``mappings``
    mapping_ids: dict[object, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add_invoke(self, name: str, config: aws.FunctionEventInvokeConfig) -> None:
        parts = (config.function_arn or "").split(":")
        qualifier = parts[7] if len(parts) > 7 and parts[7] else LATEST
        self.invoke.setdefault(name, {})[qualifier] = config

    def add_mapping(self, mapping: EventSourceMapping, uuid: str | None) -> None:
        key = uuid or (mapping.event_source_arn, mapping.function_arn)
        if key in self.mapping_ids:
            self.mappings[self.mapping_ids[key]] = mapping
            return
        self.mapping_ids[key] = len(self.mappings)
        self.mappings.append(mapping)

    def contents(self, files: tuple[str, ...]) -> ConfigContents:
        functions = {
            name: self._function(name)
            for name in sorted(set(self.configurations) | set(self.invoke))
        }
        return ConfigContents(
            functions=functions,
            queues=dict(sorted(self.queues.items())),
            mappings=tuple(self.mappings),
            files=files,
            notes=tuple(self.notes),
        )

    def _function(self, name: str) -> FunctionConfig:
        configuration = self.configurations.get(name)
        invoke = self._chosen_invoke(name)
        arn = configuration.function_arn if configuration is not None else None
        if arn is None and invoke is not None and invoke.function_arn:
            arn = ":".join(invoke.function_arn.split(":")[:7])  # without the qualifier
        dlq = configuration.dead_letter_config if configuration is not None else None
        retries = invoke.maximum_retry_attempts if invoke is not None else None
        age = invoke.maximum_event_age_in_seconds if invoke is not None else None
        return FunctionConfig(
            name=name,
            arn=arn or None,
            maximum_retry_attempts=DEFAULT_MAXIMUM_RETRY_ATTEMPTS if retries is None else retries,
            maximum_event_age_seconds=DEFAULT_MAXIMUM_EVENT_AGE_SECONDS if age is None else age,
            dlq_arn=(dlq.target_arn or None) if dlq is not None else None,
            on_failure_arn=_on_failure(invoke.destination_config) if invoke is not None else None,
        )

    def _chosen_invoke(self, name: str) -> aws.FunctionEventInvokeConfig | None:
        """``$LATEST``'s event invoke config, else the first qualifier's; a note if they differ.

        Traces name the function, not the version or alias that ran, so one config is used.
        """
        by_qualifier = self.invoke.get(name)
        if not by_qualifier:
            return None
        qualifiers = sorted(by_qualifier, key=lambda q: (q != LATEST, q))
        chosen = qualifiers[0]
        settings = {_invoke_settings(c) for c in by_qualifier.values()}
        if len(settings) > 1:
            self.notes.append(
                f"{name} has different event invoke configs for {', '.join(qualifiers)}; "
                f"the one of {chosen} is used"
            )
        return by_qualifier[chosen]


def _invoke_settings(config: aws.FunctionEventInvokeConfig) -> tuple[object, ...]:
    return (
        config.maximum_retry_attempts,
        config.maximum_event_age_in_seconds,
        _on_failure(config.destination_config),
    )


def _on_failure(config: aws.DestinationConfig | None) -> str | None:
    # ``OnFailure: {}`` is how AWS says "no destination"; OnSuccess is never a failure target.
    if config is None or config.on_failure is None:
        return None
    return config.on_failure.destination or None


# --- one file ---------------------------------------------------------------------------------


def _read_file(file: InputFile, merged: _Merged) -> None:
    raw = _decode(file)
    if not isinstance(raw, dict):
        raise _shape_error(file, f"a JSON {_kind(raw)}")
    if raw.keys() & {"functions", "queues", "EventSourceMappings"}:
        _read_tracelens_config(raw, file, merged)
    elif "Functions" in raw:
        listing = _convert(raw, aws.ListFunctions, file)
        for i, configuration in enumerate(listing.functions):
            _add_configuration(configuration, None, file, f"Functions[{i}]", merged)
    elif "FunctionEventInvokeConfigs" in raw:
        configs = _convert(raw, aws.ListFunctionEventInvokeConfigs, file)
        for i, config in enumerate(configs.function_event_invoke_configs):
            _add_invoke(config, file, f"FunctionEventInvokeConfigs[{i}]", merged)
    elif isinstance(raw.get("Configuration"), dict):
        got = _convert(raw, aws.GetFunction, file)
        _add_configuration(got.configuration, None, file, "Configuration", merged)
    elif "FunctionName" in raw:
        configuration = _convert(raw, aws.FunctionConfiguration, file)
        _add_configuration(configuration, None, file, "", merged)
    elif "EventSourceArn" in raw or "UUID" in raw:
        mapping = _convert(raw, aws.EventSourceMappingConfiguration, file)
        _add_mapping(mapping, file, "", merged)
    elif "FunctionArn" in raw and raw.keys() & _INVOKE_KEYS:
        _add_invoke(_convert(raw, aws.FunctionEventInvokeConfig, file), file, "", merged)
    elif isinstance(raw.get("Attributes"), dict):
        queue = _convert(raw, aws.Queue, file)
        arn = queue.attributes.queue_arn if queue.attributes is not None else None
        if not arn:
            raise _shape_error(file, "get-queue-attributes output without QueueArn")
        merged.queues[arn] = _queue(arn, queue, file, "")
    else:
        keys = ", ".join(sorted(raw)[:5])
        raise _shape_error(file, f"an object with {keys}" if raw else "an empty object")


def _read_tracelens_config(raw: dict[str, Any], file: InputFile, merged: _Merged) -> None:
    config = _convert(raw, aws.TracelensConfig, file)
    for name, body in (config.functions or {}).items():
        where = f"functions.{name}"
        configuration = _convert(body, aws.FunctionConfiguration, file, where)
        _add_configuration(configuration, name, file, where, merged)
    for arn, body in (config.queues or {}).items():
        where = f"queues.{arn}"
        merged.queues[arn] = _queue(arn, _convert(body, aws.Queue, file, where), file, where)
    for i, mapping in enumerate(config.event_source_mappings or []):
        _add_mapping(mapping, file, f"EventSourceMappings[{i}]", merged)


def _add_configuration(
    configuration: aws.FunctionConfiguration,
    name: str | None,
    file: InputFile,
    where: str,
    merged: _Merged,
) -> None:
    name = name or configuration.function_name or function_name_from_arn(configuration.function_arn)
    if not name:
        raise SideInputError(f"{_at(file, where)}missing FunctionName")
    merged.configurations[name] = configuration
    if configuration.event_invoke_config is not None:
        merged.add_invoke(name, configuration.event_invoke_config)


def _add_invoke(
    config: aws.FunctionEventInvokeConfig, file: InputFile, where: str, merged: _Merged
) -> None:
    name = function_name_from_arn(config.function_arn)
    if name is None:
        shown = "missing" if config.function_arn is None else "not a Lambda function ARN"
        raise SideInputError(f"{_at(file, _join(where, 'FunctionArn'))}{shown}")
    merged.add_invoke(name, config)


def _add_mapping(
    mapping: aws.EventSourceMappingConfiguration, file: InputFile, where: str, merged: _Merged
) -> None:
    if not mapping.event_source_arn:
        # e.g. a self-managed Kafka mapping: no queue or stream tracelens analyses.
        merged.notes.append(
            f"{_at(file, where)}event source mapping without EventSourceArn ignored"
        )
        return
    merged.add_mapping(
        EventSourceMapping(
            event_source_arn=mapping.event_source_arn,
            function_arn=mapping.function_arn or None,
            batch_size=mapping.batch_size,
            function_response_types=tuple(mapping.function_response_types or ()),
            bisect_batch_on_function_error=bool(mapping.bisect_batch_on_function_error),
            parallelization_factor=mapping.parallelization_factor or 1,
            maximum_retry_attempts=mapping.maximum_retry_attempts,
            maximum_record_age_seconds=mapping.maximum_record_age_in_seconds,
            on_failure_arn=_on_failure(mapping.destination_config),
        ),
        mapping.uuid,
    )


def _queue(arn: str, queue: aws.Queue, file: InputFile, where: str) -> QueueConfig:
    attributes = queue.attributes or aws.QueueAttributes()
    policy: RedrivePolicy | None = None
    raw_policy = attributes.redrive_policy
    if isinstance(raw_policy, str) and raw_policy.strip():
        # AWS returns the policy as a JSON string inside the attribute map.
        raw_policy = _decode_policy(raw_policy, file, _join(where, "Attributes.RedrivePolicy"))
    if isinstance(raw_policy, aws.RedrivePolicy):
        policy = RedrivePolicy(
            dead_letter_target_arn=raw_policy.dead_letter_target_arn or None,
            max_receive_count=raw_policy.max_receive_count,
        )
    return QueueConfig(
        arn=arn,
        url=queue.queue_url or None,
        redrive_policy=policy,
        visibility_timeout_seconds=attributes.visibility_timeout,
        message_retention_seconds=attributes.message_retention_period,
    )


def _decode_policy(text: str, file: InputFile, where: str) -> aws.RedrivePolicy:
    try:
        raw = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise SideInputError(f"{_at(file, where)}not valid JSON ({exc})") from exc
    return _convert(raw, aws.RedrivePolicy, file, where)


# --- decoding and errors ----------------------------------------------------------------------


def _decode(file: InputFile) -> Any:
    try:
        data = read_whole(file)
    except FileNotFoundError:
        raise SideInputError(f"{file}: config file not found") from None
    except IsADirectoryError:
        raise SideInputError(f"{file}: is a directory") from None
    except OSError as exc:
        raise SideInputError(f"{file}: cannot read config file: {exc.strerror}") from exc
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise SideInputError(f"{file}: config is not valid JSON ({exc})") from exc


def _convert(raw: Any, kind: type[T], file: InputFile, where: str = "") -> T:
    """``raw`` as ``kind``; numbers given as strings (SQS attributes) are converted."""
    try:
        return msgspec.convert(raw, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc, raw, kind, file, where) from None


def _validation_error(
    exc: msgspec.ValidationError, raw: Any, kind: type, file: InputFile, where: str
) -> SideInputError:
    """msgspec's "message - at `$.path`" as "file: where.path: what is wrong"."""
    match = _ERROR.match(str(exc))
    message = match.group("message") if match else str(exc)
    path = (match.group("path") if match else None) or ""
    parts: list[str | int] = [
        name if name else int(index) for name, index in _PATH_PART.findall(path)
    ]
    out_of_range = message.startswith(aws.OUT_OF_RANGE)
    if out_of_range:  # raised by a __post_init__ for one field of the object at ``path``
        parts.append(message.removeprefix(aws.OUT_OF_RANGE))
    found, value = _lookup(raw, parts)
    shown = _show(value) if found else "the value"
    if out_of_range or _RANGE.match(message):
        what = f"{shown} is outside {_allowed(kind, parts)}"
    elif expected := _EXPECTED.match(message):
        want = expected.group("want").removesuffix(" | null")
        what = f"expected {want}, got {shown}"
    elif missing := _MISSING.match(message):
        what = f"missing {missing.group('name')}"
    else:
        what = message[:1].lower() + message[1:]
    location = _join(where, "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts))
    return SideInputError(f"{_at(file, location)}{what}")


def _lookup(raw: Any, parts: list[str | int]) -> tuple[bool, Any]:
    value = raw
    for part in parts:
        in_list = isinstance(part, int) and isinstance(value, list) and part < len(value)
        if not (in_list or (isinstance(part, str) and isinstance(value, dict) and part in value)):
            return False, None
        value = value[part]
    return True, value


def _allowed(kind: type, parts: list[str | int]) -> str:
    """The range of the field at ``parts`` of ``kind``, from its ``msgspec.Meta``."""
    info: mi.Type = mi.type_info(kind)
    for part in parts:
        info = _unwrap(info)
        if isinstance(part, int) and isinstance(info, mi.ListType):
            info = info.item_type
        elif isinstance(part, str) and isinstance(info, mi.StructType):
            info = next((f.type for f in info.fields if f.encode_name == part), info)
        elif isinstance(part, str) and isinstance(info, mi.DictType):
            info = info.value_type
    if isinstance(info, mi.UnionType):
        info = next((t for t in info.types if not isinstance(t, mi.NoneType)), info)
    if isinstance(info, mi.Metadata):
        allowed = (info.extra or {}).get("allowed")
        if isinstance(allowed, str):
            return allowed
        info = info.type
    if isinstance(info, mi.IntType) and info.ge is not None and info.le is not None:
        return f"{info.ge}-{info.le}"
    return "AWS's range"


def _unwrap(info: mi.Type) -> mi.Type:
    """The structured member of an optional (``X | None``) or annotated type."""
    if isinstance(info, mi.Metadata):
        info = info.type
    if isinstance(info, mi.UnionType):
        for member in info.types:
            member = member.type if isinstance(member, mi.Metadata) else member
            if isinstance(member, mi.StructType | mi.ListType | mi.DictType):
                return member
    return info


def _show(value: Any) -> str:
    text = msgspec.json.encode(value).decode()
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _kind(value: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def _join(where: str, path: str) -> str:
    if not where:
        return path.removeprefix(".")
    return f"{where}{path}" if path.startswith((".", "[")) or not path else f"{where}.{path}"


def _at(file: InputFile, where: str) -> str:
    return f"{file}: {where}: " if where else f"{file}: "


def _shape_error(file: InputFile, found: str) -> SideInputError:
    return SideInputError(
        f"{file}: not a config file (found {found}); accepted: {'; '.join(ACCEPTED_SHAPES)}"
    )
