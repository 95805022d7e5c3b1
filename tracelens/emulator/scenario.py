"""Scenario files: TOML loading and validation into typed, immutable settings.

Each setting is declared once on its msgspec type (default, range, choices); cross-key
rules that a type cannot state are checked after decoding.
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, get_args

import msgspec
from msgspec import Meta, Struct, inspect

from tracelens.errors import EmulatorError
from tracelens.model.vocab import (
    POLL_CALLERS,
    AsyncCaller,
    PollCaller,
    SyncCaller,
)
from tracelens.validation import MISSING, InvalidDocument, Problem, convert, key_text

if TYPE_CHECKING:
    from pathlib import Path

FailureKind = Literal["exception", "timeout"]
FailureFlag = Literal["error", "fault", "throttle"]
RetryMode = Literal["none", "legacy", "standard", "adaptive"]
StreamKind = Literal["kinesis", "dynamodb"]

FAILURE_KINDS: frozenset[str] = frozenset(get_args(FailureKind))
FAILURE_FLAGS: frozenset[str] = frozenset(get_args(FailureFlag))
RETRY_MODES: frozenset[str] = frozenset(get_args(RetryMode))
# botocore's default total attempts per retry mode (lambda-semantics.md §1.4)
DEFAULT_TOTAL_ATTEMPTS = {"none": 1, "legacy": 5, "standard": 3, "adaptive": 3}
DLQ_SERVICES = frozenset({"sqs", "sns"})  # R2.14: standard SQS queue or SNS topic
DESTINATION_SERVICES = frozenset({"sqs", "sns", "lambda", "events", "s3"})  # R2.15, R3.27
_ARN = re.compile(r"^arn:aws[a-z-]*:([a-z0-9-]+):[a-z0-9-]*:[0-9]*:.+$")
_NAME_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
_NAME = re.compile(_NAME_PATTERN)
_NAME_RULE = "1-64 letters, digits, '-' or '_'"
DEFAULT_START = "2026-11-27T09:00:00Z"

T = TypeVar("T")

Name = Annotated[str, Meta(pattern=_NAME_PATTERN, description=_NAME_RULE)]
Rate = Annotated[float, Meta(ge=0.0, le=1.0)]
Span = Annotated[float, Meta(ge=0.0, le=1_209_600.0)]


class _Spec(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the scenario tables: immutable, keyword-built, unknown keys rejected."""


class FunctionSpec(_Spec, frozen=True, kw_only=True):
    """One Lambda function: handler behaviour and its invoke configuration."""

    name: str
    duration_ms: Annotated[float, Meta(ge=1.0, le=900_000.0)] = 80.0
    duration_sigma: Annotated[float, Meta(ge=0.0, le=3.0)] = 0.3
    failure_rate: Rate = 0.0
    failure_kind: FailureKind = "exception"
    error_type: str = "RuntimeError"
    error_message: str = "handler failed"
    timeout_s: Annotated[float, Meta(ge=1.0, le=900.0)] = 30.0
    init_ms: Annotated[float, Meta(ge=0.0, le=10_000.0)] = 300.0
    keep_warm_s: Annotated[float, Meta(ge=0.0, le=86_400.0)] = 900.0
    reserved_concurrency: Annotated[int, Meta(ge=0, le=1000)] | None = None
    throttle_rate: Rate = 0.0
    max_retry_attempts: Annotated[int, Meta(ge=0, le=2)] = 2
    max_event_age_s: Annotated[int, Meta(ge=60, le=21_600)] = 21_600
    dlq: str | None = None
    on_failure: str | None = None
    duplicate_rate: Rate = 0.0
    service_error_rate: Rate = 0.0
    failure_flag: FailureFlag = "error"  # the flag a failed invocation carries
    failure_cause: bool = True  # whether a failure records its exception as the cause


class CallerSpec(_Spec, frozen=True, kw_only=True):
    """A source of invocations: a sync or async caller, or a producer into a queue/stream."""

    kind: Literal[SyncCaller, AsyncCaller, PollCaller]
    count: Annotated[int, Meta(ge=0, le=1_000_000)] = 1
    start_s: Span = 0.0
    duration_s: Span = 60.0
    function: str | None = None
    target: str | None = None
    name: Name | None = None
    poison: Annotated[
        tuple[Annotated[int, Meta(ge=0)], ...],
        Meta(description="a list of message indices (integers >= 0)"),
    ] = ()
    retry_mode: RetryMode = "none"
    total_max_attempts: Annotated[int, Meta(ge=1, le=20)] = 1  # default: per retry_mode
    read_timeout_s: Annotated[float, Meta(ge=0.001, le=3600.0)] = 60.0
    groups: Annotated[int, Meta(ge=1, le=10_000)] = 1
    links: bool = False


