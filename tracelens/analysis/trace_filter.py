"""Evaluate a parsed filter expression (``filter_expr``) over the traces of one partition.

Each trace is one X-Ray trace id. Simple keywords describe the trace's root segment (the
top-level segment without a parent; the earliest if there are several), as in X-Ray:
``ok``/``error``/``fault``/``throttle`` its flags (``ok``: complete, none of them set, and
the HTTP status, if any, 2xx), ``responsetime`` its end - start in seconds, ``http.*`` its
HTTP request and response. ``duration`` is the last end - the first start over every entity
of the trace (unknown while any is in progress), ``partial`` whether any entity is in
progress. ``annotation.KEY`` matches when some entity of the trace has that annotation with a
value of the compared type that satisfies the comparison. ``service(...)`` matches when some
segment (including the segments X-Ray infers for downstream calls) has that name and origin
and satisfies the ``{ }`` part. ``rootcause.F.exception.name|message`` compares the
exceptions recorded on entities whose flag F is set (``Type: message`` split at the first
``": "``).

A comparison with an unknown value (no root segment, no HTTP status yet, a missing
annotation, the duration of a trace in progress) does not match, and ``!`` matches exactly
the traces its operand does not (so ``!ok`` includes traces still in progress). Everything
is polars over one partition's frames, so memory holds one partition.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import msgspec
import polars as pl

from tracelens.analysis.filter_expr import (
    And,
    Annotation,
    Compare,
    Expr,
    Keyword,
    Not,
    Or,
    RootCause,
    Service,
    Value,
)
from tracelens.model import schema as col
from tracelens.model.frames import TraceFrames

_KEY = "key"
_TEXT = "text"
_NUMBER = "number"
_FLAG = "flag"
_RESPONSE = "responsetime"
_MATCH = "_match"
_EXC_NAME = "exception_name"
_EXC_MESSAGE = "exception_message"

ANNOTATIONS_SCHEMA = pl.Schema(
    {
        col.TRACE_ID: pl.String(),
        _KEY: pl.String(),
        _TEXT: pl.String(),
        _NUMBER: pl.Float64(),
        _FLAG: pl.Boolean(),
    }
)
_NOTES = msgspec.json.Decoder(list[dict[str, object]])


def annotations_long(entities: pl.DataFrame) -> pl.DataFrame:
    """One row per annotation of every entity: trace id, key, and the value in the column of
    its type (text, number or flag), in row order."""
    noted = entities.filter(pl.col(col.ANNOTATIONS).is_not_null()).select(
        pl.col(col.TRACE_ID).cast(pl.String), col.ANNOTATIONS
    )
    traces: list[str] = []
    keys: list[str] = []
    texts: list[str | None] = []
    numbers: list[float | None] = []
    flags: list[bool | None] = []
    for trace_id, encoded in noted.iter_rows():
        for key, value in (pair for note in _NOTES.decode(encoded) for pair in note.items()):
            if not isinstance(value, str | bool | int | float):
                continue  # an object or list: not an annotation X-Ray indexes
            traces.append(trace_id)
            keys.append(key)
            texts.append(value if isinstance(value, str) else None)
            flags.append(value if isinstance(value, bool) else None)
            numbers.append(
                float(value)
                if isinstance(value, int | float) and not isinstance(value, bool)
                else None
            )
    return pl.DataFrame(
        {col.TRACE_ID: traces, _KEY: keys, _TEXT: texts, _NUMBER: numbers, _FLAG: flags},
        schema=ANNOTATIONS_SCHEMA,
    )


@dataclass(frozen=True)
class _Facts:
    """The frames an expression is evaluated on, derived once per partition."""

    entities: pl.DataFrame

    @cached_property
    def traces(self) -> pl.DataFrame:
        """Every trace id (sorted) with its duration in seconds and whether it is partial."""
        ends = self.entities.select(
            pl.col(col.TRACE_ID).cast(pl.String),
            col.START,
            pl.coalesce(col.END, col.START).alias(col.END),
            col.IN_PROGRESS,
        )
        return (
            ends.group_by(col.TRACE_ID)
            .agg(
                partial=pl.col(col.IN_PROGRESS).any(),
                duration=(pl.col(col.END).max() - pl.col(col.START).min()).dt.total_microseconds()
                / 1e6,
            )
            .with_columns(
                duration=pl.when(pl.col("partial")).then(None).otherwise(pl.col("duration"))
            )
            .sort(col.TRACE_ID)
        )

    @cached_property
    def segments(self) -> pl.DataFrame:
        """Top-level segments (not independently sent subsegments), one row each."""
        return self.entities.filter(
            pl.col(col.TOP) & (pl.col(col.KIND) != col.KIND_SUBSEGMENT)
        ).select(
            pl.col(col.TRACE_ID).cast(pl.String),
            pl.col(col.ID),
            pl.col(col.PARENT_ID),
            pl.col(col.NAME).cast(pl.String),
            pl.col(col.ORIGIN).cast(pl.String),
            pl.col(col.START),
            pl.col(col.IN_PROGRESS),
            pl.col(col.ERROR),
            pl.col(col.FAULT),
            pl.col(col.THROTTLE),
            pl.col(col.HTTP_STATUS),
            pl.col(col.HTTP_URL),
            pl.col(col.HTTP_METHOD).cast(pl.String),
            ((pl.col(col.END) - pl.col(col.START)).dt.total_microseconds() / 1e6).alias(_RESPONSE),
        )

    @cached_property
    def roots(self) -> pl.DataFrame:
        """Each trace's root segment: no parent, the earliest (then lowest id) if several."""
        return (
            self.segments.filter(pl.col(col.PARENT_ID).is_null())
            .sort([col.TRACE_ID, col.START, col.ID], nulls_last=True)
            .unique(col.TRACE_ID, keep="first", maintain_order=True)
        )

    @cached_property
    def annotations(self) -> pl.DataFrame:
        return annotations_long(self.entities)

    @cached_property
    def causes(self) -> pl.DataFrame:
        """Exceptions recorded on entities: the flags and the exception's name and message."""
        cause = pl.col(col.CAUSE).cast(pl.String)
        split = cause.str.splitn(": ", 2)
        has_both = cause.str.contains(": ", literal=True)
        return self.entities.filter(pl.col(col.CAUSE).is_not_null()).select(
            pl.col(col.TRACE_ID).cast(pl.String),
            col.ERROR,
            col.FAULT,
            col.THROTTLE,
            pl.when(has_both).then(split.struct.field("field_0")).otherwise(cause).alias(_EXC_NAME),
            pl.when(has_both)
            .then(split.struct.field("field_1"))
            .otherwise(cause)
            .alias(_EXC_MESSAGE),
        )


