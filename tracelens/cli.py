"""The ``tracelens`` command line: click declarations, option types and the exit-code mapping.

The command bodies live in ``tracelens.commands`` (one module per command).

Exit codes: 0 success; 1 a ``--fail-on`` threshold was crossed; 2 bad usage or unusable
input (one ``error: ...`` line on stderr, never a traceback); 130 interrupted.
"""

from __future__ import annotations

import functools
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

import tracelens
from tracelens.acquire.address import parse_host_port
from tracelens.commands import analyze as analyze_command
from tracelens.commands import convert as convert_command
from tracelens.commands import dashboard as dashboard_command
from tracelens.commands import emulate as emulate_command
from tracelens.commands import explain as explain_command
from tracelens.commands import find as find_command
from tracelens.commands.fetch import WITH_CONFIG_HELP, WITH_DLQ_HELP
from tracelens.commands.report_io import engine_options
from tracelens.errors import SourceUnavailable, TracelensError

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracelens.commands.progress import Progress
    from tracelens.emulator.bundle import TraceFormat
    from tracelens.engine.run import EngineOptions

#: Exit codes (ARCHITECTURE.md "Commands").
EXIT_THRESHOLD = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # what a shell reports for a process killed by SIGPIPE


class OneLineError(click.ClickException):
    """A failure shown as one ``error: <message>`` line on stderr, exit code 2."""

    exit_code = EXIT_USAGE

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the one line (newlines in the message are folded)."""
        message = " ".join(self.format_message().split())
        click.echo(f"error: {message}", file=file or sys.stderr)


class TracelensGroup(click.Group):
    """The command group; the one place where failures become exit codes."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Parse the group's own options; usage errors become one line."""
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _usage_error(exc) from exc

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Bare ``tracelens`` prints its help and exits 0 (not a usage error)."""
        if not args and not ctx.resilient_parsing:
            click.echo(ctx.get_help(), color=ctx.color)
            ctx.exit(0)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        """Run a command, mapping every failure to one line and an exit code."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, OneLineError):
            raise
        except click.UsageError as exc:
            raise _usage_error(exc) from exc
        except click.ClickException as exc:
            raise OneLineError(exc.format_message()) from exc
        except TracelensError as exc:
            raise OneLineError(str(exc) or type(exc).__name__) from exc
        except KeyboardInterrupt:
            click.echo(file=sys.stderr)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            _silence_stdout()
            raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None
        except Exception as exc:
            # A bug, not bad input: still one line, with a way to get the details.
            if os.environ.get("TRACELENS_DEBUG") == "1":
                raise
            raise OneLineError(
                f"internal error ({type(exc).__name__}: {exc}); rerun with TRACELENS_DEBUG=1 "
                "for a traceback and please report it"
            ) from exc


def _usage_error(exc: click.UsageError) -> OneLineError:
    command = exc.ctx.command_path if exc.ctx is not None else "tracelens"
    message = exc.format_message().rstrip(".")
    return OneLineError(f"{message} (see '{command} --help')")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests)
        pass