class QueueSpec(_Spec, frozen=True, kw_only=True):
    """An SQS queue with an optional redrive policy."""

    name: str
    visibility_timeout_s: Annotated[int, Meta(ge=0, le=43_200)] = 30
    retention_s: Annotated[int, Meta(ge=60, le=1_209_600)] = 345_600
    max_receive_count: Annotated[int, Meta(ge=1, le=1000)] | None = None
    fifo: bool = False

    @property
    def aws_name(self) -> str:
        """The queue name in AWS (FIFO queue names end in ``.fifo``)."""
        return f"{self.name}.fifo" if self.fifo else self.name

    @property
    def dlq_name(self) -> str:
        """The name of the redrive DLQ (a FIFO queue's DLQ must be FIFO too, R3.12)."""
        return f"{self.name}-dlq.fifo" if self.fifo else f"{self.name}-dlq"


class StreamSpec(_Spec, frozen=True, kw_only=True):
    """A Kinesis stream or DynamoDB table stream."""

    name: str
    kind: StreamKind = "kinesis"
    shards: Annotated[int, Meta(ge=1, le=64)] = 1


class MappingSpec(_Spec, frozen=True, kw_only=True):
    """An event source mapping from a queue or stream to a function."""

    source: Annotated[str, Meta(description="a queue or stream name")]
    function: str
    batch_size: Annotated[int, Meta(ge=1, le=10_000)] = 10
    batching_window_s: Annotated[float, Meta(ge=0.0, le=300.0)] = 0.0
    report_batch_item_failures: bool = False
    bisect: bool = False
    max_retry_attempts: Annotated[int, Meta(ge=-1, le=10_000)] = -1
    max_record_age_s: Annotated[int, Meta(ge=-1, le=604_800)] = -1
    on_failure: str | None = None
    max_concurrency: Annotated[int, Meta(ge=1, le=1000)] = 5


class _Document(_Spec, frozen=True, kw_only=True):
    """The top level of a scenario file (named tables are checked one by one)."""

    name: Name
    description: str = ""
    start: str = DEFAULT_START
    region: str = "us-east-1"
    account: str = "123456789012"
    functions: dict[str, Any] = msgspec.field(default_factory=dict)
    queues: dict[str, Any] = msgspec.field(default_factory=dict)
    streams: dict[str, Any] = msgspec.field(default_factory=dict)
    callers: list[Any] = msgspec.field(default_factory=list)
    mappings: list[Any] = msgspec.field(default_factory=list)


class Scenario(Struct, frozen=True, kw_only=True):
    """A complete, validated scenario."""

    name: str
    description: str
    start_epoch: float
    region: str
    account: str
    functions: dict[str, FunctionSpec]
    callers: tuple[CallerSpec, ...]
    queues: dict[str, QueueSpec] = msgspec.field(default_factory=dict)
    streams: dict[str, StreamSpec] = msgspec.field(default_factory=dict)
    mappings: tuple[MappingSpec, ...] = ()
    source: str = "<memory>"


def _fail(where: str, key: str, why: str) -> EmulatorError:
    return EmulatorError(f"{where}: key {key}: {why}")


def _expected(declared: inspect.Type | None) -> str:
    names: list[tuple[type, str]] = [
        (inspect.IntType, "int"),
        (inspect.FloatType, "int/float"),
        (inspect.StrType, "str"),
        (inspect.BoolType, "bool"),
        (inspect.ListType, "list"),
        (inspect.VarTupleType, "list"),
        (inspect.DictType, "dict"),
        (inspect.LiteralType, "str"),
    ]
    return next((name for kind, name in names if isinstance(declared, kind)), "another type")


