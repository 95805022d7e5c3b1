"""The terminal renderer: a Report as rich text, findings first, every untrusted string escaped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.table import Table
from rich.text import Text

from tracelens.model.vocab import Severity
from tracelens.report._format import (
    CHAIN_EVIDENCE,
    LOST_FATES,
    by_severity,
    duration,
    fate_parts,
    histogram_items,
    invoke_paths,
    sqs_fates_line,
    stream_fates_line,
    worst_chains,
)
from tracelens.report.timeline_text import render_timeline

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from rich.console import Console

    from tracelens.report.models import Report, Stats


#: How many rows of the long lists are shown; the JSON report has them all.
WORST_CHAINS = 10
POISON_ROWS = 10
REJECTION_ROWS = 5
EXAMPLES = 3
FILE_ROWS = 5

SEVERITY_STYLE = {Severity.CRITICAL: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def render_terminal(report: Report, *, console: Console) -> None:
    """Print a Report for a person at a terminal.

    Order: headline numbers, findings (most severe first), the timeline, functions, async
    events, SQS, streams, the worst retry chains, then what was read (with the first rejections).
    Trace-derived text (names, ids, errors) is printed literally, never as rich markup.

    Args:
        report: The report to render.
        console: Where to print; tests pass ``Console(file=io.StringIO(), width=100)``.
    """
    _headline(report, console)
    _findings(report, console)
    render_timeline(report, console)
    _functions(report, console)
    _async(report, console)
    _sqs(report, console)
    _streams(report, console)
    _chains(report, console)
    _input(report, console)


def _time(value: str) -> str:
    """A contract time shortened for a table cell: ``2026-11-28 01:02:03``."""
    return value[:19].replace("T", " ")


def _n(value: int) -> str:
    return f"{value:,}"


def _line(*parts: tuple[str, int]) -> str:
    return " · ".join(f"{_n(count)} {label}" for label, count in parts)


def _section(console: Console, title: str) -> None:
    console.print()
    console.rule(Text(title, style="bold"), align="left")


def _headline(report: Report, console: Console) -> None:
    functions = report.functions
    title = Text.assemble(("tracelens report", "bold"), "  ", (report.generated_by, "dim"))
    console.print(title)
    console.print(
        Text(
            _line(
                ("functions", len(functions)),
                ("requests", sum(f.requests for f in functions)),
                ("invocations", sum(f.invocations for f in functions)),
                ("cold starts", sum(f.cold_starts for f in functions)),
                ("failed invocations", sum(f.failed_invocations for f in functions)),
            )
        )
    )
    console.print(_sync_line(report))
    asy = report.async_
    fates = asy.fates
    console.print(
        Text(
            f"async: {_n(asy.events)} events · dwell p99 {duration(asy.dwell_ms.p99)} · "
            f"{_n(asy.outcomes.retries_exhausted + asy.outcomes.event_age_exceeded)} ended badly "
            f"({_n(fates.dropped)} dropped, {_n(fates.missing)} missing from DLQ"
            + (f", {_n(fates.unknown)} fate unknown" if fates.unknown else "")
            + ")"
        )
    )
    console.print(
        Text(
            f"sqs: {_n(report.sqs.messages)} messages · {_n(report.sqs.redelivered_messages)} "
            f"redelivered · {_n(len(report.sqs.poison_messages))} poison    "
            f"streams: {_n(report.streams.batches)} batches · "
            f"{_n(report.streams.retried_batches)} retried"
        )
    )
    inp = report.input
    console.print(
        Text(
            f"input: {_n(len(inp.files))} files · {_n(inp.documents)} documents · "
            f"{_n(inp.traces)} traces · {_n(inp.rejected)} rejected"
        )
    )


def _sync_line(report: Report) -> Text:
    """``sync: N requests · N failed (N throttled) · N client retries · N duplicate ...``."""
    sync = report.sync
    line = Text(f"sync: {_n(sync.requests)} requests · ")
    line.append(f"{_n(sync.failed)} failed", style="bold red" if sync.failed else "")
    line.append(f" ({_n(sync.throttled)} throttled)", style="yellow" if sync.throttled else "")
    line.append(
        f" · {_n(sync.client_retries)} client retries · "
        f"{_n(sync.duplicate_executions)} duplicate executions"
    )
    return line


def _findings(report: Report, console: Console) -> None:
    _section(console, f"Findings ({len(report.findings)})")
    if not report.findings:
        console.print("No findings.")
        return
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for finding in by_severity(report.findings):
        body = Text.assemble((finding.code, "bold"))
        if finding.function:
            body.append(f" {finding.function}")
        body.append(f" ({finding.count:,})")
        body.append(f"\n{finding.message}")
        if finding.examples:
            body.append("\ne.g. " + ", ".join(finding.examples[:EXAMPLES]), style="dim")
        style = SEVERITY_STYLE.get(finding.severity, "")
        grid.add_row(Text(finding.severity.upper().ljust(8), style=style), body)
    console.print(grid)


def _functions(report: Report, console: Console) -> None:
    _section(console, f"Functions ({len(report.functions)})")
    if not report.functions:
        console.print("No Lambda functions in the traces.")
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True)
    table.add_column("Function", overflow="fold")
    for name in ("Req", "Inv", "Cold", "Fail", "FailReq", "Thr", "p50", "p99"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("Invoke paths", overflow="fold")
    for fn in report.functions:
        table.add_row(
            Text(fn.name),
            _n(fn.requests),
            _n(fn.invocations),
            _n(fn.cold_starts),
            _n(fn.failed_invocations),
            _n(fn.failed_requests),
            _n(fn.throttles),
            duration(fn.duration_ms.p50),
            duration(fn.duration_ms.p99),
            invoke_paths(fn.modes),
        )
    console.print(table)


def _stats_table(rows: Iterable[tuple[str, Stats]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("", no_wrap=True)
    for name in ("count", "min", "p50", "p90", "p99", "max", "mean"):
        table.add_column(name, justify="right", no_wrap=True)
    for label, s in rows:
        values = (s.min, s.p50, s.p90, s.p99, s.max, s.mean)
        table.add_row(label, _n(s.count), *(duration(v) for v in values))
    return table


def _histogram(counts: Mapping[str, int]) -> str:
    return " · ".join(f"{key}: {n:,}" for key, n in histogram_items(counts)) or "-"


def _async(report: Report, console: Console) -> None:
    asy = report.async_
    _section(console, f"Async events ({asy.events:,})")
    if not asy.events:
        console.print("No asynchronous invocations.")
        return
    console.print(_stats_table([("dwell", asy.dwell_ms), ("retry delay", asy.retry_delay_ms)]))
    console.print(Text(f"attempts: {_histogram(asy.attempts)}"))
    o = asy.outcomes
    console.print(
        Text(
            "outcomes: "
            + _line(
                ("succeeded", o.succeeded),
                ("succeeded after retry", o.succeeded_after_retry),
                ("retries exhausted", o.retries_exhausted),
                ("event age exceeded", o.event_age_exceeded),
                ("in progress", o.in_progress),
            )
        )
    )
    fates = Text("fates of events that ended badly: ")
    for i, (phrase, lost) in enumerate(fate_parts(report)):
        fates.append(" · " if i else "")
        fates.append(phrase, style="bold red" if lost else "")
    console.print(fates)


def _sqs(report: Report, console: Console) -> None:
    sqs = report.sqs
    _section(console, f"SQS messages ({sqs.messages:,})")
    if not sqs.messages:
        console.print("No SQS messages (no record annotations or SQS trace links).")
        return
    receive = "-" if sqs.max_receive_count is None else f"{sqs.max_receive_count:,}"
    console.print(
        Text(
            _line(
                ("deliveries", sqs.deliveries),
                ("redelivered messages", sqs.redelivered_messages),
                ("max deliveries", sqs.max_deliveries),
            )
            + f" · max receive count {receive} · evidence: {sqs.evidence}"
        )
    )
    console.print(Text(f"messages by deliveries: {_histogram(sqs.deliveries_histogram)}"))
    fates = sqs_fates_line(sqs)
    if fates:
        console.print(Text(fates))
    if not sqs.poison_messages:
        return
    console.print(Text("poison messages:", style="bold"))
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for msg in sqs.poison_messages[:POISON_ROWS]:
        body = Text.assemble((msg.message_id, "bold"), f"  {msg.function}\n")
        body.append(
            f"{msg.deliveries:,} deliveries · {_time(msg.first_seen)} -> {_time(msg.last_seen)}"
        )
        if msg.fate:
            body.append(" · fate ")
            body.append(msg.fate, style="bold red" if msg.fate in LOST_FATES else "")
        if msg.last_error:
            body.append(f"\nlast error: {msg.last_error}", style="dim")
        grid.add_row(" ", body)
    console.print(grid)
    if len(sqs.poison_messages) > POISON_ROWS:
        more = len(sqs.poison_messages) - POISON_ROWS
        console.print(Text(f"  ... and {more:,} more poison messages (see --format json)"))


def _streams(report: Report, console: Console) -> None:
    st = report.streams
    _section(console, f"Stream batches ({st.batches:,})")
    if not st.batches:
        console.print("No Kinesis or DynamoDB stream batches.")
        return
    console.print(
        Text(
            _line(("retried batches", st.retried_batches), ("max attempts", st.max_attempts))
            + f" · evidence: {st.evidence}"
        )
    )
    fates = stream_fates_line(st)
    if fates:
        console.print(Text(fates, style="bold red" if st.fates.discarded else ""))
    for reason in st.fate_unknown_reasons:
        console.print(Text(f"fate unknown: {reason}", style="dim"))


def _chains(report: Report, console: Console) -> None:
    total = len(report.chains)
    worst = worst_chains(report.chains, WORST_CHAINS)
    shown = f"worst {len(worst)} of {total:,}" if total > len(worst) else f"{total:,}"
    _section(console, f"Retry chains ({shown})")
    if not worst:
        console.print("No retried, redelivered or lost events.")
        return
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for chain in worst:
        body = Text.assemble((chain.key, "bold"), f"  {chain.function}\n")
        body.append(f"{chain.attempts:,} attempts · {chain.outcome}")
        if chain.fate:
            body.append(" -> ")
            body.append(chain.fate, style="bold red" if chain.fate in LOST_FATES else "")
            if chain.fate == "unknown":
                body.append(" (supply `--config`)")
            elif chain.fate_evidence in CHAIN_EVIDENCE:
                body.append(f" ({CHAIN_EVIDENCE[chain.fate_evidence]})")
        if chain.dwell_ms is not None:
            body.append(f" · dwell {duration(chain.dwell_ms)}")
        body.append(f" · from {_time(chain.first_start)}")
        if chain.errors:
            body.append(f"\nlast error: {chain.errors[-1]}", style="dim")
        grid.add_row(Text(chain.kind.ljust(6)), body)
    console.print(grid)


def _input(report: Report, console: Console) -> None:
    inp = report.input
    _section(console, "Input")
    span = f"{inp.start} -> {inp.end}" if inp.start and inp.end else "no complete segments"
    console.print(
        Text(
            _line(
                ("files", len(inp.files)),
                ("documents", inp.documents),
                ("duplicates", inp.duplicates),
                ("rejected", inp.rejected),
                ("traces", inp.traces),
            )
        )
    )
    console.print(Text(f"time span: {span}"))
    console.print(
        Text(f"config: {'yes' if inp.config else 'no'} · DLQ/destination dumps: {inp.dlq_dumps:,}")
    )
    for note in inp.notes:
        console.print(Text(f"note: {note}", style="yellow"))
    for name in inp.files[:FILE_ROWS]:
        console.print(Text(f"  {name}"))
    if len(inp.files) > FILE_ROWS:
        console.print(Text(f"  ... and {len(inp.files) - FILE_ROWS:,} more files"))
    if not inp.rejected:
        return
    console.print(Text(f"rejected ({inp.rejected:,}):", style="yellow"))
    shown = inp.rejections[:REJECTION_ROWS]
    for rejection in shown:
        where = rejection.file if rejection.line is None else f"{rejection.file}:{rejection.line}"
        console.print(Text(f"  {where}: {rejection.reason}"))
    if inp.rejected > len(shown):
        console.print(
            Text(f"  ... and {inp.rejected - len(shown):,} more (first 100 in --format json)")
        )
