"""Settle the row batches of all readers, one partition at a time: remove duplicates, attach
independently sent subsegments to their owners, type the columns and stack the batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from tracelens.ingest.normalise import (
    FILE,
    FORM,
    FORM_DOCUMENT,
    FORM_SDK_INVOCATION,
    INDEPENDENT,
    POS,
    ROW_SCHEMA,
    SUB,
    TOP_IN_PROGRESS,
)
from tracelens.model import schema as col
from tracelens.model.frames import IngestStats, Rejection

if TYPE_CHECKING:
    from collections.abc import Sequence


#: One partition's piece of a batch: in memory, or an Arrow IPC file a reader spilled.
Piece = pl.DataFrame | Path


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch of a reader's rows and links, split by partition (``partition.split``):
    ``rows[k]`` holds partition k's rows, None when it has none."""

    rows: tuple[Piece | None, ...]
    links: tuple[Piece | None, ...]


@dataclass(frozen=True, slots=True)
class Part:
    """What one reader produced: raw row batches, and its counts."""

    batches: list[Batch]  # in reading order
    documents: int
    rejected: int
    rejections: tuple[Rejection, ...]


def ingest_stats(parts: Sequence[Part], *, files: Sequence[str], duplicates: int) -> IngestStats:
    """The counts of all readers' parts (``duplicates`` from ``settle`` of every partition)."""
    return IngestStats(
        files=tuple(sorted(files)),
        documents=sum(part.documents for part in parts),
        duplicates=duplicates,
        rejected=sum(part.rejected for part in parts),
        rejections=tuple(r for part in parts for r in part.rejections)[:100],
    )


def settle(parts: Sequence[Part], partition: int) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """One partition's entities and links from reader parts, and its number of duplicates:
    duplicates removed, independent subsegments attached, columns typed.

    Duplicates follow report-contract.md: a document whose (trace_id, id) was already read is
    dropped; a complete document always wins over an in-progress one, and between two complete
    ones the first read wins (a span and an X-Ray document alike). All documents of a trace
    are in one partition, so a partition answers this on its own.

    An independently sent subsegment (every span that is not a segment) whose segment is
    known becomes the row the same subsegment nested in that segment would give: a dwell,
    attempt, initialization, invocation, record or call row (dwell and attempt only under a
    service segment, initialization and invocation only under a function segment), or no row,
    its annotations going to the segment's. A span whose segment was read as an X-Ray
    document is that document's nested subsegment once more: it is dropped and counted as a
    duplicate (a trace given both as documents and as spans).
    """
    # Parts arrive in a fixed order (file, byte range, batch), so row order is deterministic
    # without sorting; analyses sort explicitly anyway. Batches may live on disk (Arrow IPC
    # written by reader processes). Whole-partition questions (duplicates, owners of
    # independent subsegments) are answered first on a few columns; then each batch is
    # settled and collected on its own, so memory holds the result plus one batch.
    return settle_pieces(*pieces_of(parts, partition))


def pieces_of(parts: Sequence[Part], partition: int) -> tuple[list[Piece], list[Piece]]:
    """The row and link pieces of one partition in reading order."""
    rows = [b.rows[partition] for part in parts for b in part.batches]
    links = [b.links[partition] for part in parts for b in part.batches]
    return [r for r in rows if r is not None], [k for k in links if k is not None]


def _lazy(piece: Piece) -> pl.LazyFrame:
    return piece.lazy() if isinstance(piece, pl.DataFrame) else pl.scan_ipc(piece)