def _why(p: Problem) -> str:
    """Word a problem the way scenario errors always have been."""
    declared, value = p.type, p.value
    if p.reason == "unknown":
        return "unknown key"
    if isinstance(declared, inspect.LiteralType) and (
        p.reason == "missing" or isinstance(value, str)
    ):
        choices = sorted(str(v) for v in declared.values)
        return f"must be one of {choices}, got {None if value is MISSING else value!r}"
    if p.reason == "missing" and isinstance(declared, inspect.StrType) and declared.pattern:
        return f"name '' must be {p.description}"
    if p.reason == "missing":
        return f"missing ({p.description})" if p.description else "missing"
    if p.reason == "item":
        return f"must be {p.description}" if p.description else f"expected {_expected(declared)}"
    if isinstance(declared, inspect.StructType):
        return "expected a table"
    numeric = isinstance(declared, inspect.IntType | inspect.FloatType)
    if numeric and isinstance(value, bool):
        return f"expected a number, got {value!r}"
    if isinstance(declared, inspect.FloatType) and isinstance(value, int | float):
        return f"must be between {declared.ge:g} and {declared.le:g}, got {float(value):g}"
    if isinstance(declared, inspect.IntType) and isinstance(value, int):
        return f"must be between {declared.ge} and {declared.le}, got {value}"
    if isinstance(declared, inspect.StrType) and declared.pattern and isinstance(value, str):
        return f"name {value!r} must be {p.description}"
    return f"expected {_expected(declared)}, got {type(value).__name__}"


def _convert(where: str, data: object, kind: type[T], *at: str | int) -> T:
    try:
        return convert(data, kind, at=at)
    except InvalidDocument as exc:
        raise _fail(where, key_text(exc.problem.key), _why(exc.problem)) from exc


def _named(where: str, section: str, tables: dict[str, Any], kind: type[T]) -> dict[str, T]:
    """Check the named tables of one section (``[functions.<name>]``), sorted by name."""
    out: dict[str, T] = {}
    for name, table in sorted(tables.items()):
        if not isinstance(table, dict):
            raise _fail(where, f"{section}.{name}", "expected a table")
        if not _NAME.match(name):
            raise _fail(where, f"{section}.{name}.", f"name {name!r} must be {_NAME_RULE}")
        if "name" in table:
            raise _fail(where, f"{section}.{name}.name", "unknown key")
        out[name] = _convert(where, {**table, "name": name}, kind, section, name)
    return out


def arn_service(arn: str) -> str:
    """Return the service part of an ARN (``sqs``, ``sns``, ``lambda``, ``events``, ...)."""
    match = _ARN.match(arn)
    return match.group(1) if match else ""


def _check_function(where: str, spec: FunctionSpec) -> None:
    for key, arn, services in (
        ("dlq", spec.dlq, DLQ_SERVICES),
        ("on_failure", spec.on_failure, DESTINATION_SERVICES),
    ):
        if arn is not None and arn_service(arn) not in services:
            raise _fail(
                where,
                f"functions.{spec.name}.{key}",
                f"must be the ARN of one of {sorted(services)}, got {arn!r}",
            )


def _caller(where: str, index: int, table: object) -> CallerSpec:
    spec = _convert(where, table, CallerSpec, "callers", index)
    assert isinstance(table, dict)  # a CallerSpec was built from it

    def fail(key: str, why: str) -> EmulatorError:
        return _fail(where, f"callers[{index}].{key}", why)

    kind, mode = spec.kind, spec.retry_mode
    if mode != "none" and kind != "sdk":
        raise fail("retry_mode", "client SDK retries apply to synchronous 'sdk' callers only")
    changes: dict[str, Any] = {"poison": tuple(sorted(set(spec.poison)))}
    if "total_max_attempts" not in table:
        changes["total_max_attempts"] = DEFAULT_TOTAL_ATTEMPTS[mode]
    spec = msgspec.structs.replace(spec, **changes)
    if spec.total_max_attempts > 1 and mode == "none":
        raise fail("total_max_attempts", "needs a retry_mode (legacy, standard or adaptive)")
    if "groups" in table and kind != "sqs":
        raise fail("groups", "message groups apply to SQS producers only")
    if spec.links and kind != "sqs":
        raise fail("links", "producer-side links apply to SQS producers only")
    if kind in POLL_CALLERS:
        if spec.target is None:
            raise fail("target", f"a {kind} producer needs the queue or stream name")
    elif spec.function is None:
        raise fail("function", f"a {kind} caller needs a function name")
    return spec


def _mapping(where: str, index: int, table: object) -> MappingSpec:
    spec = _convert(where, table, MappingSpec, "mappings", index)
    if 0 <= spec.max_record_age_s < 60:
        raise _fail(where, f"mappings[{index}].max_record_age_s", "must be -1 or at least 60")
    return spec


