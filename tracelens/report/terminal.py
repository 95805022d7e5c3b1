"""The terminal renderer: a Report as rich text, findings first, every untrusted string escaped.

It fits any width: lines are packed from whole pieces (``12 failed invocations`` is never
split), names are shortened in the middle when they cannot fit, ids and ARNs are never cut,
and below ``WIDE`` columns (or when a table would not fit) the wide tables become stacked
``key: value`` blocks, one per row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from tracelens.model.vocab import Severity
from tracelens.report._format import (
    CHAIN_EVIDENCE,
    DUPLICATES_MEANING,
    LOST_FATES,
    UNKNOWN_FATE_HINTS,
    by_severity,
    caller_label,
    counted,
    duration,
    fate_parts,
    histogram_items,
    invoke_paths,
    plural,
    repeated,
    sqs_fates_line,
    stream_fates_line,
    times,
    worst_chains,
)
from tracelens.report._layout import (
    WIDE,
    fits,
    flow,
    print_lines,
    shorten_middle,
    table_width,
    words,
)
from tracelens.report.timeline_text import render_timeline

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from rich.console import Console

    from tracelens.report.models import Chain, FunctionSummary, Report, Stats


#: How many rows of the long lists are shown; the JSON report has them all.
WORST_CHAINS = 10
POISON_ROWS = 10
REJECTION_ROWS = 5
EXAMPLES = 3
FILE_ROWS = 5
#: Distinct errors shown per retry chain (each once, with how many times it occurred).
CHAIN_ERRORS = 3
#: Callers shown per function in the text report (all of them are in JSON and Markdown).
TOP_CALLERS = 5
#: The narrowest a function name is shortened to in the functions table.
MIN_NAME = 12
#: The room a function name gets in the functions table before its invoke paths wrap.
NAME_ROOM = 40

SEVERITY_STYLE = {Severity.CRITICAL: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def render_terminal(report: Report, *, console: Console) -> None:
    """Print a Report for a person at a terminal, at the console's width.

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
    _callers(report, console)
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


def _say(
    console: Console,
    *pieces: Text | str,
    sep: str = " · ",
    indent: str = "",
    hang: str = "  ",
    style: str = "",
) -> None:
    """Print ``pieces`` packed into lines of the console's width, continuation lines hanging."""
    lines = flow(pieces, console.width - len(indent), sep=sep, hang=hang)
    if style:
        for line in lines:
            line.stylize(style)
    print_lines(console, lines, first=indent, rest=indent)


def _name(name: str, width: int) -> Text:
    """A name from the traces, shortened in the middle to ``width`` cells if longer."""
    return Text(shorten_middle(name, max(MIN_NAME, width)))


def _section(console: Console, title: str) -> None:
    console.print()
    console.rule(Text(title, style="bold"), align="left")


def _headline(report: Report, console: Console) -> None:
    functions = report.functions
    console.print(Text.assemble(("tracelens report", "bold"), "  ", (report.generated_by, "dim")))
    _say(
        console,
        plural(len(functions), "function"),
        plural(sum(f.requests for f in functions), "request"),
        plural(sum(f.invocations for f in functions), "invocation"),
        plural(sum(f.cold_starts for f in functions), "cold start"),
        plural(sum(f.failed_invocations for f in functions), "failed invocation"),
    )
    sync = report.sync
    _say(
        console,
        f"sync: {plural(sync.requests, 'request')}",
        Text.assemble(
            (f"{_n(sync.failed)} failed", "bold red" if sync.failed else ""),
            (f" ({_n(sync.throttled)} throttled)", "yellow" if sync.throttled else ""),
        ),
        plural(sync.client_retries, "client retry"),
        plural(sync.duplicate_executions, "duplicate execution"),
    )
    asy = report.async_
    fates = asy.fates
    unknown = f", {_n(fates.unknown)} fate unknown" if fates.unknown else ""
    _say(
        console,
        f"async: {plural(asy.events, 'event')}",
        f"dwell p99 {duration(asy.dwell_ms.p99)}",
        f"{_n(asy.outcomes.retries_exhausted + asy.outcomes.event_age_exceeded)} ended badly "
        f"({_n(fates.dropped)} dropped, {_n(fates.missing)} missing from DLQ{unknown})",
    )
    _say(
        console,
        f"sqs: {plural(report.sqs.messages, 'message')}",
        f"{_n(report.sqs.redelivered_messages)} redelivered",
        f"{_n(len(report.sqs.poison_messages))} poison",
    )
    _say(
        console,
        f"streams: {plural(report.streams.batches, 'batch')}",
        f"{_n(report.streams.retried_batches)} retried",
    )
    inp = report.input
    _say(
        console,
        f"input: {plural(len(inp.files), 'file')}",
        plural(inp.documents, "document"),
        plural(inp.traces, "trace"),
        f"{_n(inp.rejected)} rejected",
    )


