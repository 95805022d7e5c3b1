"""Facts of a partition as files: how a process that analysed a partition hands them over."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import msgspec
import polars as pl

from tracelens.analysis.facts import Facts

if TYPE_CHECKING:
    from pathlib import Path

_FRAMES = (
    "services",
    "attempts",
    "invocations",
    "entities",
    "links",
    "not_reached",
    "inferred",
    "callers",
)


class _Meta(msgspec.Struct, frozen=True):
    traces: int
    start: datetime | None
    end: datetime | None
    duplicates: int


def write_facts(facts: Facts, duplicates: int, out: Path) -> None:
    """Write ``facts`` (and the partition's duplicate count) into the directory ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name in _FRAMES:
        frame: pl.DataFrame = getattr(facts, name)
        frame.write_ipc(out / f"{name}.arrow")
    meta = _Meta(traces=facts.traces, start=facts.start, end=facts.end, duplicates=duplicates)
    (out / "meta.json").write_bytes(msgspec.json.encode(meta))


def read_facts(out: Path) -> tuple[Facts, int]:
    """The facts and duplicate count ``write_facts`` wrote into ``out``."""
    meta = msgspec.json.decode((out / "meta.json").read_bytes(), type=_Meta)
    frames = {name: pl.read_ipc(out / f"{name}.arrow") for name in _FRAMES}
    facts = Facts(**frames, traces=meta.traces, start=meta.start, end=meta.end)
    return facts, meta.duplicates
