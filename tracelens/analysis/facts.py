"""Per-partition facts: what the cross-trace analyses read, from one partition's entities.

The second of the three stages (see ``tracelens.engine``): every fact here lives inside one
trace (service segments and their requests, ``Attempt #N`` rows, invocations, dwell and record
subsegments, span links, failed calls no Lambda request answered), so a partition of traces
gives its facts on its own and the facts of all partitions concatenate into the facts of the
whole input (``merge_facts``). ``pipeline.analyse_facts`` then runs everything that crosses
traces.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis._expr import as_text
from tracelens.analysis.callers import parent_callers
from tracelens.analysis.invocations import attempt_rows, invocations
from tracelens.analysis.requests import service_segments
from tracelens.analysis.sqs import with_error_columns
from tracelens.analysis.sync import not_reached_candidates
from tracelens.model import schema as col
from tracelens.model.frames import data_end

if TYPE_CHECKING:
    from collections.abc import Sequence

# Entity columns the analyses join and group on as they are: categorical (see ``as_text``).
CATEGORICAL = (col.TRACE_ID, col.KIND, col.NAME, col.ARN)
#: The entity kinds the cross-trace analyses read as entity rows (async dwell; SQS and stream
#: records); everything else is read through services, attempts and invocations.
_KEPT_KINDS = (col.KIND_DWELL, col.KIND_RECORD)


@dataclass(frozen=True, slots=True)
class Facts:
    """The facts of one partition, or of all of them (``merge_facts``)."""

    services: pl.DataFrame  # requests.service_segments: every service segment
    attempts: pl.DataFrame  # invocations.attempt_rows
    invocations: pl.DataFrame  # every invocation, with its error columns
    entities: pl.DataFrame  # the dwell and record rows (as_text, keeping CATEGORICAL)
    links: pl.DataFrame  # span links (as_text)
    not_reached: pl.DataFrame  # sync.not_reached_candidates
    inferred: pl.DataFrame  # distinct name, arn (text) of inferred AWS::Lambda segments
    callers: pl.DataFrame  # callers.parent_callers: the caller of each service segment parent
    traces: int  # distinct trace ids
    start: datetime | None  # earliest start
    end: datetime | None  # when the data ends (TraceFrames.end)


def partition_facts(entities: pl.DataFrame, links: pl.DataFrame) -> Facts:
    """The facts of the traces in ``entities`` and ``links`` (a whole number of traces)."""
    text = as_text(entities.lazy(), keep=CATEGORICAL)
    services_l = service_segments(text)
    services, attempts = pl.collect_all([services_l, attempt_rows(text, services_l)])
    invs, kept, not_reached, inferred, callers, span = pl.collect_all(
        [
            with_error_columns(invocations(text, services.lazy(), attempts.lazy())),
            text.filter(pl.col(col.KIND).is_in(_KEPT_KINDS)),
            not_reached_candidates(text, services.lazy()),
            text.filter(
                (pl.col(col.KIND) == col.KIND_INFERRED)
                & (pl.col(col.ORIGIN) == "AWS::Lambda")
                & pl.col(col.NAME).is_not_null()
            )
            .select(pl.col(col.NAME).cast(pl.String), pl.col(col.ARN).cast(pl.String))
            .unique(maintain_order=True),
            parent_callers(text, services.lazy()),
            entities.lazy().select(
                pl.col(col.TRACE_ID).n_unique().alias("traces"),
                pl.col(col.START).min().alias("start"),
                data_end().alias("end"),
            ),
        ]
    )
    traces, start, end = span.row(0)
    return Facts(
        services=services,
        attempts=attempts,
        invocations=invs,
        entities=kept,
        links=as_text(links.lazy()).collect(),
        not_reached=not_reached,
        inferred=inferred,
        callers=callers,
        traces=int(traces) if entities.height else 0,
        start=start if isinstance(start, datetime) else None,
        end=end if isinstance(end, datetime) and entities.height else None,
    )


def merge_facts(parts: Sequence[Facts]) -> Facts:
    """The facts of all partitions: their frames stacked in partition order."""
    if not parts:
        return partition_facts(pl.DataFrame(schema=col.ENTITIES), pl.DataFrame(schema=col.LINKS))
    if len(parts) == 1:
        return parts[0]
    starts = [p.start for p in parts if p.start is not None]
    ends = [p.end for p in parts if p.end is not None]

    def stack(frames: list[pl.DataFrame]) -> pl.DataFrame:
        return pl.concat(frames, rechunk=False)

    return Facts(
        services=stack([p.services for p in parts]),
        attempts=stack([p.attempts for p in parts]),
        invocations=stack([p.invocations for p in parts]),
        entities=stack([p.entities for p in parts]),
        links=stack([p.links for p in parts]),
        not_reached=stack([p.not_reached for p in parts]),
        inferred=stack([p.inferred for p in parts]).unique(maintain_order=True),
        callers=stack([p.callers for p in parts]),
        traces=sum(p.traces for p in parts),
        start=min(starts) if starts else None,
        end=max(ends) if ends else None,
    )