def _findings(report: Report, console: Console) -> None:
    _section(console, f"Findings ({len(report.findings)})")
    if not report.findings:
        console.print(Text("No findings."))
        return
    gutter = 9  # "CRITICAL "
    width = console.width - gutter
    for finding in by_severity(report.findings):
        count = f"({finding.count:,})"
        head: list[Text | str] = [Text(finding.code, style="bold")]
        if finding.function:
            head.append(_name(finding.function, width - len(count) - 1) + " " + count)
        else:
            head.append(count)
        lines = flow(head, width, sep=" ", hang="")
        lines += words(finding.message, width)
        if finding.examples:
            examples = [f"e.g. {finding.examples[0]}", *finding.examples[1:EXAMPLES]]
            for line in flow(examples, width, sep=", ", hang=""):
                line.stylize("dim")
                lines.append(line)
        severity = Text(
            finding.severity.upper().ljust(gutter), SEVERITY_STYLE.get(finding.severity, "")
        )
        print_lines(console, lines, first=severity, rest=" " * gutter)


def _functions(report: Report, console: Console) -> None:
    _section(console, f"Functions ({len(report.functions)})")
    if not report.functions:
        console.print(Text("No Lambda functions in the traces."))
        return
    if console.width >= WIDE:
        table = _functions_table(report.functions, console)
        if table is not None:
            console.print(table)
            return
    for fn in report.functions:
        console.print(Text(shorten_middle(fn.name, console.width), style="bold"), soft_wrap=True)
        _say(
            console,
            f"requests: {_n(fn.requests)}",
            f"invocations: {_n(fn.invocations)}",
            f"cold starts: {_n(fn.cold_starts)}",
            f"failed invocations: {_n(fn.failed_invocations)}",
            f"failed requests: {_n(fn.failed_requests)}",
            f"throttles: {_n(fn.throttles)}",
            f"p50: {duration(fn.duration_ms.p50)}",
            f"p99: {duration(fn.duration_ms.p99)}",
            f"invoke paths: {invoke_paths(fn.modes)}",
            *([f"top callers: {', '.join(fn.top_callers)}"] if fn.top_callers else []),
            indent="  ",
            hang="",
        )


