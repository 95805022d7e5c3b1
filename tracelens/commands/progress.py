"""Progress on stderr while a command works: its stage (reading, analysing, writing), how
long it has taken, and what was read (bytes and documents) once reading is done.

Shown only when stderr is a terminal, only once the work has taken more than a second, and
never with ``--quiet``: a pipe or a log file gets nothing. The reader processes are not
asked for live counts (that would slow them down); each stage says what it did when it ends.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rich.text import Text

from tracelens.report._format import duration, plural

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from rich.console import Console
    from rich.live import Live

    from tracelens.model.frames import IngestStats

#: How long the work runs before progress is shown, in seconds.
DELAY = 1.0


class Progress:
    """The stages of one command, drawn on one live line of ``console`` (stderr).

    ``Progress(None)`` does nothing: the CLI builds it with ``for_stderr``; a test passes
    ``Console(file=io.StringIO(), force_terminal=True)`` and ``delay=0`` to see it.

    Example:
        >>> progress = Progress(None)
        >>> with progress.stage("reading"):
        ...     pass
        >>> progress.close()
    """

    def __init__(self, console: Console | None, *, delay: float = DELAY) -> None:
        self._console = console
        self._delay = delay
        self._done: list[str] = []  # what each finished stage did
        self._stage = ""
        self._since = time.monotonic()
        self._live: Live | None = None
        self._stderr: TextIO = sys.stderr
        self._timer: threading.Timer | None = None
        self._closed = False
        # Re-entrant: starting the live line draws it, which reads the stages under the lock.
        self._lock = threading.RLock()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def enabled(self) -> bool:
        """Whether anything may be shown."""
        return self._console is not None

    @contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        """Run a stage (``reading``): shown with its elapsed time while the block runs, then
        as what it did (``Stage.done``) with how long it took."""
        stage = Stage(name)
        with self._lock:
            self._stage = name
            self._since = time.monotonic()
        self._start()
        try:
            yield stage
        except BaseException:
            stage.summary = f"{name} stopped"
            raise
        finally:
            took = duration((time.monotonic() - self._since) * 1000)
            with self._lock:
                self._done.append(f"{stage.summary} ({took})")
                self._stage = ""
            self._refresh()

    def close(self) -> None:
        """Stop; when progress was shown, its last line stays, saying what each stage did."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            live, self._live = self._live, None
        if live is not None:
            if isinstance(sys.stderr, _Above):
                sys.stderr.flush()
                sys.stderr = self._stderr
            live.update(self.line(), refresh=True)
            live.stop()

    def _start(self) -> None:
        if self._console is None or self._live is not None or self._timer is not None:
            return
        if self._delay <= 0:
            self._show()
            return
        self._timer = threading.Timer(self._delay, self._show)
        self._timer.daemon = True
        self._timer.start()

    def _show(self) -> None:
        from rich.live import Live

        with self._lock:
            if self._closed or self._console is None or self._live is not None:
                return
            self._live = Live(
                _Line(self),
                console=self._console,
                refresh_per_second=4,
                transient=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
            # Lines a command writes to stderr meanwhile ("wrote bundle/") are printed above
            # the live line instead of through it.
            self._stderr, sys.stderr = sys.stderr, _Above(self._console)

    def _refresh(self) -> None:
        live = self._live
        if live is not None:
            live.refresh()

    def line(self) -> Text:
        """``read 1.2 MB, 538 documents (3.1 s) · analysing 1.4 s``."""
        with self._lock:
            parts = list(self._done)
            if self._stage:
                elapsed = duration((time.monotonic() - self._since) * 1000)
                parts.append(f"{self._stage}… {elapsed}")
        return Text(" · ".join(parts), style="dim")


class _Above(io.TextIOBase):
    """stderr while the live line is shown: each line written is printed above it.

    Not rich's ``FileProxy``: that one hands out the real stream's ``buffer``, which click
    writes to directly, through the live line.
    """

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, console: Console) -> None:
        self._console = console
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._console.print(Text(line), soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._console.print(Text(self._pending), soft_wrap=True)
            self._pending = ""


class _Line:
    """The live line, drawn afresh at each refresh (so the elapsed time moves)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    def __rich__(self) -> Text:
        return self._progress.line()


class Stage:
    """One stage of the work; ``done`` says what it did (``read 1.2 MB, 538 documents``)."""

    def __init__(self, name: str) -> None:
        self.summary = name

    def done(self, summary: str) -> None:
        """What the stage did, shown once it ends."""
        self.summary = summary


def for_stderr(*, quiet: bool) -> Progress:
    """Progress on stderr, or nothing when ``quiet`` or stderr is not a terminal.

    Only a real terminal counts (``isatty``), whatever ``FORCE_COLOR`` says, so a pipe or a
    log file never gets a progress line.
    """
    if quiet or not is_terminal(sys.stderr):
        return Progress(None)
    from rich.console import Console

    # The stream itself, not stderr=True: while the line is shown, sys.stderr is _Above.
    return Progress(Console(file=sys.stderr, highlight=False))


def is_terminal(stream: object) -> bool:
    """Whether ``stream`` is a real terminal."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (ValueError, OSError):
        return False


def read_summary(stats: IngestStats, paths: Sequence[str | Path]) -> str:
    """What reading did: ``read 35.2 MB in 1 file, 538 documents``.

    The bytes are those of the trace files, or of the dataset when ``paths`` is one (its
    ``files`` are the inputs it was converted from); left out for inputs on S3, and when a
    file is gone.
    """
    size = _bytes_read(stats, paths)
    amount = f"{_megabytes(size)} in " if size is not None else ""
    return f"read {amount}{plural(len(stats.files), 'file')}, {plural(stats.documents, 'document')}"


def _bytes_read(stats: IngestStats, paths: Sequence[str | Path]) -> int | None:
    from tracelens.engine.dataset import is_dataset
    from tracelens.ingest.s3 import is_s3

    if any(is_s3(path) for path in paths):
        return None
    datasets = [Path(path) for path in paths if is_dataset(Path(path))]
    if datasets:
        return sum(f.stat().st_size for d in datasets for f in d.rglob("*") if f.is_file())
    total = 0
    for name in stats.files:
        try:
            total += os.stat(name).st_size
        except (OSError, ValueError):
            return None
    return total


def _megabytes(size: int) -> str:
    if size < 1_000_000:
        return f"{size / 1000:.1f} kB"
    if size < 1_000_000_000:
        return f"{size / 1e6:.1f} MB"
    return f"{size / 1e9:.2f} GB"