def parse_scenario(data: dict[str, Any], where: str) -> Scenario:
    """Validate a decoded TOML document and build a Scenario.

    Args:
        data: the decoded TOML tables.
        where: the file name used in error messages.

    Returns:
        The validated scenario.

    Raises:
        EmulatorError: naming the file and the offending key.
    """
    doc = _convert(where, data, _Document)
    try:
        start = datetime.fromisoformat(doc.start.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _fail(where, "start", f"not an ISO-8601 time: {doc.start!r}") from exc
    if start.tzinfo is None:
        raise _fail(where, "start", "needs a time zone, e.g. 2026-11-27T09:00:00Z")
    functions = _named(where, "functions", doc.functions, FunctionSpec)
    for function in functions.values():
        _check_function(where, function)
    queues = _named(where, "queues", doc.queues, QueueSpec)
    streams = _named(where, "streams", doc.streams, StreamSpec)
    callers = tuple(_caller(where, i, t) for i, t in enumerate(doc.callers))
    mappings = tuple(_mapping(where, i, t) for i, t in enumerate(doc.mappings))
    scenario = Scenario(
        name=doc.name,
        description=doc.description,
        start_epoch=start.timestamp(),
        region=doc.region,
        account=doc.account,
        functions=functions,
        callers=callers,
        queues=queues,
        streams=streams,
        mappings=mappings,
        source=where,
    )
    _cross_check(scenario, where)
    return scenario


def _cross_check(s: Scenario, where: str) -> None:
    if not s.functions:
        raise EmulatorError(f"{where}: key functions: at least one function is needed")
    if not s.callers:
        raise EmulatorError(f"{where}: key callers: at least one caller is needed")
    if set(s.queues) & set(s.streams):
        raise EmulatorError(f"{where}: key streams: a stream and a queue share a name")
    for i, c in enumerate(s.callers):
        if c.function is not None and c.function not in s.functions:
            raise EmulatorError(f"{where}: key callers[{i}].function: unknown {c.function!r}")
        if c.kind == "sqs" and c.target not in s.queues:
            raise EmulatorError(f"{where}: key callers[{i}].target: unknown queue {c.target!r}")
        if c.kind == "sqs" and c.groups > 1 and not s.queues[c.target or ""].fifo:
            raise EmulatorError(
                f"{where}: key callers[{i}].groups: message groups need a FIFO queue"
            )
        if c.kind in ("kinesis", "dynamodb"):
            stream = s.streams.get(c.target or "")
            if stream is None or stream.kind != c.kind:
                raise EmulatorError(
                    f"{where}: key callers[{i}].target: unknown {c.kind} stream {c.target!r}"
                )
    sources: set[str] = set()
    for i, m in enumerate(s.mappings):
        if m.function not in s.functions:
            raise EmulatorError(f"{where}: key mappings[{i}].function: unknown {m.function!r}")
        if m.source not in s.queues and m.source not in s.streams:
            raise EmulatorError(f"{where}: key mappings[{i}].source: unknown {m.source!r}")
        if m.source in sources:
            raise EmulatorError(f"{where}: key mappings[{i}].source: {m.source!r} mapped twice")
        sources.add(m.source)
        if m.source in s.queues:
            if m.batch_size > 10_000 or (m.batch_size > 10 and m.batching_window_s < 1):
                raise EmulatorError(
                    f"{where}: key mappings[{i}].batch_size: SQS batches over 10 need "
                    "batching_window_s >= 1"
                )
            q = s.queues[m.source]
            if q.fifo and (m.batch_size > 10 or m.batching_window_s > 0):
                raise EmulatorError(
                    f"{where}: key mappings[{i}].batch_size: a FIFO queue takes batches of at "
                    "most 10 and no batching window (R3.18)"
                )
            if s.functions[m.function].timeout_s > q.visibility_timeout_s:
                raise EmulatorError(
                    f"{where}: key queues.{q.name}.visibility_timeout_s: Lambda rejects a "
                    "mapping whose function timeout exceeds the queue's visibility timeout"
                )
    for i, c in enumerate(s.callers):
        if c.kind in POLL_CALLERS and c.target not in sources:
            raise EmulatorError(
                f"{where}: key callers[{i}].target: {c.target!r} has no event source mapping"
            )


def load_scenario_file(path: Path) -> Scenario:
    """Read and validate a scenario TOML file.

    Args:
        path: the TOML file.

    Returns:
        The validated scenario.

    Raises:
        EmulatorError: the file is missing, not TOML, or invalid.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EmulatorError(f"{path}: cannot read scenario: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise EmulatorError(f"{path}: not valid TOML: {exc}") from exc
    return parse_scenario(data, str(path))
