"""``tracelens fetch``: fetch traces (and config, DLQ contents) into a bundle, with progress."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from tracelens.acquire.fetch import FetchSummary

#: ``--help`` text for ``tracelens fetch --with-dlq``.
WITH_DLQ_HELP = (
    "Also read the messages of every DLQ and on-failure SQS destination found in the "
    "config into DIR/dlq/ (implies --with-config): receives until the queue is empty (at "
    "most 10,000 messages) and records the queue's depth, so a dump cut short is reported "
    "as partial. Messages are not deleted, but reading "
    "them makes them invisible to other consumers for the queue's visibility timeout and "
    "raises their receive count, which can move them to the queue's own redrive DLQ."
)

#: ``--help`` text for ``tracelens fetch --with-config``.
WITH_CONFIG_HELP = (
    "Also write DIR/config.json: Lambda settings (function configuration, event invoke "
    "config, event source mappings) of the functions seen and the attributes of their "
    "SQS queues, with AWS field names."
)


class _RichProgress:
    """A rich progress bar on stderr implementing ``ProgressSink``."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("fetch"),
            BarColumn(),
            TextColumn("{task.fields[text]}"),
            TimeElapsedColumn(),
            console=Console(file=sys.stderr),
            transient=False,
        )
        self.task = self.progress.add_task("fetch", total=None, text="listing traces")

    def update(self, *, found: int, fetched: int, remaining: int, throttles: int) -> None:
        self.progress.update(
            self.task,
            total=max(found, 1),
            completed=found - remaining,
            text=f"found {found}  fetched {fetched}  remaining {remaining}  throttles {throttles}",
        )