def settle_pieces(
    row_pieces: Sequence[Piece], link_pieces: Sequence[Piece]
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """``settle`` of one partition given its pieces (see ``pieces_of``)."""
    row_batches = [_lazy(piece) for piece in row_pieces]
    link_batches = [_lazy(piece) for piece in link_pieces]
    rows = pl.concat(row_batches) if row_batches else _empty(ROW_SCHEMA).lazy()
    # DOC_ID is still the id of the document each row was read from (see ROW_SCHEMA).
    instance = [col.TRACE_ID, col.DOC_ID, FILE, POS, SUB]
    duplicates = _duplicates(rows)
    winners = None
    if duplicates:
        winners = (
            rows.filter(pl.col(col.TOP))
            .select([*instance, TOP_IN_PROGRESS])
            .sort([TOP_IN_PROGRESS, FILE, POS, SUB])
            .unique(subset=[col.TRACE_ID, col.DOC_ID], keep="first", maintain_order=True)
            .select(instance)
            .collect()
        )
    kept = rows if winners is None else _keep(rows, winners, instance)
    demoted = _demoted(kept)
    if demoted is not None:
        kept = _demote(kept, demoted)
    owners = _independent_owners(kept)
    plan = notes = None
    if owners is not None:
        plan, notes = _fold_plan(kept, owners)
        duplicates += int(plan.get_column("_drop_all").sum())

    def settled(batch: pl.LazyFrame, columns: list[str], *, entity_rows: bool) -> pl.DataFrame:
        if winners is not None:
            batch = _keep(batch, winners, instance)
        if demoted is not None:
            batch = _demote(batch, demoted, entity_rows=entity_rows)
        if plan is not None:
            batch = batch.join(
                plan.lazy(),
                left_on=[col.TRACE_ID, col.DOC_ID],
                right_on=[col.TRACE_ID, "_top"],
                how="left",
                maintain_order="left",
            ).filter(~pl.col("_drop_all").fill_null(False))
            if entity_rows:
                batch = _fold(batch, notes)
            batch = batch.with_columns(pl.coalesce("_owner", col.DOC_ID).alias(col.DOC_ID))
        return batch.select(columns).collect()

    entities = _stack(
        [settled(b, list(col.ENTITIES), entity_rows=True) for b in row_batches], col.ENTITIES
    )
    link_frame = _stack(
        [settled(b, list(col.LINKS), entity_rows=False) for b in link_batches], col.LINKS
    )
    return entities, link_frame, duplicates


def _demoted(rows: pl.LazyFrame) -> pl.DataFrame | None:
    """The SDK invocation spans whose parent is a function segment (trace_id, ``_sdk``): the
    handler's span inside an invocation the function segment already stands for."""
    sdk = rows.filter(pl.col(col.TOP) & (pl.col(FORM) == FORM_SDK_INVOCATION))
    functions = rows.filter(
        pl.col(col.TOP)
        & ~pl.col(INDEPENDENT)
        & (pl.col(col.KIND) == col.KIND_FUNCTION)
        & (pl.col(FORM) != FORM_SDK_INVOCATION)
    ).select(col.TRACE_ID, pl.col(col.ID).alias(col.PARENT_ID))
    found = (
        sdk.select(col.TRACE_ID, col.ID, col.PARENT_ID)
        .join(functions, on=[col.TRACE_ID, col.PARENT_ID], how="semi")
        .select(col.TRACE_ID, pl.col(col.ID).alias("_sdk"))
        .unique()
        .collect()
    )
    return None if found.is_empty() else found


def _demote(
    batch: pl.LazyFrame, demoted: pl.DataFrame, *, entity_rows: bool = True
) -> pl.LazyFrame:
    """Make demoted SDK invocation spans independent subsegments of their function segment
    (their cold-start row goes: the function segment tells that)."""
    joined = batch.join(
        demoted.lazy().with_columns(pl.lit(True).alias("_demoted")),
        left_on=[col.TRACE_ID, col.DOC_ID],
        right_on=[col.TRACE_ID, "_sdk"],
        how="left",
        maintain_order="left",
    )
    if not entity_rows:
        return joined.drop("_demoted")
    demoted_row = pl.col("_demoted").fill_null(False)
    return (
        joined.filter(~(demoted_row & ~pl.col(col.TOP)))
        .with_columns(
            (pl.col(INDEPENDENT) | demoted_row).alias(INDEPENDENT),
            pl.when(demoted_row)
            .then(pl.lit(col.KIND_SUBSEGMENT).cast(col.KINDS))
            .otherwise(pl.col(col.KIND))
            .alias(col.KIND),
        )
        .drop("_demoted")
    )


#: Kinds an independently sent subsegment keeps wherever it hangs.
_ANYWHERE = (col.KIND_RECORD, col.KIND_CALL)
#: Columns only a top-level document's row fills; a nested subsegment's row has them empty.
_DOCUMENT_ONLY = (
    col.ORIGIN,
    col.HTTP_STATUS,
    col.REQUEST_ID,
    col.ARN,
    col.HTTP_URL,
    col.HTTP_METHOD,
    col.ANNOTATIONS,
)


def _fold_plan(rows: pl.LazyFrame, owners: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What becomes of each independently sent subsegment, and the annotations its segment
    takes over.

    Returns (trace_id, ``_top``, ``_owner``, ``_drop_all``: a span whose segment was read as a
    document, ``_nest``: becomes a nested row, ``_drop``: leaves no row of its own), and
    (trace_id, ``_note_owner``, ``_notes``: the JSON list elements to append, in reading order).
    """
    documents = (
        rows.filter(pl.col(col.TOP) & ~pl.col(INDEPENDENT))
        .select(col.TRACE_ID, col.ID, col.KIND, (pl.col(FORM) != FORM_DOCUMENT).alias("_span"))
        .unique(subset=[col.TRACE_ID, col.ID], keep="first", maintain_order=True)
    )
    independent = (
        rows.filter(pl.col(INDEPENDENT) & pl.col(col.TOP))
        .select(
            col.TRACE_ID,
            pl.col(col.ID).alias("_top"),
            col.PARENT_ID,
            col.KIND,
            (pl.col(FORM) != FORM_DOCUMENT).alias("_span"),
            col.ANNOTATIONS,
            FILE,
            POS,
            SUB,
        )
        .join(owners.lazy(), on=[col.TRACE_ID, "_top"], how="left", maintain_order="left")
        .join(
            documents.select(
                col.TRACE_ID, pl.col(col.ID).alias("_owner"), pl.col("_span").alias("_owner_span")
            ),
            on=[col.TRACE_ID, "_owner"],
            how="left",
            maintain_order="left",
        )
        .join(
            documents.select(
                col.TRACE_ID,
                pl.col(col.ID).alias(col.PARENT_ID),
                pl.col(col.KIND).alias("_parent_kind"),
            ),
            on=[col.TRACE_ID, col.PARENT_ID],
            how="left",
            maintain_order="left",
        )
    )
    found = pl.col("_owner").is_not_null()
    kind = pl.col(col.KIND)
    parent = pl.col("_parent_kind")
    belongs = (
        kind.is_in(_ANYWHERE)
        | (kind.is_in([col.KIND_DWELL, col.KIND_ATTEMPT]) & (parent == col.KIND_SERVICE))
        | (
            kind.is_in([col.KIND_INITIALIZATION, col.KIND_INVOCATION])
            & (parent == col.KIND_FUNCTION)
        )
    ).fill_null(False)
    drop_all = found & pl.col("_span") & ~pl.col("_owner_span").fill_null(True)
    plan = independent.with_columns(
        _drop_all=drop_all,
        _nest=found & ~drop_all & belongs,
        _drop=found & ~drop_all & ~belongs,
    ).collect()
    notes = (
        plan.lazy()
        .filter(pl.col("_owner").is_not_null() & ~pl.col("_drop_all"))
        .filter(pl.col(col.ANNOTATIONS).is_not_null())
        .sort([FILE, POS, SUB], maintain_order=True)
        .group_by(col.TRACE_ID, "_owner", maintain_order=True)
        .agg(
            pl.col(col.ANNOTATIONS)
            .str.strip_prefix("[")
            .str.strip_suffix("]")
            .str.join(",")
            .alias("_notes")
        )
        .rename({"_owner": "_note_owner"})
        .collect()
    )
    columns = [col.TRACE_ID, "_top", "_owner", "_drop_all", "_nest", "_drop"]
    return plan.select(columns), notes


def _fold(batch: pl.LazyFrame, notes: pl.DataFrame | None) -> pl.LazyFrame:
    """Apply the plan (joined on the batch's rows) to independent documents' rows, and
    append the annotations of folded subsegments to their segments' rows."""
    is_doc = pl.col(col.TOP) & pl.col(INDEPENDENT) & (pl.col(col.ID) == pl.col(col.DOC_ID))
    nest = is_doc & pl.col("_nest").fill_null(False)
    batch = batch.filter(~(is_doc & pl.col("_drop").fill_null(False))).with_columns(
        *[pl.when(nest).then(None).otherwise(pl.col(name)).alias(name) for name in _DOCUMENT_ONLY],
        pl.when(nest & (pl.col(col.KIND) != col.KIND_CALL))
        .then(None)
        .otherwise(pl.col(col.OPERATION))
        .alias(col.OPERATION),
        (pl.col(col.TOP) & ~nest).alias(col.TOP),
    )
    if notes is None or notes.is_empty():
        return batch
    owner = pl.col(col.TOP) & ~pl.col(INDEPENDENT) & pl.col("_notes").is_not_null()
    current = pl.col(col.ANNOTATIONS)
    return (
        batch.join(
            notes.lazy(),
            left_on=[col.TRACE_ID, col.ID],
            right_on=[col.TRACE_ID, "_note_owner"],
            how="left",
            maintain_order="left",
        )
        .with_columns(
            pl.when(owner & current.is_null())
            .then(pl.concat_str(pl.lit("["), pl.col("_notes"), pl.lit("]")))
            .when(owner)
            .then(
                pl.concat_str(
                    current.str.strip_suffix("]"), pl.lit(","), pl.col("_notes"), pl.lit("]")
                )
            )
            .otherwise(current)
            .alias(col.ANNOTATIONS)
        )
        .drop("_notes")
    )


def _duplicates(rows: pl.LazyFrame) -> int:
    """How many top-level documents repeat the (trace_id, id) of one read before.

    Distinct hashes prove distinct keys, so the exact count (which holds every key in memory)
    runs only when some hashes collide.
    """
    keys = rows.filter(pl.col(col.TOP)).select(pl.struct(col.TRACE_ID, col.ID).alias("_key"))
    total, hashes = keys.select(pl.len(), pl.col("_key").hash(seed=0).n_unique()).collect().row(0)
    if hashes == total:
        return 0
    distinct = keys.select(pl.col("_key").n_unique()).collect().item()
    return int(total) - int(distinct)


def _keep(rows: pl.LazyFrame, winners: pl.DataFrame, instance: list[str]) -> pl.LazyFrame:
    return rows.join(winners.lazy(), on=instance, how="semi", maintain_order="left")


def _stack(frames: list[pl.DataFrame], schema: pl.Schema) -> pl.DataFrame:
    """Concatenate collected batches without copying them into one chunk."""
    if not frames:
        return _empty(dict(schema))
    return pl.concat(frames, rechunk=False)


def _independent_owners(rows: pl.LazyFrame) -> pl.DataFrame | None:
    """Map each independently sent subsegment to the segment that contains its parent.

    Returns (trace_id, ``_top``: the independent document's id, ``_owner``), or None when no
    document was sent independently. The parent may itself be an independent subsegment, so
    the lookup repeats until nothing changes (bounded by the number of independent documents).
    """
    independent = (
        rows.filter(pl.col(INDEPENDENT) & pl.col(col.TOP))
        .select(col.TRACE_ID, pl.col(col.ID).alias("_top"), pl.col(col.PARENT_ID))
        .collect()
    )
    if independent.is_empty():
        return None
    owners = (
        rows.filter(~pl.col(INDEPENDENT))
        .select(col.TRACE_ID, pl.col(col.ID).alias("_parent"), pl.col(col.DOC_ID).alias("_owner"))
        .unique(subset=[col.TRACE_ID, "_parent"], keep="first", maintain_order=True)
        .collect()
    )
    pending = independent
    resolved = pl.DataFrame(
        schema={col.TRACE_ID: ROW_SCHEMA[col.TRACE_ID], "_top": pl.String, "_owner": pl.String}
    )
    for _ in range(independent.height + 1):
        found = pending.join(
            owners, left_on=[col.TRACE_ID, col.PARENT_ID], right_on=[col.TRACE_ID, "_parent"]
        ).select(col.TRACE_ID, "_top", "_owner")
        if found.is_empty():
            break
        resolved = pl.concat([resolved, found])
        pending = pending.join(found, on=[col.TRACE_ID, "_top"], how="anti")
        # An independent subsegment whose parent is now resolved can own others in turn.
        owners = pl.concat(
            [owners, found.rename({"_top": "_parent"}).select(col.TRACE_ID, "_parent", "_owner")]
        )
    return resolved.unique(subset=[col.TRACE_ID, "_top"], keep="first", maintain_order=True)


def _empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)