def _callers(report: Report, console: Console) -> None:
    """Who called each function: its callers with the most requests, and why one is unknown."""
    if not report.callers:
        return
    _section(console, "Callers")
    shown: dict[str, int] = {}
    for caller in report.callers:
        n = shown.get(caller.function, 0)
        shown[caller.function] = n + 1
        if n == 0:
            console.print(
                Text(shorten_middle(caller.function, console.width), style="bold"), soft_wrap=True
            )
        if n >= TOP_CALLERS:
            continue
        pieces = [
            caller_label(caller),
            f"path: {caller.path}",
            plural(caller.requests, "request"),
            f"{_n(caller.failed)} failed",
        ]
        if caller.throttled:
            pieces.append(f"{_n(caller.throttled)} throttled")
        if caller.dwell_p99_ms is not None:
            pieces.append(f"dwell p99 {duration(caller.dwell_p99_ms)}")
        if caller.outcomes:
            pieces.append(f"outcomes: {counted(caller.outcomes)}")
        if caller.fates:
            pieces.append(f"fates: {counted(caller.fates)}")
        _say(console, *pieces, indent="  ")
        if caller.reason:
            why = caller.reason
            if caller.candidates:
                why += f" (candidates: {', '.join(caller.candidates)})"
            _say(console, *why.split(" "), sep=" ", indent="    ", hang="", style="dim")
    for function, n in shown.items():
        if n > TOP_CALLERS:
            more = plural(n - TOP_CALLERS, "more caller")
            _say(console, f"{function}: {more} in the JSON report (callers)", style="dim")


def _functions_table(functions: Iterable[FunctionSummary], console: Console) -> Table | None:
    """The functions as one table that fits the console, or None when it cannot.

    Names are shortened in the middle and the invoke paths wrapped after their commas only as
    much as the width needs: both whole when they fit, else the name gets up to ``NAME_ROOM``
    cells before the invoke paths wrap.
    """
    rows = list(functions)
    paths = [invoke_paths(fn.modes).split(", ") for fn in rows]

    def table(names: list[str], cells: list[str]) -> Table:
        out = Table(box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True)
        out.add_column("Function", no_wrap=True)
        for name in ("Req", "Inv", "Cold", "Fail", "FailReq", "Thr", "p50", "p99"):
            out.add_column(name, justify="right", no_wrap=True)
        out.add_column("Invoke paths", no_wrap=True)
        for name, fn, cell in zip(names, rows, cells, strict=True):
            out.add_row(
                Text(name),
                _n(fn.requests),
                _n(fn.invocations),
                _n(fn.cold_starts),
                _n(fn.failed_invocations),
                _n(fn.failed_requests),
                _n(fn.throttles),
                duration(fn.duration_ms.p50),
                duration(fn.duration_ms.p99),
                cell,
            )
        return out

    header = len("Invoke paths")
    # What the other columns and the padding take.
    fixed = table_width(console, table(["x" * MIN_NAME] * len(rows), ["y" * header] * len(rows)))
    room = console.width - fixed + MIN_NAME + header
    name_need = max(cell_len(fn.name) for fn in rows)
    paths_need = max(cell_len(", ".join(p)) for p in paths)
    paths_least = max(header, *(cell_len(pair) + 1 for p in paths for pair in p))
    if name_need + paths_need <= room:
        name_width, paths_width = name_need, paths_need
    else:
        name_width = min(name_need, max(NAME_ROOM, room - paths_need), room - paths_least)
        paths_width = room - name_width
    if name_width < min(name_need, MIN_NAME):
        return None
    cells = [
        "\n".join(line.plain for line in flow(p, paths_width, sep=", ", hang="")) for p in paths
    ]
    return table([shorten_middle(fn.name, name_width) for fn in rows], cells)


def _stats(console: Console, rows: Iterable[tuple[str, Stats]]) -> None:
    """Duration statistics: a table when it fits, else one ``key: value`` block per row."""
    rows = list(rows)
    names = ("count", "min", "p50", "p90", "p99", "max", "mean")
    if console.width >= WIDE:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False)
        table.add_column("", no_wrap=True)
        for name in names:
            table.add_column(name, justify="right", no_wrap=True)
        for label, s in rows:
            values = (s.min, s.p50, s.p90, s.p99, s.max, s.mean)
            table.add_row(label, _n(s.count), *(duration(v) for v in values))
        if fits(console, table):
            console.print(table)
            return
    for label, s in rows:
        console.print(Text(label, style="bold"))
        values = (s.min, s.p50, s.p90, s.p99, s.max, s.mean)
        pairs = zip(names, (_n(s.count), *(duration(v) for v in values)), strict=True)
        _say(console, *(f"{name}: {value}" for name, value in pairs), indent="  ", hang="")


