"""Invocations: AWS::Lambda::Function segments joined to their request and attempt."""

from __future__ import annotations

import polars as pl

from tracelens.analysis import columns as c
from tracelens.analysis._expr import flagged, millis
from tracelens.model import schema as col

#: When an attempt or invocation ran and how it ended.
_OUTCOME = (
    col.START,
    col.END,
    col.IN_PROGRESS,
    col.ERROR,
    col.FAULT,
    col.THROTTLE,
    col.CAUSE,
)

#: The ``Attempt #N`` columns later analyses read (the rest is never materialised).
ATTEMPT_COLUMNS = (col.ID, col.TRACE_ID, col.ATTEMPT, *_OUTCOME)


def attempt_rows(entities: pl.LazyFrame, services: pl.LazyFrame) -> pl.LazyFrame:
    """Every ``Attempt #N`` row (``ATTEMPT_COLUMNS``) with the request of its service segment."""
    owner = services.select(pl.col(col.ID).alias(col.DOC_ID), c.REQUEST)
    return (
        entities.filter(pl.col(col.KIND) == col.KIND_ATTEMPT)
        .select(col.DOC_ID, *ATTEMPT_COLUMNS)
        .join(owner, on=col.DOC_ID, how="inner")
        .drop(col.DOC_ID)
    )


def invocations(
    entities: pl.LazyFrame, services: pl.LazyFrame, attempts: pl.LazyFrame
) -> pl.LazyFrame:
    """One row per invocation with its request, attempt, flags, cause and cold start.

    An invocation belongs to the request whose service segment, or whose ``Attempt #N``
    subsegment, is its parent. It failed when error/fault/throttle is set on the attempt, the
    function segment or its ``Invocation`` subsegment; flags deeper down (SDK calls, record
    subsegments) do not fail it (report-contract "Failed invocation").
    """
    parents = pl.concat(
        [
            services.select(
                pl.col(col.ID).alias(col.PARENT_ID),
                c.REQUEST,
                pl.lit(None, pl.Int64).alias(c.N),
                *[pl.lit(False).alias(f"att_{f}") for f in (col.ERROR, col.FAULT, col.THROTTLE)],
                pl.lit(None, pl.String).alias("att_cause"),
            ),
            attempts.select(
                pl.col(col.ID).alias(col.PARENT_ID),
                c.REQUEST,
                pl.col(col.ATTEMPT).alias(c.N),
                *[pl.col(f).alias(f"att_{f}") for f in (col.ERROR, col.FAULT, col.THROTTLE)],
                pl.col(col.CAUSE).alias("att_cause"),
            ),
        ]
    ).unique(col.PARENT_ID, keep="first", maintain_order=True)
    subs = (
        entities.filter(pl.col(col.KIND).is_in([col.KIND_INVOCATION, col.KIND_INITIALIZATION]))
        .group_by(col.DOC_ID)
        .agg(
            (pl.col(col.KIND) == col.KIND_INITIALIZATION).any().alias(c.COLD),
            *[
                (pl.col(f).fill_null(False) & (pl.col(col.KIND) == col.KIND_INVOCATION))
                .any()
                .alias(f"inv_{f}")
                for f in (col.ERROR, col.FAULT, col.THROTTLE)
            ],
            pl.col(col.CAUSE)
            .filter(pl.col(col.KIND) == col.KIND_INVOCATION)
            .drop_nulls()
            .first()
            .alias("inv_cause"),
        )
    )
    functions = entities.filter(pl.col(col.KIND) == col.KIND_FUNCTION).select(
        pl.col(col.ID).alias(c.INVOCATION),
        col.TRACE_ID,
        col.PARENT_ID,
        pl.col(col.NAME).alias(c.FUNCTION),
        col.ARN,
        *_OUTCOME,
    )
    joined = functions.join(parents, on=col.PARENT_ID, how="left").join(
        subs, left_on=c.INVOCATION, right_on=col.DOC_ID, how="left"
    )
    return joined.select(
        c.INVOCATION,
        col.TRACE_ID,
        c.FUNCTION,
        col.ARN,
        c.REQUEST,
        c.N,
        col.START,
        col.END,
        col.IN_PROGRESS,
        pl.col(c.COLD).fill_null(False),
        (flagged() | flagged("inv_") | flagged("att_")).alias(c.FAILED),
        (
            pl.col(col.THROTTLE).fill_null(False)
            | pl.col(f"inv_{col.THROTTLE}").fill_null(False)
            | pl.col(f"att_{col.THROTTLE}").fill_null(False)
        ).alias(col.THROTTLE),
        (
            pl.col(col.FAULT).fill_null(False)
            | pl.col(f"inv_{col.FAULT}").fill_null(False)
            | pl.col(f"att_{col.FAULT}").fill_null(False)
        ).alias(col.FAULT),
        pl.coalesce("inv_cause", col.CAUSE, "att_cause").alias(col.CAUSE),
        millis(pl.col(col.START), pl.col(col.END)).alias(c.DURATION_MS),
    )
