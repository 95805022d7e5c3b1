"""Resume a fetch: cut a torn last line off ``traces.ndjson`` and list the ids already in it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import msgspec

from tracelens.errors import SourceUnavailable

if TYPE_CHECKING:
    from pathlib import Path

logger = logging.getLogger(__name__)


class _IdOnly(msgspec.Struct):
    Id: str


def prepare_resume(path: Path) -> tuple[set[str], int]:
    """Truncate a torn last line of ``path`` and return the trace ids already in it.

    Args:
        path: The bundle's ``traces.ndjson`` (it may not exist yet).

    Returns:
        The ids already written, and how many bytes of a torn last line were cut off.

    Raises:
        SourceUnavailable: The file cannot be read or truncated.
    """
    if not path.exists():
        return set(), 0
    try:
        truncated = truncate_torn_tail(path)
        done: set[str] = set()
        decoder = msgspec.json.Decoder(_IdOnly)
        with path.open("rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    done.add(decoder.decode(line).Id)
                except msgspec.DecodeError:
                    logger.warning(
                        "%s:%d: not a trace line; its trace will be fetched again", path, lineno
                    )
    except OSError as exc:
        raise SourceUnavailable(f"{path}: cannot resume from it: {exc.strerror}") from exc
    return done, truncated


def truncate_torn_tail(path: Path) -> int:
    """Cut everything after the last newline of ``path`` (an interrupted write).

    Args:
        path: An existing file.

    Returns:
        Bytes cut off.

    Raises:
        OSError: The file cannot be read or truncated.
    """
    with path.open("rb+") as fh:
        size = fh.seek(0, 2)
        pos = size
        chunk = 65536
        while pos > 0:
            start = max(0, pos - chunk)
            fh.seek(start)
            data = fh.read(pos - start)
            idx = data.rfind(b"\n")
            if idx >= 0:
                keep = start + idx + 1
                break
            pos = start
        else:
            keep = 0
        if keep < size:
            fh.truncate(keep)
        return size - keep


__all__ = ["prepare_resume", "truncate_torn_tail"]