class Timestamp(click.ParamType[datetime, "str | datetime"]):
    """An ISO-8601 time (``2026-11-28T01:02:03Z``, with an offset, or naive = UTC)."""

    name = "TIME"

    def convert(
        self, value: str | datetime, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        """Parse to an aware UTC datetime."""
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 time (e.g. 2026-11-28T01:02:03Z)", param, ctx)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


@click.group(cls=TracelensGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(tracelens.__version__, prog_name="tracelens")
def main() -> None:
    """Read AWS X-Ray traces of a Lambda system and report what happened to its events.

    \b
    Example:
        tracelens analyze sample_traces/async_retry_storm
    """


_side_options = [
    click.option(
        "--config",
        "config",
        multiple=True,
        type=click.Path(path_type=Path),
        metavar="FILE|DIR",
        help="Function, queue and event source mapping settings: tracelens' config.json or "
        "raw AWS CLI output (list-functions, get-function-event-invoke-config, "
        "list-event-source-mappings, sqs get-queue-attributes, ...); a directory means every "
        "*.json in it. Repeatable.",
    ),
    click.option(
        "--dlq",
        "dlq",
        multiple=True,
        metavar="[ARN=]FILE",
        help="DLQ or on-failure destination dump (aws sqs receive-message output). Repeatable.",
    ),
]


def _with_side_options(command: Any) -> Any:
    for option in reversed(_side_options):
        command = option(command)
    return command


_engine_option_list = [
    click.option(
        "--work-dir",
        metavar="DIR",
        help="Where to spill partitioned rows while reading (default: the system's temporary "
        "directory). Removed when the command ends.",
    ),
    click.option(
        "--keep-work-dir", is_flag=True, help="Keep the work directory (its path is printed)."
    ),
    click.option(
        "--partitions",
        type=click.IntRange(min=1, max=4096),
        metavar="N",
        help="Partitions to split the traces into by trace id (default: one per ~96 MB of "
        "input). More partitions, less memory.",
    ),
    click.option(
        "--engine",
        "engine_name",
        type=click.Choice(["local", "dask"]),
        default="local",
        show_default=True,
        help="local: reader processes on this machine; dask: Dask tasks on a cluster "
        "(needs pip install 'tracelens[dask]').",
    ),
    click.option(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        envvar="TRACELENS_DASK_SCHEDULER",
        help="The Dask scheduler for --engine dask (env TRACELENS_DASK_SCHEDULER; default: "
        "a local cluster, one worker per CPU up to 4). --work-dir must then be a path every "
        "worker can reach, or s3://bucket/prefix.",
    ),
]


def _engine_options(command: Any) -> Any:
    """``--work-dir``, ``--keep-work-dir``, ``--partitions``, ``--engine`` and
    ``--scheduler``, passed on as ``engine``."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        work_dir: str | None,
        keep_work_dir: bool,
        partitions: int | None,
        engine_name: str,
        scheduler: str | None,
        **kwargs: Any,
    ) -> Any:
        source = click.get_current_context().get_parameter_source("scheduler")
        if engine_name != "dask" and source is click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError("--scheduler is for --engine dask")
        engine = engine_options(
            work_dir=work_dir,
            keep_work_dir=keep_work_dir,
            partitions=partitions,
            engine=engine_name,
            scheduler=scheduler or None,
        )
        return command(*args, engine=engine, **kwargs)

    for option in reversed(_engine_option_list):
        wrapper = option(wrapper)
    return wrapper


#: The trace paths of analyze, explain and dashboard.
_paths_argument = click.argument("paths", nargs=-1, required=True, metavar="PATH...")


def _format_option(choices: list[str], help_text: str) -> Callable[[Any], Any]:
    """``--format``; without it, the format ``-o``'s extension names (``.md``, ``.json``,
    ``.html``, ``.txt``), else text."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=None,
        help=f"{help_text} Default: the format -o's extension names (.md, .json, .html, "
        ".txt), else text.",
    )


def _output_option(
    help_text: str, *, directory: bool = False, required: bool = False
) -> Callable[[Any], Any]:
    """``-o/--output``: a file to write, or (``directory``) a directory."""
    kind = (
        click.Path(file_okay=False, path_type=Path)
        if directory
        else click.Path(dir_okay=False, path_type=Path)
    )
    return click.option("-o", "--output", required=required, type=kind, help=help_text)


#: ``-q/--quiet``: no progress on stderr (there is none anyway when stderr is not a terminal).
_quiet_option = click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Show no progress on stderr (shown only at a terminal, once the work takes over a "
    "second).",
)


def _progress(quiet: bool) -> Progress:
    from tracelens.commands.progress import for_stderr

    return for_stderr(quiet=quiet)


def _functions_option(help_text: str) -> Callable[[Any], Any]:
    return click.option("--function", "functions", multiple=True, metavar="NAME", help=help_text)


