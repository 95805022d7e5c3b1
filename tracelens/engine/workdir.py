"""The work directory: where the first stage spills partitioned rows.

It is created inside ``--work-dir`` (default: the system's temporary directory) and removed
when the command ends, on success, on error and on Ctrl-C, unless it is to be kept. A work
directory that cannot be written, or a disk that fills up, is a clear error naming the path.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tracelens.errors import TracelensError

if TYPE_CHECKING:
    from collections.abc import Iterator

#: OSError numbers that mean the work directory, not an input, is the problem.
_STORAGE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


class WorkDirError(TracelensError):
    """The work directory cannot be created or written (full disk, no permission)."""


@contextmanager
def work_directory(base: str | Path | None, *, keep: bool = False) -> Iterator[Path]:
    """A new directory inside ``base`` (default: the temporary directory) for one run.

    Raises:
        WorkDirError: ``base`` cannot be created or written, or writing there failed
            because the disk is full or read-only.
    """
    parent = Path(base) if base is not None else Path(tempfile.gettempdir())
    try:
        parent.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix="tracelens-work-", dir=parent))
    except OSError as exc:
        raise WorkDirError(
            f"work directory {parent}: cannot write there ({exc.strerror or exc}); "
            "give --work-dir a writable directory"
        ) from exc
    try:
        yield path
    except OSError as exc:
        if exc.errno in _STORAGE_ERRORS:
            raise WorkDirError(
                f"work directory {path}: {exc.strerror or exc}; free space there or give "
                "--work-dir another directory"
            ) from exc
        raise
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)