def matching_trace_ids(frames: TraceFrames | pl.DataFrame, expr: Expr) -> list[str]:
    """The ids of the traces in ``frames`` (one partition) that ``expr`` matches, sorted."""
    entities = frames.entities if isinstance(frames, TraceFrames) else frames
    facts = _Facts(entities)
    mask = _trace_mask(expr, facts)
    return facts.traces.get_column(col.TRACE_ID).filter(mask).to_list()


def match_and_keys(entities: pl.DataFrame, expr: Expr) -> tuple[list[str], set[str]]:
    """The matching trace ids (sorted), and every annotation key of the partition (the
    annotations are decoded once for both)."""
    facts = _Facts(entities)
    ids = facts.traces.get_column(col.TRACE_ID).filter(_trace_mask(expr, facts)).to_list()
    return ids, set(facts.annotations.get_column(_KEY).unique().to_list())


def _trace_mask(expr: Expr, facts: _Facts) -> pl.Series:
    """A boolean per trace of ``facts.traces`` (in its order)."""
    if isinstance(expr, And):
        return _trace_mask(expr.left, facts) & _trace_mask(expr.right, facts)
    if isinstance(expr, Or):
        return _trace_mask(expr.left, facts) | _trace_mask(expr.right, facts)
    if isinstance(expr, Not):
        return ~_trace_mask(expr.operand, facts)
    ids = facts.traces.get_column(col.TRACE_ID)
    if isinstance(expr, Service):
        segments = facts.segments
        condition = pl.lit(value=True)
        if expr.name is not None:
            condition = condition & (pl.col(col.NAME) == expr.name)
        if expr.type is not None:
            condition = condition & (pl.col(col.ORIGIN) == expr.type)
        if expr.where is not None:
            condition = condition & _segment_condition(expr.where)
        return ids.is_in(
            segments.filter(condition.fill_null(value=False)).get_column(col.TRACE_ID).to_list()
        )
    field = expr.field
    if isinstance(field, Annotation):
        notes = facts.annotations.filter(pl.col(_KEY) == field.key)
        if expr.op is not None and expr.value is not None:
            notes = notes.filter(_annotation_condition(expr.op, expr.value).fill_null(value=False))
        return ids.is_in(notes.get_column(col.TRACE_ID).to_list())
    if isinstance(field, RootCause):
        assert expr.op is not None
        assert expr.value is not None
        exception = _EXC_NAME if field.part == "name" else _EXC_MESSAGE
        condition = pl.col(field.flag) & _compare(pl.col(exception), expr.op, expr.value)
        causes = facts.causes.filter(condition.fill_null(value=False))
        return ids.is_in(causes.get_column(col.TRACE_ID).to_list())
    if field.name in ("duration", "partial"):
        column = pl.col(field.name)
        condition = column if expr.op is None else _compare(column, expr.op, expr.value)
        return facts.traces.select(condition.fill_null(value=False)).to_series()
    matched = facts.roots.filter(_segment_condition(expr).fill_null(value=False))
    return ids.is_in(matched.get_column(col.TRACE_ID).to_list())