def _report_inputs(functions_help: str) -> Callable[[Any], Any]:
    """The side inputs and the ``--function`` filter analyze and dashboard share."""

    def apply(command: Any) -> Any:
        return _with_side_options(_functions_option(functions_help)(command))

    return apply


#: ``--filter`` of analyze and dashboard.
_filter_option = click.option(
    "--filter",
    "trace_filter",
    metavar="EXPR",
    help="Only the traces this X-Ray filter expression matches (see 'tracelens find').",
)


@main.command()
@_paths_argument
@_format_option(
    ["text", "json", "markdown", "html"], "Report format (html: the incident dashboard)."
)
@_output_option("Write the report to FILE instead of stdout.")
@_report_inputs("Only these functions. Repeatable.")
@click.option("--since", type=Timestamp(), help="Only requests starting at or after this time.")
@click.option("--until", type=Timestamp(), help="Only requests starting before this time.")
@click.option(
    "--fail-on",
    type=click.Choice(["critical", "warning"]),
    help="Exit with 1 when a finding of this severity or worse exists.",
)
@click.option(
    "--affected",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Also write every async event, SQS message and stream batch that did not end well "
    "(the ids to replay) to FILE: CSV if it ends in .csv, JSON if .json.",
)
@_filter_option
@_quiet_option
@_engine_options
def analyze(
    paths: tuple[str, ...],
    fmt: str | None,
    output: Path | None,
    config: tuple[Path, ...],
    dlq: tuple[str, ...],
    functions: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    fail_on: str | None,
    affected: Path | None,
    trace_filter: str | None,
    quiet: bool,
    engine: EngineOptions,
) -> None:
    """Report on traces: dwell, retry chains, DLQ fates, redeliveries, findings.

    PATH is a trace file (.json, .ndjson, optionally .gz), a directory, an incident bundle
    or a glob pattern (quote it: 'traces/*.ndjson.gz').

    \b
    Example:
        tracelens analyze sample_traces/async_retry_storm
        tracelens analyze traces/ --config config.json --dlq dlq.json -o report.json
        tracelens analyze 'exports/*.json.gz' --since 2026-11-28T01:00:00Z --fail-on critical
        tracelens analyze sample_traces/async_retry_storm --affected replay.csv
        tracelens analyze traces/ --filter 'annotation.tenant = "acme" AND fault'
    """
    crossed = analyze_command.run(
        paths,
        fmt=fmt,
        output=output,
        config=config,
        dlq=dlq,
        functions=functions,
        since=since,
        until=until,
        fail_on=fail_on,
        engine=engine,
        affected=affected,
        progress=_progress(quiet),
        trace_filter=trace_filter,
    )
    if crossed:
        raise click.exceptions.Exit(EXIT_THRESHOLD)


@main.command()
@click.argument("key")
@_paths_argument
@_format_option(
    ["text", "markdown", "json"],
    "Story format: a terminal timeline, Markdown for a review, or JSON (tracelens.story/1).",
)
@_output_option("Write the story to FILE instead of stdout.")
@_with_side_options
@_engine_options
def explain(
    key: str,
    paths: tuple[str, ...],
    fmt: str | None,
    output: Path | None,
    config: tuple[Path, ...],
    dlq: tuple[str, ...],
    engine: EngineOptions,
) -> None:
    """Tell the story of one request id, SQS message id or trace id, in time order.

    KEY may be given in any case, or as a unique prefix of at least 8 characters; or as
    annotation.NAME=VALUE, the one trace with that annotation value (a business key).

    \b
    Example:
        tracelens explain b5050d2e-0666-41d5-be3e-2b1a04306e75 sample_traces/async_retry_storm
        tracelens explain b5050d2e sample_traces/async_retry_storm -o story.md
        tracelens explain annotation.order_id=o-1042 traces/
    """
    explain_command.run(key, paths, fmt=fmt, output=output, config=config, dlq=dlq, engine=engine)


