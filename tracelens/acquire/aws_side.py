"""Fetch Lambda / SQS settings into config.json and DLQ messages into dlq/ via boto3 clients."""

from __future__ import annotations

import datetime as _dt
import logging
import re
from typing import TYPE_CHECKING, Any

import msgspec

from tracelens.acquire.aws_errors import aws_call
from tracelens.errors import SourceUnavailable
from tracelens.model import bundle

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from pathlib import Path

logger = logging.getLogger(__name__)


_SQS_ARN = re.compile(r"^arn:[^:]+:sqs:([^:]*):(\d*):(.+)$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.\-]")


def _not_found(exc: BaseException) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(exc.__cause__, ClientError) and exc.__cause__.response.get("Error", {}).get(
        "Code"
    ) in {
        "ResourceNotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
    }


def _clean(response: dict[str, Any]) -> dict[str, Any]:
    """Drop botocore's ResponseMetadata and make values JSON-ready (datetimes as ISO)."""
    return {k: _jsonable(v) for k, v in sorted(response.items()) if k != "ResponseMetadata"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def sqs_queue_parts(arn: str) -> tuple[str, str] | None:
    """Split an SQS queue ARN into (account id, queue name), or None if it is not one.

    Args:
        arn: Any ARN.

    Returns:
        The account and queue name of an SQS ARN, else None.
    """
    match = _SQS_ARN.match(arn)
    return (match.group(2), match.group(3)) if match else None


def _paginate(
    what: str, fn: Callable[..., dict[str, Any]], key: str, **kwargs: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        call = dict(kwargs)
        if marker:
            call["Marker"] = marker
        response = aws_call(what, fn, **call)
        items.extend(response.get(key, []))
        marker = response.get("NextMarker")
        if not marker:
            return items


def fetch_config(
    *, lambda_client: Any, sqs_client: Any, functions: Sequence[str], out_dir: Path
) -> dict[str, Any]:
    """Write ``out_dir/config.json`` for ``functions`` with AWS's own field names.

    For each function: ``get_function_configuration`` plus ``EventInvokeConfig`` from
    ``get_function_event_invoke_config`` (omitted when none is set), its event source
    mappings, and ``get_queue_attributes(All)`` for every SQS queue involved (mapping
    sources, DLQs, on-failure destinations and the sources' redrive DLQs).

    Args:
        lambda_client: A boto3 Lambda client.
        sqs_client: A boto3 SQS client.
        functions: Function names.
        out_dir: Bundle directory.

    Returns:
        The config written (``functions``, ``queues``, ``EventSourceMappings``).

    Raises:
        SourceUnavailable: AWS refused a call, or the file cannot be written.
    """
    config_functions: dict[str, Any] = {}
    mappings: list[dict[str, Any]] = []
    queue_arns: set[str] = set()
    for name in sorted(set(functions)):
        try:
            body = _clean(
                aws_call(
                    f"Lambda GetFunctionConfiguration({name})",
                    lambda_client.get_function_configuration,
                    FunctionName=name,
                )
            )
        except SourceUnavailable as exc:
            if _not_found(exc):
                logger.warning("function %s no longer exists; config skipped", name)
                continue
            raise
        try:
            invoke = _clean(
                aws_call(
                    f"Lambda GetFunctionEventInvokeConfig({name})",
                    lambda_client.get_function_event_invoke_config,
                    FunctionName=name,
                )
            )
            body["EventInvokeConfig"] = invoke
        except SourceUnavailable as exc:
            if not _not_found(exc):
                raise
        config_functions[name] = body
        for mapping in _paginate(
            f"Lambda ListEventSourceMappings({name})",
            lambda_client.list_event_source_mappings,
            "EventSourceMappings",
            FunctionName=name,
        ):
            mappings.append(_jsonable(mapping))
        queue_arns.update(_failure_targets(body))
    for mapping in mappings:
        for arn in (
            mapping.get("EventSourceArn"),
            ((mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"),
        ):
            if isinstance(arn, str) and sqs_queue_parts(arn):
                queue_arns.add(arn)
    queues: dict[str, Any] = {}
    pending = sorted(queue_arns)
    while pending:
        arn = pending.pop(0)
        if arn in queues:
            continue
        queue = _queue_attributes(sqs_client, arn)
        if queue is None:
            continue
        queues[arn] = queue
        redrive = queue["Attributes"].get("RedrivePolicy")
        if isinstance(redrive, str):
            try:
                target = msgspec.json.decode(redrive).get("deadLetterTargetArn")
            except (msgspec.DecodeError, AttributeError):
                target = None
            if isinstance(target, str) and target not in queues:
                pending.append(target)
    mappings.sort(
        key=lambda m: (str(m.get("FunctionArn")), str(m.get("EventSourceArn")), str(m.get("UUID")))
    )
    config = {
        "EventSourceMappings": mappings,
        "functions": config_functions,
        "queues": dict(sorted(queues.items())),
    }
    path = bundle.config_path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            msgspec.json.format(msgspec.json.encode(config, order="sorted"), indent=2) + b"\n"
        )
    except OSError as exc:
        raise SourceUnavailable(f"{path}: cannot write: {exc.strerror}") from exc
    return config


def _failure_targets(function: dict[str, Any]) -> Iterable[str]:
    """SQS ARNs of a function's DLQ and on-failure destination."""
    dlq = (function.get("DeadLetterConfig") or {}).get("TargetArn")
    destinations = (function.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}
    on_failure = (destinations.get("OnFailure") or {}).get("Destination")
    return [a for a in (dlq, on_failure) if isinstance(a, str) and sqs_queue_parts(a)]


def _queue_url(sqs_client: Any, arn: str) -> str | None:
    parts = sqs_queue_parts(arn)
    if parts is None:
        return None
    account, name = parts
    kwargs: dict[str, Any] = {"QueueName": name}
    if account:
        kwargs["QueueOwnerAWSAccountId"] = account
    try:
        url = aws_call(f"SQS GetQueueUrl({name})", sqs_client.get_queue_url, **kwargs)
    except SourceUnavailable as exc:
        if _not_found(exc):
            logger.warning("queue %s no longer exists; skipped", arn)
            return None
        raise
    value = url.get("QueueUrl")
    return value if isinstance(value, str) else None


def _queue_attributes(sqs_client: Any, arn: str) -> dict[str, Any] | None:
    url = _queue_url(sqs_client, arn)
    if url is None:
        return None
    attributes = aws_call(
        f"SQS GetQueueAttributes({arn})",
        sqs_client.get_queue_attributes,
        QueueUrl=url,
        AttributeNames=["All"],
    ).get("Attributes", {})
    return {"Attributes": dict(sorted(attributes.items())), "QueueUrl": url}


def dlq_targets(config: dict[str, Any]) -> list[str]:
    """The SQS ARNs in a config that hold failed events: DLQs and on-failure destinations.

    Args:
        config: A config as written by ``fetch_config``.

    Returns:
        Sorted queue ARNs: function DLQs and on-failure destinations, mapping on-failure
        destinations, and the redrive DLQs of the queues in the config.
    """
    targets: set[str] = set()
    for function in (config.get("functions") or {}).values():
        targets.update(_failure_targets(function))
    for mapping in config.get("EventSourceMappings") or []:
        dest = ((mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if isinstance(dest, str) and sqs_queue_parts(dest):
            targets.add(dest)
    for queue in (config.get("queues") or {}).values():
        redrive = (queue.get("Attributes") or {}).get("RedrivePolicy")
        if isinstance(redrive, str):
            try:
                target = msgspec.json.decode(redrive).get("deadLetterTargetArn")
            except (msgspec.DecodeError, AttributeError):
                continue
            if isinstance(target, str) and sqs_queue_parts(target):
                targets.add(target)
    return sorted(targets)


#: ReceiveMessage calls per queue at most (10 messages each): 10,000 messages.
DLQ_MAX_RECEIVES = 1000
#: Receives in a row that bring no message not seen before, after which a queue whose
#: messages come back at once (a visibility timeout shorter than the loop) is left.
_STALE_RECEIVES = 3
#: The queue depth ``fetch_dlq`` records in each dump, as get-queue-attributes names it.
DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def fetch_dlq(
    *,
    sqs_client: Any,
    config: dict[str, Any],
    out_dir: Path,
    polls: int = DLQ_MAX_RECEIVES,
    wait_seconds: int = 1,
) -> list[tuple[str, int, int]]:
    """Read (without deleting) the messages of every DLQ / on-failure queue in ``config``.

    First records the queue's depth (``get_queue_attributes``: ApproximateNumberOfMessages,
    ...NotVisible, ...Delayed), then calls ``receive_message`` (10 messages,
    ``MessageAttributeNames=["All"]``, ``AttributeNames=["All"]``) until a receive returns
    nothing, ``polls`` receives were made, or receives only repeat messages already seen
    (a visibility timeout shorter than the loop). It never deletes and leaves
    ``VisibilityTimeout`` at the queue's default: each receive hides the messages from
    other consumers for that time and raises their ``ApproximateReceiveCount``, which can
    move them to a redrive DLQ if the queue has one. The depth is written into the dump
    as top-level keys, so ``analyze`` knows when the dump holds fewer messages than the
    queue did (a partial dump).

    Args:
        sqs_client: A boto3 SQS client.
        config: A config as written by ``fetch_config``.
        out_dir: Bundle directory; writes ``dlq/<queue-name>.json``.
        polls: ReceiveMessage calls per queue at most (each returns up to 10 messages).
        wait_seconds: Long-poll wait per call.

    Returns:
        (queue name, messages written, messages the queue held when the dump began) per
        queue, sorted by name.

    Raises:
        SourceUnavailable: AWS refused a call, or a file cannot be written.
    """
    results: list[tuple[str, int, int]] = []
    queues = config.get("queues") or {}
    for arn in dlq_targets(config):
        parts = sqs_queue_parts(arn)
        if parts is None:
            continue
        name = parts[1]
        url = (queues.get(arn) or {}).get("QueueUrl") or _queue_url(sqs_client, arn)
        if not url:
            continue
        depth = _queue_depth(sqs_client, name, url)
        expected = sum(depth.values())
        messages = _receive_all(
            sqs_client, name, url, polls=polls, wait_seconds=wait_seconds, expected=expected
        )
        dump = {"Messages": [messages[k] for k in sorted(messages)], "QueueArn": arn, **depth}
        path = bundle.dlq_dump_path(out_dir, _SAFE_NAME.sub("_", name))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(
                msgspec.json.format(msgspec.json.encode(dump, order="sorted"), indent=2) + b"\n"
            )
        except OSError as exc:
            raise SourceUnavailable(f"{path}: cannot write: {exc.strerror}") from exc
        results.append((name, len(messages), expected))
    return sorted(results)


def _queue_depth(sqs_client: Any, name: str, url: str) -> dict[str, int]:
    """The queue's message counts by state, as integers (AWS returns strings)."""
    attributes = (
        aws_call(
            f"SQS GetQueueAttributes({name})",
            sqs_client.get_queue_attributes,
            QueueUrl=url,
            AttributeNames=list(DEPTH_ATTRIBUTES),
        ).get("Attributes")
        or {}
    )
    depth: dict[str, int] = {}
    for key in DEPTH_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, int | str) and str(value).isdigit():
            depth[key] = int(value)
    return depth


def _receive_all(
    sqs_client: Any, name: str, url: str, *, polls: int, wait_seconds: int, expected: int
) -> dict[str, dict[str, Any]]:
    """Every message a loop of receives returns, by message id (not deleted)."""
    messages: dict[str, dict[str, Any]] = {}
    stale = 0
    for _ in range(max(0, polls)):
        response = aws_call(
            f"SQS ReceiveMessage({name})",
            sqs_client.receive_message,
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_seconds,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        batch = response.get("Messages") or []
        if not batch:
            break
        before = len(messages)
        for message in batch:
            messages.setdefault(str(message.get("MessageId")), _jsonable(message))
        stale = 0 if len(messages) > before else stale + 1
        if stale >= _STALE_RECEIVES or (stale and len(messages) >= expected):
            break
    return messages


__all__ = [
    "DEPTH_ATTRIBUTES",
    "DLQ_MAX_RECEIVES",
    "dlq_targets",
    "fetch_config",
    "fetch_dlq",
    "sqs_queue_parts",
]