def run_fetch(
    *,
    out_dir: Path,
    last: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    filter_expression: str | None = None,
    functions: Sequence[str] = (),
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    with_config: bool = False,
    with_dlq: bool = False,
    dlq_polls: int | None = None,
    concurrency: int = 4,
    show_progress: bool = True,
    spans: bool = False,
) -> FetchSummary:
    """The body of ``tracelens fetch``: fetch traces (and config, DLQ contents) into a bundle.

    Credentials and region come from boto3's standard chain (``--profile`` picks a named
    profile); nothing secret is printed or written. ``with_dlq`` implies ``with_config``
    (the DLQs are found in the config). Reading DLQ messages does not delete them, but it
    makes them invisible to other consumers for the queue's visibility timeout and raises
    their receive count, which can move them to a redrive DLQ.

    Args:
        out_dir: Bundle directory.
        last: ``--last`` duration (``1h``), or None with ``since``.
        since: ``--since`` time, or None with ``last``.
        until: ``--until`` time (default now).
        filter_expression: ``--filter`` X-Ray filter expression.
        functions: ``--function`` names.
        region: ``--region``.
        profile: ``--profile``.
        endpoint_url: ``--endpoint-url`` (e.g. a local emulator).
        with_config: Also write ``config.json``.
        with_dlq: Also write ``dlq/<queue>.json`` (non-destructive read, see above).
        dlq_polls: ReceiveMessage calls per DLQ at most (default
            ``aws_side.DLQ_MAX_RECEIVES``).
        concurrency: BatchGetTraces calls in flight.
        show_progress: Draw a progress bar and summary on stderr.
        spans: ``--source spans``: write the ``aws/spans`` events (Transaction Search).

    Returns:
        The fetch summary.

    Raises:
        SourceUnavailable: AWS could not be reached or refused a call, or no path can see
            the traces (the message names the missing IAM action or setting).
    """
    from rich.console import Console

    from tracelens.acquire.backoff import RetryPolicy
    from tracelens.acquire.clients import make_clients
    from tracelens.acquire.destination import read_indexing_rules, read_segment_destination
    from tracelens.acquire.fetch import fetch_traces
    from tracelens.acquire.fetch_path import PATH_CLASSIC, choose_path, empty_hint, path_notice
    from tracelens.acquire.source_info import source_record, write_source
    from tracelens.acquire.transaction_search import fetch_transaction_search
    from tracelens.acquire.windows import resolve_window
    from tracelens.acquire.xray_calls import XRayCalls
    from tracelens.errors import SourceUnavailable

    start, end = resolve_window(last=last, since=since, until=until, now=datetime.now(UTC))
    clients = make_clients(
        region=region,
        profile=profile,
        endpoint_url=endpoint_url,
        concurrency=concurrency,
        side=with_config or with_dlq,
    )
    console = Console(file=sys.stderr)
    probe = XRayCalls(clients["xray"], RetryPolicy(), time.sleep)
    destination = read_segment_destination(probe)
    path = choose_path(destination, spans=spans, filter_expression=filter_expression)
    # Said even without progress: the path decides what the bundle holds.
    console.print(path_notice(destination, path), markup=False, highlight=False, soft_wrap=True)
    rules = read_indexing_rules(probe) if destination.destination == "CloudWatchLogs" else None
    bar = _RichProgress() if show_progress else None
    if bar is not None:
        bar.progress.start()
    try:
        if path == PATH_CLASSIC:
            summary = fetch_traces(
                client=clients["xray"],
                start=start,
                end=end,
                out_dir=out_dir,
                filter_expression=filter_expression,
                functions=functions,
                concurrency=concurrency,
                progress=bar,
            )
        else:
            summary = fetch_transaction_search(
                xray_client=clients["xray"],
                logs_client=clients["logs"],
                start=start,
                end=end,
                out_dir=out_dir,
                functions=functions,
                spans=spans,
                concurrency=concurrency,
                progress=bar,
            )
    finally:
        if bar is not None:
            bar.progress.stop()
    write_source(
        out_dir,
        source_record(
            path=path, destination=destination, rules=rules, start=start, end=end, summary=summary
        ),
    )
    hint = empty_hint(destination, summary)
    if hint:
        console.print(f"warning: {hint}", markup=False, highlight=False, soft_wrap=True)
    if summary.retrieval_failed and not summary.fetched and not summary.skipped:
        raise SourceUnavailable(
            f"every trace retrieval failed ({summary.retrieval_failed} trace ids; "
            "StartTraceRetrieval ended FAILED, CANCELLED or TIMEOUT twice): nothing was "
            "fetched; try again or narrow the window"
        )
    if with_config or with_dlq:
        from tracelens.acquire.aws_side import DLQ_MAX_RECEIVES, fetch_config, fetch_dlq

        names = sorted(set(summary.functions) | set(functions))
        config = fetch_config(
            lambda_client=clients["lambda"],
            sqs_client=clients["sqs"],
            functions=names,
            out_dir=out_dir,
        )
        if show_progress:
            console.print(
                f"config.json: {len(config['functions'])} functions, "
                f"{len(config['queues'])} queues, "
                f"{len(config['EventSourceMappings'])} event source mappings",
                markup=False,
            )
        if with_dlq:
            dumps = fetch_dlq(
                sqs_client=clients["sqs"],
                config=config,
                out_dir=out_dir,
                polls=DLQ_MAX_RECEIVES if dlq_polls is None else dlq_polls,
            )
            if show_progress:
                for name, count, expected in dumps:
                    partial = (
                        f" of about {expected} in the queue (partial)" if expected > count else ""
                    )
                    console.print(f"dlq/{name}.json: {count} messages{partial}", markup=False)
    if show_progress:
        console.print(format_fetch_summary(summary), markup=False)
    return summary


def format_fetch_summary(summary: FetchSummary) -> str:
    """One plain-text paragraph summarising a fetch (no markup).

    Args:
        summary: The fetch summary.

    Returns:
        The text.
    """
    if summary.path == "transaction-search-spans":
        parts = [
            f"{summary.spans} span events of {summary.fetched} traces written to "
            f"{summary.out_file}",
            f"{summary.found} traces found in aws/spans",
            f"{summary.missing} without span events",
            f"{summary.throttles} throttled retries",
        ]
    else:
        parts = [
            f"{summary.fetched} traces written to {summary.out_file}",
            f"{summary.found} found",
            f"{summary.skipped} already present",
            f"{summary.partial} partial",
        ]
        if summary.path == "xray":
            parts.append(f"{summary.limit_exceeded} over the size limit")
        else:
            parts.append(f"{summary.retrieval_failed} retrievals failed")
        parts += [f"{summary.missing} not returned", f"{summary.throttles} throttled retries"]
    if summary.saturated:
        parts.append(
            f"{summary.saturated} Logs Insights results at the 10,000-row limit could not be "
            "split (their traces may be incomplete)"
        )
    if summary.truncated_bytes:
        parts.append(f"{summary.truncated_bytes} bytes of a torn last line removed")
    return "; ".join(parts)


__all__ = ["WITH_CONFIG_HELP", "WITH_DLQ_HELP", "format_fetch_summary", "run_fetch"]