def _segment_condition(expr: Expr) -> pl.Expr:
    """``expr`` (keywords only, as the parser guarantees) about one segment row."""
    if isinstance(expr, And):
        return _segment_condition(expr.left) & _segment_condition(expr.right)
    if isinstance(expr, Or):
        return _segment_condition(expr.left) | _segment_condition(expr.right)
    if isinstance(expr, Not):
        return ~_segment_condition(expr.operand)
    assert isinstance(expr, Compare)
    assert isinstance(expr.field, Keyword)
    column = _segment_column(expr.field.name)
    condition = column if expr.op is None else _compare(column, expr.op, expr.value)
    return condition.fill_null(value=False)


def _segment_column(name: str) -> pl.Expr:
    status = pl.col(col.HTTP_STATUS)
    if name == "ok":
        return (
            ~pl.col(col.IN_PROGRESS)
            & ~pl.col(col.ERROR)
            & ~pl.col(col.FAULT)
            & ~pl.col(col.THROTTLE)
            & (status.is_null() | ((status >= 200) & (status < 300)))
        )
    columns = {
        "error": pl.col(col.ERROR),
        "fault": pl.col(col.FAULT),
        "throttle": pl.col(col.THROTTLE),
        "responsetime": pl.col(_RESPONSE),
        "http.status": status,
        "http.url": pl.col(col.HTTP_URL),
        "http.method": pl.col(col.HTTP_METHOD),
    }
    return columns[name]


def _annotation_condition(op: str, value: Value) -> pl.Expr:
    if isinstance(value, bool):
        return _compare(pl.col(_FLAG), op, value)
    if isinstance(value, str):
        return _compare(pl.col(_TEXT), op, value)
    return _compare(pl.col(_NUMBER), op, value)


def _compare(column: pl.Expr, op: str, value: Value | None) -> pl.Expr:
    operations = {
        "=": lambda: column == value,
        "!=": lambda: column != value,
        "<": lambda: column < value,
        "<=": lambda: column <= value,
        ">": lambda: column > value,
        ">=": lambda: column >= value,
        "BEGINSWITH": lambda: column.str.starts_with(str(value)),
        "ENDSWITH": lambda: column.str.ends_with(str(value)),
        "CONTAINS": lambda: column.str.contains(str(value), literal=True),
    }
    return operations[op]()


def filter_partition(
    entities: pl.DataFrame, links: pl.DataFrame, expression: str | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One partition's entities and links of the traces ``expression`` matches (all of them
    when it is None). The expression was checked before the run; it is parsed again here
    because partitions may be settled in other processes.

    Raises:
        FilterSyntaxError: ``expression`` does not parse.
    """
    if expression is None:
        return entities, links
    from tracelens.analysis.filter_expr import parse

    wanted = pl.Series(matching_trace_ids(entities, parse(expression)), dtype=pl.String)
    keep = pl.col(col.TRACE_ID).cast(pl.String).is_in(wanted.to_list())
    return entities.filter(keep), links.filter(keep)
