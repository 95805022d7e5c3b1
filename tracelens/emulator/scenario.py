"""Scenario files: TOML loading and validation into typed, immutable settings."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tracelens.errors import EmulatorError
from tracelens.model import vocab

if TYPE_CHECKING:
    from pathlib import Path

SYNC_CALLERS: frozenset[str] = vocab.SYNC_CALLERS
ASYNC_CALLERS: frozenset[str] = vocab.ASYNC_CALLERS
POLL_CALLERS: frozenset[str] = vocab.POLL_CALLERS
FAILURE_KINDS = frozenset({"exception", "timeout"})
FAILURE_FLAGS = frozenset({"error", "fault", "throttle"})
RETRY_MODES = frozenset({"none", "legacy", "standard", "adaptive"})
# botocore's default total attempts per retry mode (lambda-semantics.md §1.4)
DEFAULT_TOTAL_ATTEMPTS = {"none": 1, "legacy": 5, "standard": 3, "adaptive": 3}
DLQ_SERVICES = frozenset({"sqs", "sns"})  # R2.14: standard SQS queue or SNS topic
DESTINATION_SERVICES = frozenset({"sqs", "sns", "lambda", "events", "s3"})  # R2.15, R3.27
_ARN = re.compile(r"^arn:aws[a-z-]*:([a-z0-9-]+):[a-z0-9-]*:[0-9]*:.+$")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_START = "2026-11-27T09:00:00Z"


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function: handler behaviour and its invoke configuration."""

    name: str
    duration_ms: float = 80.0
    duration_sigma: float = 0.3
    failure_rate: float = 0.0
    failure_kind: str = "exception"
    error_type: str = "RuntimeError"
    error_message: str = "handler failed"
    timeout_s: float = 30.0
    init_ms: float = 300.0
    keep_warm_s: float = 900.0
    reserved_concurrency: int | None = None
    throttle_rate: float = 0.0
    max_retry_attempts: int = 2
    max_event_age_s: int = 21600
    dlq: str | None = None
    on_failure: str | None = None
    duplicate_rate: float = 0.0
    service_error_rate: float = 0.0
    failure_flag: str = "error"  # the flag a failed invocation carries (error|fault|throttle)
    failure_cause: bool = True  # whether a failure records its exception as the cause


@dataclass(frozen=True)
class CallerSpec:
    """A source of invocations: a sync or async caller, or a producer into a queue/stream."""

    kind: str
    count: int
    start_s: float = 0.0
    duration_s: float = 60.0
    function: str | None = None
    target: str | None = None
    name: str | None = None
    poison: tuple[int, ...] = ()
    retry_mode: str = "none"
    total_max_attempts: int = 1
    read_timeout_s: float = 60.0
    groups: int = 1
    links: bool = False


@dataclass(frozen=True)
class QueueSpec:
    """An SQS queue with an optional redrive policy."""

    name: str
    visibility_timeout_s: int = 30
    retention_s: int = 345600
    max_receive_count: int | None = None
    fifo: bool = False

    @property
    def aws_name(self) -> str:
        """The queue name in AWS (FIFO queue names end in ``.fifo``)."""
        return f"{self.name}.fifo" if self.fifo else self.name

    @property
    def dlq_name(self) -> str:
        """The name of the redrive DLQ (a FIFO queue's DLQ must be FIFO too, R3.12)."""
        return f"{self.name}-dlq.fifo" if self.fifo else f"{self.name}-dlq"


@dataclass(frozen=True)
class StreamSpec:
    """A Kinesis stream or DynamoDB table stream."""

    name: str
    kind: str = "kinesis"
    shards: int = 1


@dataclass(frozen=True)
class MappingSpec:
    """An event source mapping from a queue or stream to a function."""

    source: str
    function: str
    batch_size: int = 10
    batching_window_s: float = 0.0
    report_batch_item_failures: bool = False
    bisect: bool = False
    max_retry_attempts: int = -1
    max_record_age_s: int = -1
    on_failure: str | None = None
    max_concurrency: int = 5


@dataclass(frozen=True)
class Scenario:
    """A complete, validated scenario."""

    name: str
    description: str
    start_epoch: float
    region: str
    account: str
    functions: dict[str, FunctionSpec]
    callers: tuple[CallerSpec, ...]
    queues: dict[str, QueueSpec] = field(default_factory=dict)
    streams: dict[str, StreamSpec] = field(default_factory=dict)
    mappings: tuple[MappingSpec, ...] = ()
    source: str = "<memory>"


