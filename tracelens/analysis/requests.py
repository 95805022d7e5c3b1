"""Lambda requests: one per non-inferred AWS::Lambda service segment request id."""

from __future__ import annotations

import polars as pl

from tracelens.analysis import _columns as c
from tracelens.model import schema as col

#: The service segment columns later analyses read (the rest is never materialised).
SERVICE_COLUMNS = (
    col.ID,
    col.TRACE_ID,
    col.PARENT_ID,
    col.NAME,
    col.ARN,
    col.START,
    col.END,
    col.IN_PROGRESS,
    col.HTTP_STATUS,
)


def service_segments(entities: pl.LazyFrame) -> pl.LazyFrame:
    """Service segment rows with their request key (``aws.request_id``, else the segment id).

    Only ``SERVICE_COLUMNS`` and ``request`` are kept.
    """
    return entities.filter(pl.col(col.KIND) == col.KIND_SERVICE).select(
        *SERVICE_COLUMNS, pl.coalesce(col.REQUEST_ID, col.ID).alias(c.REQUEST)
    )


def requests(services: pl.LazyFrame) -> pl.LazyFrame:
    """One row per Lambda request.

    Several documents with the same request id (revisions, split files) are one request
    (report-contract "Lambda request"). Columns: request, function, arn, trace_id (of the
    earliest segment), start, end, in_progress, http_status, traced_caller.
    """
    # Almost every request has one service segment: those skip the (high-cardinality,
    # costly) group_by and only the repeated ones are aggregated.
    repeated = pl.col(c.REQUEST).is_duplicated()
    single = services.filter(~repeated).select(
        c.REQUEST,
        pl.col(col.NAME).alias(c.FUNCTION),
        col.ARN,
        col.TRACE_ID,
        col.START,
        col.END,
        col.IN_PROGRESS,
        col.HTTP_STATUS,
        pl.col(col.PARENT_ID).is_not_null().alias(c.TRACED_CALLER),
    )
    multi = (
        services.filter(repeated)
        .sort(col.START, col.ID, nulls_last=True)
        .group_by(c.REQUEST)
        .agg(
            pl.col(col.NAME).first().alias(c.FUNCTION),
            pl.col(col.ARN).drop_nulls().first().alias(col.ARN),
            pl.col(col.TRACE_ID).first().alias(col.TRACE_ID),
            pl.col(col.START).min().alias(col.START),
            pl.col(col.END).max().alias(col.END),
            pl.col(col.IN_PROGRESS).any().alias(col.IN_PROGRESS),
            pl.col(col.HTTP_STATUS).max().alias(col.HTTP_STATUS),
            pl.col(col.PARENT_ID).is_not_null().any().alias(c.TRACED_CALLER),
        )
    )
    return pl.concat([single, multi])