def _histogram(counts: Mapping[str, int]) -> list[str]:
    return [f"{key}: {n:,}" for key, n in histogram_items(counts)] or ["-"]


def _async(report: Report, console: Console) -> None:
    asy = report.async_
    _section(console, f"Async events ({asy.events:,})")
    if not asy.events:
        console.print(Text("No asynchronous invocations."))
        return
    _stats(console, [("dwell", asy.dwell_ms), ("retry delay", asy.retry_delay_ms)])
    first, *rest = _histogram(asy.attempts)
    _say(console, f"attempts: {first}", *rest)
    o = asy.outcomes
    _say(
        console,
        f"outcomes: {_n(o.succeeded)} succeeded",
        f"{_n(o.succeeded_after_retry)} succeeded after retry",
        f"{_n(o.retries_exhausted)} retries exhausted",
        f"{_n(o.event_age_exceeded)} event age exceeded",
        f"{_n(o.in_progress)} in progress",
    )
    parts = [Text(phrase, style="bold red" if lost else "") for phrase, lost in fate_parts(report)]
    parts[0] = Text("fates of events that ended badly: ") + parts[0]
    _say(console, *parts)


def _sqs(report: Report, console: Console) -> None:
    sqs = report.sqs
    _section(console, f"SQS messages ({sqs.messages:,})")
    if not sqs.messages:
        console.print(Text("No SQS messages (no record annotations or SQS trace links)."))
        return
    receive = "-" if sqs.max_receive_count is None else f"{sqs.max_receive_count:,}"
    _say(
        console,
        plural(sqs.deliveries, "delivery"),
        plural(sqs.redelivered_messages, "redelivered message"),
        f"at most {plural(sqs.max_deliveries, 'delivery')} of one message",
        f"max receive count {receive}",
        f"evidence: {sqs.evidence}",
    )
    first, *rest = _histogram(sqs.deliveries_histogram)
    _say(console, f"messages by deliveries: {first}", *rest)
    fates = sqs_fates_line(sqs, has_config=report.input.config)
    if fates:
        _say(console, fates)
    if not sqs.poison_messages:
        return
    console.print(Text("poison messages:", style="bold"))
    width = console.width - 2
    for msg in sqs.poison_messages[:POISON_ROWS]:
        head = [Text(msg.message_id, style="bold"), _name(msg.function, width)]
        lines = flow(head, width, sep="  ", hang="")
        fate: list[Text | str] = []
        if msg.fate:
            fate = [Text("fate ") + Text(msg.fate, "bold red" if msg.fate in LOST_FATES else "")]
        lines += flow(
            [
                plural(msg.deliveries, "delivery"),
                f"{_time(msg.first_seen)} -> {_time(msg.last_seen)}",
                *fate,
            ],
            width,
            hang="",
        )
        if msg.last_error:
            lines += words(Text(f"last error: {msg.last_error}", style="dim"), width, hang="  ")
        print_lines(console, lines, first="  ", rest="  ")
    if len(sqs.poison_messages) > POISON_ROWS:
        more = len(sqs.poison_messages) - POISON_ROWS
        _say(console, f"... and {plural(more, 'more poison message')} (see --format json)")


def _streams(report: Report, console: Console) -> None:
    st = report.streams
    _section(console, f"Stream batches ({st.batches:,})")
    if not st.batches:
        console.print(Text("No Kinesis or DynamoDB stream batches."))
        return
    _say(
        console,
        plural(st.retried_batches, "retried batch"),
        f"at most {plural(st.max_attempts, 'attempt')} of one batch",
        f"evidence: {st.evidence}",
    )
    fates = stream_fates_line(st)
    if fates:
        _say(console, fates, style="bold red" if st.fates.discarded else "")
    for reason in st.fate_unknown_reasons:
        _say(console, f"fate unknown: {reason}", style="dim")


