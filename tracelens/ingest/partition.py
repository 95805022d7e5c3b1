"""Partitions of the normalised rows: by a hash of the trace id, so every trace lies in one.

Every per-request fact lives inside one trace (a request, its attempts, invocations, dwell,
the documents and independent subsegments that make it up, their duplicates), so a partition
can be settled and analysed on its own (``tracelens.engine``). The hash is polars' own with a
fixed seed: the same in every process of one run (it may differ between polars versions, so
a dataset records the partition of each row instead of recomputing it).
"""

from __future__ import annotations

import polars as pl

from tracelens.model import schema as col

#: Bytes of input per partition: a partition's rows, settled and analysed, stay well within
#: a reader's memory (about 2.5 KB of input per segment, ~8 rows per segment).
INPUT_BYTES_PER_PARTITION = 96 * 1024 * 1024
#: More partitions than this cost more in per-partition overhead than they save in memory.
MAX_PARTITIONS = 4096

_KEY = "_partition"


def partitions_for(input_bytes: int) -> int:
    """How many partitions an input of ``input_bytes`` bytes (uncompressed estimate) needs."""
    return max(1, min(MAX_PARTITIONS, -(-input_bytes // INPUT_BYTES_PER_PARTITION)))


def partition_of(partitions: int) -> pl.Expr:
    """The partition (0 .. partitions - 1) of each row, by its trace id."""
    return (pl.col(col.TRACE_ID).cast(pl.String).hash(seed=0) % partitions).cast(pl.Int32)


def split(frame: pl.DataFrame, partitions: int) -> list[pl.DataFrame | None]:
    """The rows of each partition, in their order in ``frame`` (None for a partition with no
    rows)."""
    if partitions == 1:
        return [frame if frame.height else None]
    pieces: list[pl.DataFrame | None] = [None] * partitions
    if not frame.height:
        return pieces
    keyed = frame.with_columns(partition_of(partitions).alias(_KEY))
    for (key,), piece in keyed.partition_by(_KEY, as_dict=True, maintain_order=True).items():
        pieces[int(key)] = piece.drop(_KEY)
    return pieces
