"""What a finding rule is: a code, a severity, a plan of the rows it fires on and a message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from tracelens.analysis import columns as c
from tracelens.model.vocab import Severity

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracelens.analysis.sync import SyncFrames
    from tracelens.model.frames import IngestStats
    from tracelens.model.side import SideInputs

MAX_EXAMPLES = 5
#: ``{one|many}`` in a message template: the word for a count of 1, and for any other.
_CHOICE = re.compile(r"\{([^{}|]*)\|([^{}|]*)\}")

#: One row of a rule's plan: ``function``, ``count``, ``examples`` and the rule's own columns.
Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One finding (the report's ``findings[]`` entry)."""

    severity: Severity
    code: str
    function: str | None
    count: int
    message: str
    examples: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FindingInputs:
    """Everything a rule may read: the analysis frames, the side inputs and the ingest counts.

    ``partial_notes`` maps a function whose failure target has only a partial dump to
    "N of M messages" of that dump.
    """

    events: pl.LazyFrame
    messages: pl.LazyFrame
    batches: pl.LazyFrame
    invocations: pl.LazyFrame
    side: SideInputs
    stats: IngestStats
    sync: SyncFrames | None
    partial_notes: dict[str, str]


@dataclass(frozen=True, slots=True)
class Rule:
    """One finding: its code, its severity, the rows it fires on and its sentence.

    ``plan`` returns one row per finding (grouped by function, and by caller where the rule
    says), each with ``function``, ``count`` and ``examples``; a row with count 0 is no
    finding. It returns None when its inputs are absent (e.g. no sync frames).
    """

    code: str
    severity: Severity | Callable[[FindingInputs, Row], Severity]
    plan: Callable[[FindingInputs], pl.LazyFrame | None]
    message: Callable[[FindingInputs, Row], str]

    def severity_of(self, inputs: FindingInputs, row: Row) -> Severity:
        """The finding's severity for this row."""
        if isinstance(self.severity, Severity):
            return self.severity
        return self.severity(inputs, row)


def grouped(frame: pl.LazyFrame, ids: pl.Expr, *extra: pl.Expr) -> pl.LazyFrame:
    """Rows of ``frame`` by function: count, the first example ids, and ``extra`` aggregates."""
    return frame.group_by(c.FUNCTION).agg(
        pl.len().cast(pl.Int64).alias("count"),
        ids.sort().head(MAX_EXAMPLES).alias("examples"),
        *extra,
    )


def count_of(column: str, value: str) -> pl.Expr:
    """How many rows have ``column == value``, named ``{column}_{value}``."""
    return (pl.col(column) == value).sum().cast(pl.Int64).alias(f"{column}_{value}")


def no_config(fn: str, what: str) -> str:
    """The advice tail when the config says nothing about ``fn``."""
    return f"no {what} for {fn} in the config: supply --config for specific advice"


def agree(template: str, count: int) -> str:
    """``template`` with each ``{one|many}`` choice made for ``count``: ``{count} async
    {event|events} {was|were} lost`` says "1 async event was lost", "2 async events were"."""
    return _CHOICE.sub(lambda m: m.group(1) if count == 1 else m.group(2), template)


def sentence(template: str) -> Callable[[FindingInputs, Row], str]:
    """A message: ``template`` filled with the row's columns (``{count}``, ``{function}``,
    ...), its ``{one|many}`` choices made for ``{count}``."""

    def message(_: FindingInputs, row: Row) -> str:
        return agree(template, row["count"]).format_map(row)

    return message


def advised(
    subject: str, advice: Callable[[SideInputs, str, Row], str]
) -> Callable[[FindingInputs, Row], str]:
    """A message "{count} {subject}; {advice}." (``{fn}`` in ``subject``: the function; its
    ``{one|many}`` choices made for the count)."""

    def message(inputs: FindingInputs, row: Row) -> str:
        fn = row[c.FUNCTION]
        said = agree(subject, row["count"]).format(fn=fn)
        return f"{row['count']} {said}; {advice(inputs.side, fn, row)}."

    return message


def single_row(count: int, examples: list[str]) -> pl.LazyFrame:
    """A plan of one finding that belongs to no function."""
    return pl.LazyFrame(
        {c.FUNCTION: [None], "count": [count], "examples": [examples]},
        schema={c.FUNCTION: pl.String, "count": pl.Int64, "examples": pl.List(pl.String)},
    )