def _chains(report: Report, console: Console) -> None:
    total = len(report.chains)
    worst = worst_chains(report.chains, WORST_CHAINS)
    shown = f"worst {len(worst)} of {total:,}" if total > len(worst) else f"{total:,}"
    _section(console, f"Retry chains ({shown})")
    if not worst:
        console.print(Text("No retried, redelivered or lost events."))
        return
    gutter = 7  # "stream "
    for chain in worst:
        lines = _chain_lines(chain, console, console.width - gutter)
        print_lines(console, lines, first=chain.kind.ljust(gutter), rest=" " * gutter)


def _chain_lines(chain: Chain, console: Console, width: int) -> list[Text]:
    """A chain: its key (whole) and function, what happened, and each distinct error once."""
    head = [Text(chain.key, style="bold"), _name(chain.function, width)]
    lines = flow(head, width, sep="  ", hang="")
    outcome = Text(chain.outcome)
    if chain.fate:
        outcome.append(" -> ")
        outcome.append(chain.fate, style="bold red" if chain.fate in LOST_FATES else "")
        if chain.fate == "unknown":
            outcome.append(f" ({UNKNOWN_FATE_HINTS[chain.kind]})")
        elif chain.fate_evidence in CHAIN_EVIDENCE:
            outcome.append(f" ({CHAIN_EVIDENCE[chain.fate_evidence]})")
    details: list[Text | str] = [plural(chain.attempts, "attempt"), outcome]
    if chain.dwell_ms is not None:
        details.append(f"dwell {duration(chain.dwell_ms)}")
    details.append(f"from {_time(chain.first_start)}")
    lines += flow(details, width, hang="")
    distinct = repeated(chain.errors)
    for error, count in distinct[:CHAIN_ERRORS]:
        lines += words(Text(f"error: {times(error, count)}", style="dim"), width, hang="  ")
    if len(distinct) > CHAIN_ERRORS:
        more = len(distinct) - CHAIN_ERRORS
        lines += words(Text(f"... and {plural(more, 'more error')}", style="dim"), width)
    return lines


def _input(report: Report, console: Console) -> None:
    inp = report.input
    _section(console, "Input")
    _say(
        console,
        plural(len(inp.files), "file"),
        plural(inp.documents, "document"),
        plural(inp.duplicates, "duplicate"),
        f"{_n(inp.rejected)} rejected",
        plural(inp.traces, "trace"),
    )
    if inp.duplicates:
        _say(console, DUPLICATES_MEANING, style="dim")
    if inp.start and inp.end:
        _say(console, f"time span: {inp.start} -> {inp.end}")
    else:
        _say(console, "time span: no complete segments")
    _say(
        console,
        f"config: {'yes' if inp.config else 'no'}",
        f"DLQ/destination dumps: {inp.dlq_dumps:,}",
    )
    if inp.acquisition is not None:
        _say(console, f"acquisition: {inp.acquisition.note}")
    for note in inp.notes:
        _say(console, f"note: {note}", style="yellow")
    for name in inp.files[:FILE_ROWS]:
        console.print(Text("  " + shorten_middle(name, console.width - 2)), soft_wrap=True)
    if len(inp.files) > FILE_ROWS:
        _say(console, f"  ... and {plural(len(inp.files) - FILE_ROWS, 'more file')}")
    if not inp.rejected:
        return
    console.print(Text(f"rejected ({inp.rejected:,}):", style="yellow"))
    shown = inp.rejections[:REJECTION_ROWS]
    for rejection in shown:
        where = rejection.file if rejection.line is None else f"{rejection.file}:{rejection.line}"
        _say(console, f"{where}: {rejection.reason}", indent="  ")
    if inp.rejected > len(shown):
        _say(
            console,
            f"... and {_n(inp.rejected - len(shown))} more (first 100 in --format json)",
            indent="  ",
        )