@main.command()
@click.argument("expression", metavar="EXPR")
@_paths_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(find_command.FORMATS)),
    default="text",
    show_default=True,
    help="A table, JSON (tracelens.find/1) or CSV.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    metavar="N",
    help="Show only the first N matching traces by start time.",
)
@_with_side_options
@_engine_options
def find(
    expression: str,
    paths: tuple[str, ...],
    fmt: str,
    limit: int | None,
    config: tuple[Path, ...],
    dlq: tuple[str, ...],
    engine: EngineOptions,
) -> None:
    """Find the traces an X-Ray filter expression matches, with their requests, outcomes
    and fates.

    EXPR is AWS X-Ray's filter expression language (the subset the README lists):
    annotation.KEY comparisons, service("name"), id(name: "x", type: "T"), error, fault,
    throttle, ok, partial, responsetime, duration, http.status, http.url, http.method,
    rootcause.fault.exception.name, AND, OR, ! and parentheses.

    \b
    Example:
        tracelens find 'annotation.order_id = "o-1042"' traces/
        tracelens find 'service("orders-worker") { fault } AND duration > 2' traces/ --limit 20
        tracelens find 'annotation.tenant BEGINSWITH "acme"' traces/ --format csv > hits.csv
    """
    find_command.run(expression, paths, fmt=fmt, limit=limit, config=config, dlq=dlq, engine=engine)


@main.command()
@_paths_argument
@_output_option(
    "The HTML file to write (one self-contained file, no network needed to view it).",
    required=True,
)
@click.option(
    "--dashboard",
    "dashboard_name",
    default="incident",
    show_default=True,
    metavar="NAME|FILE",
    help="A built-in dashboard (incident, async, queues, streams) or a TOML spec file.",
)
@_report_inputs("Only these functions, in every panel. Repeatable.")
@_filter_option
@_quiet_option
@_engine_options
def dashboard(
    paths: tuple[str, ...],
    output: Path,
    dashboard_name: str,
    config: tuple[Path, ...],
    dlq: tuple[str, ...],
    functions: tuple[str, ...],
    trace_filter: str | None,
    quiet: bool,
    engine: EngineOptions,
) -> None:
    """Write an offline HTML dashboard of the traces: one file to open, attach or keep.

    \b
    Example:
        tracelens dashboard sample_traces/async_retry_storm -o incident.html
        tracelens dashboard traces/ --dashboard queues --function orders-consumer -o q.html
    """
    dashboard_command.run(
        paths,
        output=output,
        dashboard_name=dashboard_name,
        config=config,
        dlq=dlq,
        functions=functions,
        engine=engine,
        progress=_progress(quiet),
        trace_filter=trace_filter,
    )


@main.command()
@_paths_argument
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="DIR",
    help="The dataset directory or s3://bucket/prefix to write (new or empty, or a dataset "
    "with --overwrite).",
)
@click.option("--overwrite", is_flag=True, help="Replace the dataset already in DIR.")
@_quiet_option
@_engine_options
def convert(
    paths: tuple[str, ...], output: str, overwrite: bool, quiet: bool, engine: EngineOptions
) -> None:
    """Write traces as a Parquet dataset that analyze, explain and dashboard read directly.

    The dataset holds the normalised traces partitioned by trace id, the bundle's side
    inputs (config.json, dlq/) and a manifest of what was read (documents, rejections, input
    files), so later looks at an incident skip JSON parsing.

    \b
    Example:
        tracelens convert traces/ -o incident.parquet
        tracelens analyze incident.parquet --format json
    """
    convert_command.run(
        paths, output=output, overwrite=overwrite, engine=engine, progress=_progress(quiet)
    )


def _host_port(value: str, option: str) -> tuple[str, int]:
    try:
        return parse_host_port(value)
    except SourceUnavailable as exc:
        raise click.BadParameter(str(exc), param_hint=option) from exc


