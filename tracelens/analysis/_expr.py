"""Small named polars expressions shared by the analyses."""

from __future__ import annotations

import polars as pl
import polars.selectors as cs

from tracelens.model import schema as col


def as_text(frame: pl.LazyFrame, keep: tuple[str, ...] = ()) -> pl.LazyFrame:
    """The frame with its categorical columns (see ``model.schema``) as plain strings.

    Normalised frames keep repeated text categorical to stay small; analyses join and
    concatenate it with text from other sources, so they read it as strings (lazily: only the
    columns a plan uses are converted). Columns named in ``keep`` stay categorical: polars
    categories are global, so two categorical columns join and group as text would, at a
    fraction of the memory (the pipeline keeps trace ids, names and ARNs that way).
    """
    text = cs.categorical() | cs.enum()
    if keep:
        text = text - cs.by_name(*keep)
    return frame.with_columns(text.cast(pl.String))


def flagged(prefix: str = "") -> pl.Expr:
    """Error, fault or throttle set on an entity (columns optionally prefixed)."""
    return (
        pl.col(f"{prefix}{col.ERROR}").fill_null(False)
        | pl.col(f"{prefix}{col.FAULT}").fill_null(False)
        | pl.col(f"{prefix}{col.THROTTLE}").fill_null(False)
    )


def millis(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """``end - start`` in milliseconds as a float (null if either is null)."""
    return (end - start).dt.total_microseconds().cast(pl.Float64) / 1000.0


def error_text(cause: pl.Expr, throttle: pl.Expr, fault: pl.Expr) -> pl.Expr:
    """The cause text of a failure, or a label saying which flag was set."""
    return pl.coalesce(
        cause,
        pl.when(throttle.fill_null(False))
        .then(pl.lit("Throttled"))
        .when(fault.fill_null(False))
        .then(pl.lit("Fault (no cause recorded)"))
        .otherwise(pl.lit("Error (no cause recorded)")),
    )


def sorted_unique(values: pl.Expr) -> pl.Expr:
    """Aggregate to a sorted list of distinct non-null values."""
    return values.drop_nulls().unique().sort()


def first_per_key(frame: pl.LazyFrame, keys: list[str], order: list[str]) -> pl.LazyFrame:
    """Keep one row per key: the first by ``order`` (then by all of ``order``'s ties).

    Nearly every key has a single row (one dwell per event, one ``Attempt #N`` per number),
    so only rows whose key repeats are sorted; the rest pass through untouched, which keeps
    this cheap on millions of rows.
    """
    repeated = pl.struct(keys).is_duplicated() if len(keys) > 1 else pl.col(keys[0]).is_duplicated()
    many = (
        frame.filter(repeated)
        .sort([*keys, *order], nulls_last=True)
        .unique(keys, keep="first", maintain_order=True)
    )
    return pl.concat([frame.filter(~repeated), many])
