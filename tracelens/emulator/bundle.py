"""Writing an emulation result as an incident bundle (traces, config, DLQ dumps, truth)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal, get_args

from tracelens.emulator import spans
from tracelens.errors import EmulatorError
from tracelens.model import bundle

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from tracelens.emulator.result import EmulationResult

#: Which form of the traces a bundle gets: X-Ray documents (``traces.ndjson``), the
#: ``aws/spans`` events Transaction Search would store (``spans.ndjson``), or both.
TraceFormat = Literal["xray", "spans", "both"]
TRACE_FORMATS: tuple[TraceFormat, ...] = get_args(TraceFormat)

#: The top-level entries of a bundle the emulator wrote.
_WRITTEN = frozenset(
    {
        bundle.TRACES_FILE,
        bundle.SPANS_FILE,
        bundle.CONFIG_FILE,
        bundle.TRUTH_FILE,
        bundle.DLQ_DIR,
    }
)


def _dump(obj: object) -> str:
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def is_emulator_bundle(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds a bundle the emulator wrote and nothing else.

    That is: a ``truth.json`` (only the emulator writes one), every other entry one the
    emulator writes, and ``dlq/`` (if any) holding only ``*.json`` dumps. A bundle from
    ``fetch`` or ``listen`` has no truth: it holds real traces and is never one.
    """
    try:
        entries = {p.name: p for p in out_dir.iterdir()}
        if not bundle.truth_path(out_dir).is_file() or not set(entries) <= _WRITTEN:
            return False
        dlq = entries.get(bundle.DLQ_DIR)
        return dlq is None or (
            dlq.is_dir() and all(p.suffix == ".json" and p.is_file() for p in dlq.iterdir())
        )
    except OSError:
        return False


def check_output(out_dir: Path, *, force: bool = False) -> None:
    """Refuse a bundle directory that ``write_bundle`` must not write into.

    Missing, empty and emulator-written directories are fine; a file is refused, and so is
    any other non-empty directory unless ``force`` (then the emulator's files are replaced
    and the rest is left alone).

    Raises:
        EmulatorError: ``out_dir`` is a file, or a non-empty directory that is not a bundle
            the emulator wrote and ``force`` is false.
    """
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise EmulatorError(f"{out_dir}: not a directory (give -o a bundle directory)")
    try:
        empty = next(out_dir.iterdir(), None) is None
    except OSError as exc:
        raise EmulatorError(f"{out_dir}: cannot read the directory: {exc.strerror}") from exc
    if empty or force or is_emulator_bundle(out_dir):
        return
    raise EmulatorError(
        f"{out_dir}: not empty and not a bundle the emulator wrote (no truth.json, or other "
        "files); choose another directory or pass --force to write the bundle's files into it"
    )


def _remove_previous(out_dir: Path) -> None:
    """Remove the files an earlier run wrote: traces, spans, config, truth and every DLQ dump."""
    for path in (
        bundle.traces_path(out_dir),
        bundle.spans_path(out_dir),
        bundle.config_path(out_dir),
        bundle.truth_path(out_dir),
    ):
        path.unlink(missing_ok=True)
    dlq_dir = bundle.dlq_dir(out_dir)
    if dlq_dir.is_dir():
        for old in dlq_dir.glob("*.json"):
            old.unlink()
        if next(dlq_dir.iterdir(), None) is None:
            dlq_dir.rmdir()


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(line)
            fh.write("\n")


def write_bundle(
    result: EmulationResult,
    out_dir: Path,
    *,
    force: bool = False,
    trace_format: TraceFormat = "xray",
) -> None:
    """Write ``traces.ndjson`` and/or ``spans.ndjson``, ``config.json``, ``dlq/*.json`` and
    ``truth.json``.

    The files an earlier emulator run wrote there are removed first (a DLQ dump of another
    scenario must not be read as this one's), so a rerun gives the same bytes as a fresh
    directory.

    Args:
        result: the emulation result.
        out_dir: the bundle directory (created if missing).
        force: write into a non-empty directory that is not an emulator bundle (see
            ``check_output``); its other files are kept.
        trace_format: ``xray`` writes the X-Ray documents (``traces.ndjson``), ``spans`` the
            same run as ``aws/spans`` log events instead (``spans.ndjson``, see
            ``tracelens.emulator.spans``), ``both`` both files. The rest is the same.

    Raises:
        EmulatorError: the directory cannot be written, ``check_output`` refuses it, or the
            format is unknown.
    """
    if trace_format not in TRACE_FORMATS:
        raise EmulatorError(
            f"{trace_format!r}: no such trace format; choose one of {', '.join(TRACE_FORMATS)}"
        )
    check_output(out_dir, force=force)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _remove_previous(out_dir)
        if trace_format in ("xray", "both"):
            _write_lines(bundle.traces_path(out_dir), result.trace_lines())
        if trace_format in ("spans", "both"):
            _write_lines(bundle.spans_path(out_dir), spans.span_lines(result.trace_lines()))
        bundle.config_path(out_dir).write_text(_dump(result.config), encoding="utf-8")
        if result.dlq:
            bundle.dlq_dir(out_dir).mkdir(exist_ok=True)
        for name, dump in sorted(result.dlq.items()):
            bundle.dlq_dump_path(out_dir, name).write_text(_dump(dump), encoding="utf-8")
        bundle.truth_path(out_dir).write_text(_dump(result.truth), encoding="utf-8")
    except OSError as exc:
        raise EmulatorError(f"{out_dir}: cannot write bundle: {exc.strerror}") from exc