@main.command()
@click.argument("scenario", required=False, metavar="SCENARIO")
@click.option("--list", "list_only", is_flag=True, help="List the built-in scenarios and exit.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@click.option(
    "--udp",
    metavar="HOST:PORT",
    help="Also send every document as an X-Ray daemon datagram to HOST:PORT.",
)
@_output_option(
    "The bundle directory to write (traces.ndjson and/or spans.ndjson, config.json, dlq/, "
    "truth.json).",
    directory=True,
)
@click.option(
    "--format",
    "trace_format",
    type=click.Choice(emulate_command.TRACE_FORMATS),
    default="xray",
    show_default=True,
    help="The traces' form: X-Ray documents (traces.ndjson), the aws/spans events "
    "CloudWatch Transaction Search stores for the same run (spans.ndjson), or both.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Write into a non-empty directory that is not an emulator bundle (its traces.ndjson, "
    "spans.ndjson, config.json, truth.json and dlq/*.json are replaced; other files are kept).",
)
@_quiet_option
def emulate(
    scenario: str | None,
    list_only: bool,
    seed: int,
    udp: str | None,
    output: Path | None,
    trace_format: TraceFormat,
    force: bool,
    quiet: bool,
) -> None:
    """Emulate Lambda's invoke paths for a scenario and write the traces AWS would.

    SCENARIO is a built-in name (see --list) or a TOML scenario file. The same scenario and
    seed always give a byte-identical bundle. Into a bundle it wrote before, it removes the
    old files first; a non-empty directory that is not one is refused without --force.
    --format spans writes the run as Transaction Search's aws/spans events instead of X-Ray
    documents; analyze reads either.

    \b
    Example:
        tracelens emulate --list
        tracelens emulate async_retry_storm --seed 7 -o bundle/
        tracelens emulate async_retry_storm --seed 7 --format spans -o spans-bundle/
        tracelens analyze bundle/
    """
    if list_only:
        emulate_command.list_scenarios()
        return
    if scenario is None or output is None:
        raise click.UsageError("give a SCENARIO and -o DIR (or --list)")
    target = _host_port(udp, "--udp") if udp else None
    # One stage: the emulator runs and writes the bundle in one call.
    with _progress(quiet) as progress, progress.stage("emulating") as stage:
        emulate_command.run(
            scenario,
            seed=seed,
            udp=target,
            output=output,
            force=force,
            trace_format=trace_format,
        )
        stage.done(f"emulated {scenario}")


@main.command()
@click.option("--last", metavar="DURATION", help="The window ending now: 30m, 1h, 6h, 2d.")
@click.option("--since", type=Timestamp(), help="Window start (ISO-8601; naive = UTC).")
@click.option("--until", type=Timestamp(), help="Window end (default: now).")
@click.option("--filter", "filter_expression", metavar="EXPR", help="X-Ray filter expression.")
@_functions_option("Only traces through this Lambda function. Repeatable.")
@click.option("--region", help="AWS region (default: boto3's configuration).")
@click.option("--profile", help="Named AWS profile (default: boto3's credential chain).")
@click.option("--endpoint-url", metavar="URL", help="Another X-Ray endpoint (e.g. a local mock).")
@click.option("--with-config", is_flag=True, help=WITH_CONFIG_HELP)
@click.option("--with-dlq", is_flag=True, help=WITH_DLQ_HELP)
@click.option(
    "--source",
    type=click.Choice(["traces", "spans"]),
    default="traces",
    show_default=True,
    help="With Transaction Search on: 'traces' retrieves whole X-Ray traces into "
    "traces.ndjson; 'spans' writes the aws/spans events themselves into spans.ndjson.",
)
@_output_option(
    "Bundle directory; traces.ndjson is appended to, so running again resumes.",
    directory=True,
    required=True,
)
def fetch(
    last: str | None,
    since: datetime | None,
    until: datetime | None,
    filter_expression: str | None,
    functions: tuple[str, ...],
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    with_config: bool,
    with_dlq: bool,
    source: str,
    output: Path,
) -> None:
    """Fetch traces from the X-Ray API into an incident bundle, before retention ends.

    Pages through GetTraceSummaries over the window, then BatchGetTraces five ids at a time,
    retrying throttles with backoff; partial traces are fetched again at the end. With
    CloudWatch Transaction Search on (GetTraceSegmentDestination: CloudWatchLogs, ACTIVE)
    BatchGetTraces cannot see the traces, so it says so and finds the ids with Logs Insights
    over aws/spans and the traces with StartTraceRetrieval instead; source.json records how.
    Progress goes to stderr. Credentials come from boto3's standard chain; nothing secret is
    printed.

    \b
    Example:
        tracelens fetch --last 1h --function orders-worker --with-config -o incident/
        tracelens fetch --since 2026-11-28T01:00:00Z --until 2026-11-28T02:00:00Z -o incident/
        tracelens fetch --last 1h --source spans -o incident/
        tracelens analyze incident/
    """
    if (last is None) == (since is None):
        raise click.UsageError("give exactly one of --last and --since")
    from tracelens.commands.fetch import run_fetch

    run_fetch(
        out_dir=output,
        last=last,
        since=since,
        until=until,
        filter_expression=filter_expression,
        functions=functions,
        region=region,
        profile=profile,
        endpoint_url=endpoint_url,
        with_config=with_config,
        with_dlq=with_dlq,
        spans=source == "spans",
    )