class _Reader:
    """Typed access to one TOML table, raising EmulatorError naming file and key."""

    def __init__(self, where: str, table: dict[str, Any], prefix: str) -> None:
        self.where = where
        self.table = table
        self.prefix = prefix
        self.used: set[str] = set()

    def fail(self, key: str, why: str) -> EmulatorError:
        return EmulatorError(f"{self.where}: key {self.prefix}{key}: {why}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        self.used.add(key)
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise self.fail(key, f"expected a number, got {value!r}")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(key, f"expected {names}, got {type(value).__name__}")
        return value

    def number(self, key: str, default: float, lo: float, hi: float) -> float:
        value = float(self.get(key, (int, float), default))
        if not lo <= value <= hi:
            raise self.fail(key, f"must be between {lo:g} and {hi:g}, got {value:g}")
        return value

    def integer(self, key: str, default: int | None, lo: int, hi: int) -> int | None:
        value = self.get(key, int, default)
        if value is not None and not lo <= value <= hi:
            raise self.fail(key, f"must be between {lo} and {hi}, got {value}")
        return int(value) if value is not None else None

    def req_integer(self, key: str, default: int, lo: int, hi: int) -> int:
        value = self.integer(key, default, lo, hi)
        assert value is not None
        return value

    def text(self, key: str, default: str | None) -> str | None:
        value = self.get(key, str, default)
        return str(value) if value is not None else None

    def finish(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise self.fail(unknown[0], "unknown key")


def _name(reader: _Reader, key: str, value: str) -> str:
    if not _NAME.match(value):
        raise reader.fail(key, f"name {value!r} must be 1-64 letters, digits, '-' or '_'")
    return value


def _function(where: str, name: str, table: Any) -> FunctionSpec:
    if not isinstance(table, dict):
        raise EmulatorError(f"{where}: key functions.{name}: expected a table")
    r = _Reader(where, table, f"functions.{name}.")
    _name(r, "", name)
    kind = r.text("failure_kind", "exception") or "exception"
    if kind not in FAILURE_KINDS:
        raise r.fail("failure_kind", f"must be one of {sorted(FAILURE_KINDS)}")
    flag = r.text("failure_flag", "error") or "error"
    if flag not in FAILURE_FLAGS:
        raise r.fail("failure_flag", f"must be one of {sorted(FAILURE_FLAGS)}")
    spec = FunctionSpec(
        name=name,
        duration_ms=r.number("duration_ms", 80.0, 1.0, 900_000.0),
        duration_sigma=r.number("duration_sigma", 0.3, 0.0, 3.0),
        failure_rate=r.number("failure_rate", 0.0, 0.0, 1.0),
        failure_kind=kind,
        error_type=r.text("error_type", "RuntimeError") or "RuntimeError",
        error_message=r.text("error_message", "handler failed") or "handler failed",
        timeout_s=r.number("timeout_s", 30.0, 1.0, 900.0),
        init_ms=r.number("init_ms", 300.0, 0.0, 10_000.0),
        keep_warm_s=r.number("keep_warm_s", 900.0, 0.0, 86_400.0),
        reserved_concurrency=r.integer("reserved_concurrency", None, 0, 1000),
        throttle_rate=r.number("throttle_rate", 0.0, 0.0, 1.0),
        max_retry_attempts=r.req_integer("max_retry_attempts", 2, 0, 2),
        max_event_age_s=r.req_integer("max_event_age_s", 21600, 60, 21600),
        dlq=_arn(r, "dlq", DLQ_SERVICES),
        on_failure=_arn(r, "on_failure", DESTINATION_SERVICES),
        duplicate_rate=r.number("duplicate_rate", 0.0, 0.0, 1.0),
        service_error_rate=r.number("service_error_rate", 0.0, 0.0, 1.0),
        failure_flag=flag,
        failure_cause=bool(r.get("failure_cause", bool, True)),
    )
    r.finish()
    return spec


def arn_service(arn: str) -> str:
    """Return the service part of an ARN (``sqs``, ``sns``, ``lambda``, ``events``, ...)."""
    match = _ARN.match(arn)
    return match.group(1) if match else ""


def _arn(r: _Reader, key: str, services: frozenset[str]) -> str | None:
    value = r.text(key, None)
    if value is not None and arn_service(value) not in services:
        raise r.fail(key, f"must be the ARN of one of {sorted(services)}, got {value!r}")
    return value


def _caller(where: str, index: int, table: Any) -> CallerSpec:
    if not isinstance(table, dict):
        raise EmulatorError(f"{where}: key callers[{index}]: expected a table")
    r = _Reader(where, table, f"callers[{index}].")
    kind = r.text("kind", None)
    allowed = SYNC_CALLERS | ASYNC_CALLERS | POLL_CALLERS
    if kind not in allowed:
        raise r.fail("kind", f"must be one of {sorted(allowed)}, got {kind!r}")
    poison = r.get("poison", list, [])
    if not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in poison):
        raise r.fail("poison", "must be a list of message indices (integers >= 0)")
    mode = r.text("retry_mode", "none") or "none"
    if mode not in RETRY_MODES:
        raise r.fail("retry_mode", f"must be one of {sorted(RETRY_MODES)}, got {mode!r}")
    if mode != "none" and kind != "sdk":
        raise r.fail("retry_mode", "client SDK retries apply to synchronous 'sdk' callers only")
    spec = CallerSpec(
        kind=kind,
        count=r.req_integer("count", 1, 0, 1_000_000),
        start_s=r.number("start_s", 0.0, 0.0, 1_209_600.0),
        duration_s=r.number("duration_s", 60.0, 0.0, 1_209_600.0),
        function=r.text("function", None),
        target=r.text("target", None),
        name=r.text("name", None),
        poison=tuple(sorted(set(poison))),
        retry_mode=mode,
        total_max_attempts=r.req_integer("total_max_attempts", DEFAULT_TOTAL_ATTEMPTS[mode], 1, 20),
        read_timeout_s=r.number("read_timeout_s", 60.0, 0.001, 3600.0),
        groups=r.req_integer("groups", 1, 1, 10_000),
        links=bool(r.get("links", bool, False)),
    )
    r.finish()
    if spec.total_max_attempts > 1 and mode == "none":
        raise r.fail("total_max_attempts", "needs a retry_mode (legacy, standard or adaptive)")
    if "groups" in table and kind != "sqs":
        raise r.fail("groups", "message groups apply to SQS producers only")
    if spec.links and kind != "sqs":
        raise r.fail("links", "producer-side links apply to SQS producers only")
    if kind in POLL_CALLERS:
        if spec.target is None:
            raise r.fail("target", f"a {kind} producer needs the queue or stream name")
    elif spec.function is None:
        raise r.fail("function", f"a {kind} caller needs a function name")
    if spec.name is not None:
        _name(r, "name", spec.name)
    return spec


def _queue(where: str, name: str, table: Any) -> QueueSpec:
    if not isinstance(table, dict):
        raise EmulatorError(f"{where}: key queues.{name}: expected a table")
    r = _Reader(where, table, f"queues.{name}.")
    _name(r, "", name)
    spec = QueueSpec(
        name=name,
        visibility_timeout_s=r.req_integer("visibility_timeout_s", 30, 0, 43_200),
        retention_s=r.req_integer("retention_s", 345_600, 60, 1_209_600),
        max_receive_count=r.integer("max_receive_count", None, 1, 1000),
        fifo=bool(r.get("fifo", bool, False)),
    )
    r.finish()
    return spec


def _stream(where: str, name: str, table: Any) -> StreamSpec:
    if not isinstance(table, dict):
        raise EmulatorError(f"{where}: key streams.{name}: expected a table")
    r = _Reader(where, table, f"streams.{name}.")
    _name(r, "", name)
    kind = r.text("kind", "kinesis") or "kinesis"
    if kind not in ("kinesis", "dynamodb"):
        raise r.fail("kind", "must be 'kinesis' or 'dynamodb'")
    spec = StreamSpec(name=name, kind=kind, shards=r.req_integer("shards", 1, 1, 64))
    r.finish()
    return spec


def _mapping(where: str, index: int, table: Any) -> MappingSpec:
    if not isinstance(table, dict):
        raise EmulatorError(f"{where}: key mappings[{index}]: expected a table")
    r = _Reader(where, table, f"mappings[{index}].")
    source = r.text("source", None)
    function = r.text("function", None)
    if source is None:
        raise r.fail("source", "missing (a queue or stream name)")
    if function is None:
        raise r.fail("function", "missing")
    spec = MappingSpec(
        source=source,
        function=function,
        batch_size=r.req_integer("batch_size", 10, 1, 10_000),
        batching_window_s=r.number("batching_window_s", 0.0, 0.0, 300.0),
        report_batch_item_failures=bool(r.get("report_batch_item_failures", bool, False)),
        bisect=bool(r.get("bisect", bool, False)),
        max_retry_attempts=r.req_integer("max_retry_attempts", -1, -1, 10_000),
        max_record_age_s=r.req_integer("max_record_age_s", -1, -1, 604_800),
        on_failure=r.text("on_failure", None),
        max_concurrency=r.req_integer("max_concurrency", 5, 1, 1000),
    )
    r.finish()
    if 0 <= spec.max_record_age_s < 60:
        raise r.fail("max_record_age_s", "must be -1 or at least 60")
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
    r = _Reader(where, data, "")
    name = _name(r, "name", r.text("name", None) or "")
    start_text = r.text("start", DEFAULT_START) or DEFAULT_START
    try:
        start = datetime.fromisoformat(start_text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise r.fail("start", f"not an ISO-8601 time: {start_text!r}") from exc
    if start.tzinfo is None:
        raise r.fail("start", "needs a time zone, e.g. 2026-11-27T09:00:00Z")
    functions = {k: _function(where, k, v) for k, v in sorted(r.get("functions", dict, {}).items())}
    queues = {k: _queue(where, k, v) for k, v in sorted(r.get("queues", dict, {}).items())}
    streams = {k: _stream(where, k, v) for k, v in sorted(r.get("streams", dict, {}).items())}
    callers = tuple(_caller(where, i, t) for i, t in enumerate(r.get("callers", list, [])))
    mappings = tuple(_mapping(where, i, t) for i, t in enumerate(r.get("mappings", list, [])))
    scenario = Scenario(
        name=name,
        description=r.text("description", "") or "",
        start_epoch=start.timestamp(),
        region=r.text("region", "us-east-1") or "us-east-1",
        account=r.text("account", "123456789012") or "123456789012",
        functions=functions,
        callers=callers,
        queues=queues,
        streams=streams,
        mappings=mappings,
        source=where,
    )
    r.finish()
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
