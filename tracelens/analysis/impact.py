"""Impact per function: when its failures began and ended, and its errors by exception type.

A *failure* here is one failed attempt, so a retried event counts once per failed attempt:

- a failed invocation (``failed_invocations``: error, fault or throttle on the function
  segment, its attempt or its ``Invocation`` subsegment), with the cause of that failure;
- a failed request with no failed invocation (throttled, or refused by Lambda before the
  function ran), labelled ``Throttled`` or by its HTTP status;
- an SQS record that failed inside an invocation that succeeded (a partial batch response:
  the function reported the message as failed), with the record subsegment's cause.

The impact window of a function runs from the start of its first failure to the start of its
last one.
"""

from __future__ import annotations

import polars as pl

from tracelens.analysis import columns as c
from tracelens.model import schema as col

ERROR_TYPE = "error_type"
FIRST_FAILURE = "first_failure"
LAST_FAILURE = "last_failure"

#: Labels ``analysis._expr.error_text`` writes when a failure has no cause; kept as types.
_LABELS = ("Throttled", "Fault (no cause recorded)", "Error (no cause recorded)")
#: The type of a cause that is a message without an exception type.
NO_TYPE = "(no exception type)"


def exception_type(text: pl.Expr) -> pl.Expr:
    """The exception type of a cause text (``"Type: message"``, a bare type, or a message).

    The normaliser writes ``Type: message`` when X-Ray recorded both, else whichever it has,
    so the part before the first ``": "`` is a type only when it has no spaces; a text with
    no spaces at all is a bare type; anything else is a message without a type.
    """
    prefix = text.str.extract(r"^(\S+?):\s", 1)
    return (
        pl.when(text.is_in(_LABELS))
        .then(text)
        .when(prefix.is_not_null())
        .then(prefix)
        .when(text.str.contains(r"^\S+$"))
        .then(text)
        .otherwise(pl.lit(NO_TYPE))
    )


def failures(
    requests: pl.DataFrame, invocations: pl.DataFrame, sqs_deliveries: pl.DataFrame
) -> pl.LazyFrame:
    """One row per failure (see the module docstring): function, start, error text."""
    inv = invocations.lazy()
    failed_inv = inv.filter(pl.col("inv_failed"))
    by_invocation = failed_inv.select(
        pl.col(c.FUNCTION).cast(pl.String),
        col.START,
        pl.col("inv_error").cast(pl.String).fill_null("Error (no cause recorded)").alias(c.ERROR),
    )
    status = pl.col(col.HTTP_STATUS)
    by_request = (
        requests.lazy()
        .filter(pl.col(c.FAILED))
        .join(failed_inv.select(c.REQUEST), on=c.REQUEST, how="anti")
        .select(
            pl.col(c.FUNCTION).cast(pl.String),
            col.START,
            pl.when(pl.col(c.THROTTLED))
            .then(pl.lit("Throttled"))
            .when(status.is_not_null())
            .then(pl.format("HTTP {}", status))
            .otherwise(pl.lit("Error (no cause recorded)"))
            .alias(c.ERROR),
        )
    )
    by_record = (
        sqs_deliveries.lazy()
        .filter(pl.col(c.FAILED))
        .join(failed_inv.select(c.INVOCATION), on=c.INVOCATION, how="anti")
        .select(
            pl.col(c.FUNCTION).cast(pl.String),
            col.START,
            pl.col(c.ERROR).cast(pl.String).fill_null("Error (no cause recorded)"),
        )
    )
    return pl.concat([by_invocation, by_request, by_record])


def impact_windows(failed: pl.LazyFrame) -> pl.DataFrame:
    """Per function with failures: failures, first_failure, last_failure; sorted by function."""
    return (
        failed.group_by(c.FUNCTION)
        .agg(
            pl.len().cast(pl.Int64).alias(c.FAILURES),
            pl.col(col.START).min().alias(FIRST_FAILURE),
            pl.col(col.START).max().alias(LAST_FAILURE),
        )
        .sort(c.FUNCTION)
        .collect()
    )


def errors_by_type(failed: pl.LazyFrame) -> pl.DataFrame:
    """Per function and exception type: count; sorted by function, count (most first), type."""
    return (
        failed.with_columns(exception_type(pl.col(c.ERROR)).alias(ERROR_TYPE))
        .group_by(c.FUNCTION, ERROR_TYPE)
        .agg(pl.len().cast(pl.Int64).alias(c.COUNT))
        .sort(
            [c.FUNCTION, c.COUNT, ERROR_TYPE],
            descending=[False, True, False],
        )
        .collect()
    )