@main.command()
@click.option(
    "--bind",
    default="127.0.0.1:2000",
    show_default=True,
    metavar="HOST:PORT",
    help="Where to listen; an address beyond loopback must be given explicitly.",
)
@_output_option(
    "NDJSON file that every valid segment document is appended to; OTLP spans go to "
    "otlp.ndjson in the same directory.",
    required=True,
)
@click.option("--forward", metavar="HOST:PORT", help="Also forward every datagram, unchanged.")
@click.option(
    "--otlp-http",
    metavar="HOST:PORT",
    help="Also receive OTLP/HTTP trace exports (POST /v1/traces, protobuf or JSON, gzip) "
    "there, e.g. 127.0.0.1:4318.",
)
@click.option(
    "--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after S seconds."
)
@click.option("--max-segments", type=click.IntRange(min=1), help="Stop after N documents.")
@click.option(
    "--tail",
    is_flag=True,
    help="Print a line per Lambda request on stdout as it finishes: time, function, path, "
    "duration, outcome, cold (from X-Ray documents; OTLP spans are written, not tailed).",
)
def listen(
    bind: str,
    output: Path,
    forward: str | None,
    otlp_http: str | None,
    duration: float | None,
    max_segments: int | None,
    tail: bool,
) -> None:
    """Act as a local X-Ray daemon: receive segment datagrams over UDP and write them to a file.

    Point an X-Ray SDK at it (AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:2000). The same port takes
    the ADOT Lambda layer's OTLP span datagrams (T1S sampled, T1U unsampled); with
    --otlp-http an OpenTelemetry SDK's OTLP/HTTP exporter can send to it too. OTLP spans are
    written as OTLP/JSON, one request a line, to otlp.ndjson next to the -o file. Stops on
    Ctrl-C or SIGTERM (or --duration / --max-segments, which counts segment documents),
    flushes, and prints received / malformed / written / dropped counts on stderr, and the
    OTLP requests / spans / malformed / ignored counts with --otlp-http or when any arrived.
    With --tail it also prints one line per Lambda request on stdout as it finishes, like
    `sam traces --tail`; the file still gets every document.

    \b
    Example:
        tracelens listen -o traces.ndjson --duration 60
        tracelens listen -o traces.ndjson --tail
        AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:2000 python my_app.py
        tracelens listen -o bundle/traces.ndjson --otlp-http 127.0.0.1:4318
        OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python my_otel_app.py
        tracelens analyze bundle/
    """
    from tracelens.commands.listen import run_listen

    run_listen(
        out=output,
        bind=bind,
        forward=forward,
        duration=duration,
        max_segments=max_segments,
        tail=tail,
        otlp_http=otlp_http,
    )
