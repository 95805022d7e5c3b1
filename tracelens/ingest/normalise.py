"""Flatten decoded documents into entity and link rows, remove duplicates, build TraceFrames.

Only the entities analyses use become rows (see ``tracelens.model.schema``): every top-level
document, and the ``Dwell Time`` / ``Attempt #N`` subsegments of Lambda service segments, the
``Initialization`` / ``Invocation`` subsegments of function segments, and subsegments carrying
record annotations, at any depth. Walking is iterative, so no document depth can overflow the
stack.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from tracelens.model import schema as col
from tracelens.model.frames import IngestStats, Rejection, TraceFrames
from tracelens.model.segment import Cause, Entity

_ATTEMPT = re.compile(r"Attempt #(\d+)")
_RECORD_KEYS = ("event_source", "message_id", "messaging_message_id")

# Internal ordering and de-duplication columns; dropped before the frames are returned.
_FILE = "_file"  # index of the input file
_POS = "_pos"  # byte offset (or element index) of the value the document came from
_SUB = "_sub"  # index of the document inside that value
_TOP_ID = "_top_id"  # id of the top-level document instance the row came from
_TOP_IN_PROGRESS = "_top_in_progress"  # that document was in progress
_INDEPENDENT = "_independent"  # the top-level document is an independently sent subsegment

_FLOAT_COLUMNS = ("_start_s", "_end_s")
_ROW_SCHEMA: dict[str, pl.DataType] = {
    col.TRACE_ID: pl.String(),
    col.ID: pl.String(),
    col.PARENT_ID: pl.String(),
    col.DOC_ID: pl.String(),
    col.KIND: pl.String(),
    col.TOP: pl.Boolean(),
    col.NAME: pl.String(),
    col.ORIGIN: pl.String(),
    "_start_s": pl.Float64(),
    "_end_s": pl.Float64(),
    col.IN_PROGRESS: pl.Boolean(),
    col.ERROR: pl.Boolean(),
    col.FAULT: pl.Boolean(),
    col.THROTTLE: pl.Boolean(),
    col.HTTP_STATUS: pl.Int64(),
    col.REQUEST_ID: pl.String(),
    col.ARN: pl.String(),
    col.ATTEMPT: pl.Int64(),
    col.CAUSE: pl.String(),
    col.EVENT_SOURCE: pl.String(),
    col.MESSAGE_ID: pl.String(),
    col.RECEIVE_COUNT: pl.Int64(),
    col.SHARD_ID: pl.String(),
    col.SEQUENCE_NUMBER: pl.String(),
    _FILE: pl.Int32(),
    _POS: pl.Int64(),
    _SUB: pl.Int32(),
    _TOP_ID: pl.String(),
    _TOP_IN_PROGRESS: pl.Boolean(),
    _INDEPENDENT: pl.Boolean(),
}
_LINK_ROW_SCHEMA: dict[str, pl.DataType] = {
    col.TRACE_ID: pl.String(),
    col.ID: pl.String(),
    col.DOC_ID: pl.String(),
    col.LINKED_TRACE_ID: pl.String(),
    col.LINKED_ID: pl.String(),
    col.REFERENCE_TYPE: pl.String(),
    col.LINK_TYPE: pl.String(),
    "_dwell_end_s": pl.Float64(),
    _FILE: pl.Int32(),
    _POS: pl.Int64(),
    _SUB: pl.Int32(),
    _TOP_ID: pl.String(),
}


def cause_text(cause: str | Cause | None) -> str | None:
    """``"Type: message"`` of the first exception, the bare exception id, or None."""
    if cause is None or isinstance(cause, str):
        return cause or None
    for exc in cause.exceptions or ():
        if exc.type and exc.message:
            return f"{exc.type}: {exc.message}"
        if exc.type or exc.message:
            return exc.type or exc.message
    return None


def _top_kind(doc: Entity) -> str:
    if doc.type == "subsegment":
        return _sub_kind(doc, allow_service=True, allow_function=True) or col.KIND_SUBSEGMENT
    if doc.inferred:
        return col.KIND_INFERRED
    if doc.origin == "AWS::Lambda":
        return col.KIND_SERVICE
    if doc.origin == "AWS::Lambda::Function":
        return col.KIND_FUNCTION
    return col.KIND_SEGMENT


def _sub_kind(entity: Entity, *, allow_service: bool, allow_function: bool) -> str | None:
    annotations = entity.annotations
    if annotations and any(key in annotations for key in _RECORD_KEYS):
        return col.KIND_RECORD
    name = entity.name
    if allow_service:
        if name == "Dwell Time":
            return col.KIND_DWELL
        if name is not None and name.startswith("Attempt #") and _ATTEMPT.fullmatch(name):
            return col.KIND_ATTEMPT
    if allow_function:
        if name == "Invocation":
            return col.KIND_INVOCATION
        if name == "Initialization":
            return col.KIND_INITIALIZATION
    return None


def _text(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _integer(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


@dataclass
class FrameBuilder:
    """Collects rows from decoded documents into column lists, then builds polars frames."""

    rows: dict[str, list[object]] = field(
        default_factory=lambda: {name: [] for name in _ROW_SCHEMA}
    )
    links: dict[str, list[object]] = field(
        default_factory=lambda: {name: [] for name in _LINK_ROW_SCHEMA}
    )
    documents: int = 0

    def add(self, doc: Entity, *, file: int, pos: int, sub: int) -> None:
        """Add one valid top-level document and the subsegments analyses use."""
        self.documents += 1
        kind = _top_kind(doc)
        top_id = doc.id
        trace_id = doc.trace_id
        independent = doc.type == "subsegment"
        doc_in_progress = doc.in_progress is True
        context = (trace_id, top_id, doc_in_progress, independent, file, pos, sub)
        self._row(doc, kind, True, doc.parent_id, top_id, context)
        allow_service = independent or kind == col.KIND_SERVICE
        allow_function = independent or kind == col.KIND_FUNCTION
        if doc.links:
            self._links(doc, context)
        if not doc.subsegments:
            return
        # (entity, parent id, depth); depth 1 = a direct child of the top-level document.
        stack: list[tuple[Entity, str | None, int]] = [
            (child, top_id, 1) for child in reversed(doc.subsegments)
        ]
        while stack:
            entity, parent_id, depth = stack.pop()
            sub_kind = _sub_kind(
                entity,
                allow_service=allow_service and depth == 1,
                allow_function=allow_function and depth == 1,
            )
            if sub_kind is not None:
                self._row(entity, sub_kind, False, parent_id, top_id, context)
            if entity.links:
                self._links(entity, context)
            if entity.subsegments:
                stack.extend((child, entity.id, depth + 1) for child in reversed(entity.subsegments))

    def _row(
        self,
        entity: Entity,
        kind: str,
        top: bool,
        parent_id: str | None,
        doc_id: str | None,
        context: tuple[str | None, str | None, bool, bool, int, int, int],
    ) -> None:
        trace_id, top_id, doc_in_progress, independent, file, pos, sub = context
        rows = self.rows
        annotations = entity.annotations if kind == col.KIND_RECORD else None
        http = entity.http
        response = http.response if http is not None else None
        aws = entity.aws
        attempt = None
        if kind == col.KIND_ATTEMPT and entity.name is not None:
            match = _ATTEMPT.fullmatch(entity.name)
            attempt = int(match.group(1)) if match else None
        arn = entity.resource_arn
        if arn is None and aws is not None:
            arn = aws.function_arn
        in_progress = entity.in_progress is True
        rows[col.TRACE_ID].append(trace_id)
        rows[col.ID].append(entity.id)
        rows[col.PARENT_ID].append(parent_id)
        rows[col.DOC_ID].append(doc_id)
        rows[col.KIND].append(kind)
        rows[col.TOP].append(top)
        rows[col.NAME].append(entity.name)
        rows[col.ORIGIN].append(entity.origin)
        rows["_start_s"].append(entity.start_time)
        rows["_end_s"].append(None if in_progress else entity.end_time)
        rows[col.IN_PROGRESS].append(in_progress or entity.end_time is None)
        rows[col.ERROR].append(entity.error is True)
        rows[col.FAULT].append(entity.fault is True)
        rows[col.THROTTLE].append(entity.throttle is True)
        rows[col.HTTP_STATUS].append(response.status if response is not None else None)
        rows[col.REQUEST_ID].append(aws.request_id if aws is not None else None)
        rows[col.ARN].append(arn)
        rows[col.ATTEMPT].append(attempt)
        rows[col.CAUSE].append(cause_text(entity.cause))
        if annotations:
            message_id = annotations.get("message_id", annotations.get("messaging_message_id"))
            rows[col.EVENT_SOURCE].append(_text(annotations.get("event_source")))
            rows[col.MESSAGE_ID].append(_text(message_id))
            rows[col.RECEIVE_COUNT].append(_integer(annotations.get("receive_count")))
            rows[col.SHARD_ID].append(_text(annotations.get("shard_id")))
            rows[col.SEQUENCE_NUMBER].append(_text(annotations.get("sequence_number")))
        else:
            for name in (
                col.EVENT_SOURCE,
                col.MESSAGE_ID,
                col.RECEIVE_COUNT,
                col.SHARD_ID,
                col.SEQUENCE_NUMBER,
            ):
                rows[name].append(None)
        rows[_FILE].append(file)
        rows[_POS].append(pos)
        rows[_SUB].append(sub)
        rows[_TOP_ID].append(top_id)
        rows[_TOP_IN_PROGRESS].append(doc_in_progress)
        rows[_INDEPENDENT].append(independent)

    def _links(
        self, entity: Entity, context: tuple[str | None, str | None, bool, bool, int, int, int]
    ) -> None:
        trace_id, top_id, _, _, file, pos, sub = context
        links = self.links
        for link in entity.links or ():
            attributes = link.attributes or {}
            links[col.TRACE_ID].append(trace_id)
            links[col.ID].append(entity.id)
            links[col.DOC_ID].append(top_id)
            links[col.LINKED_TRACE_ID].append(link.trace_id)
            links[col.LINKED_ID].append(link.id)
            links[col.REFERENCE_TYPE].append(
                _text(attributes.get("aws.xray.reserved.reference_type"))
            )
            links[col.LINK_TYPE].append(_text(attributes.get("aws.xray.reserved.type")))
            links["_dwell_end_s"].append(_number(attributes.get("aws.xray.reserved.dwell_end_time")))
            links[_FILE].append(file)
            links[_POS].append(pos)
            links[_SUB].append(sub)
            links[_TOP_ID].append(top_id)

    def take(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Return the collected rows as raw frames and start over with empty lists."""
        rows = pl.DataFrame(
            {name: pl.Series(name, values, dtype=_ROW_SCHEMA[name]) for name, values in self.rows.items()}
        )
        links = pl.DataFrame(
            {
                name: pl.Series(name, values, dtype=_LINK_ROW_SCHEMA[name])
                for name, values in self.links.items()
            }
        )
        for values in (*self.rows.values(), *self.links.values()):
            values.clear()
        return rows, links


def _seconds_to_time(name: str, alias: str) -> pl.Expr:
    return (pl.col(name) * 1_000_000).round().cast(pl.Int64).cast(col.TIME).alias(alias)


@dataclass(frozen=True, slots=True)
class Part:
    """What one reader produced: raw rows, raw links, and its counts."""

    rows: pl.DataFrame
    links: pl.DataFrame
    documents: int
    rejected: int
    rejections: tuple[Rejection, ...]


def finish(parts: Sequence[Part], *, files: Sequence[str]) -> TraceFrames:
    """Merge reader parts: remove duplicates, attach independent subsegments, type the columns.

    Duplicates follow report-contract.md: a document whose (trace_id, id) was already read is
    dropped; a complete document always wins over an in-progress one, and between two complete
    ones the first read wins.
    """
    rows = pl.concat([part.rows for part in parts]) if parts else _empty(_ROW_SCHEMA)
    links = pl.concat([part.links for part in parts]) if parts else _empty(_LINK_ROW_SCHEMA)
    instance = [col.TRACE_ID, _TOP_ID, _FILE, _POS, _SUB]
    tops = rows.filter(pl.col(col.TOP))
    winners = (
        tops.sort([_TOP_IN_PROGRESS, _FILE, _POS, _SUB])
        .unique(subset=[col.TRACE_ID, col.ID], keep="first", maintain_order=True)
        .select(instance)
    )
    duplicates = tops.height - winners.height
    if duplicates:
        rows = rows.join(winners, on=instance, how="semi")
        links = links.join(winners, on=instance, how="semi")
    rows = _attach_independent(rows)
    entities = (
        rows.sort([_FILE, _POS, _SUB])
        .with_columns(_seconds_to_time("_start_s", col.START), _seconds_to_time("_end_s", col.END))
        .select(list(col.ENTITIES))
    )
    link_frame = (
        links.sort([_FILE, _POS, _SUB])
        .with_columns(_seconds_to_time("_dwell_end_s", col.DWELL_END))
        .join(
            rows.select(col.TRACE_ID, _TOP_ID, pl.col(col.DOC_ID).alias("_resolved")).unique(
                subset=[col.TRACE_ID, _TOP_ID], keep="first", maintain_order=True
            ),
            on=[col.TRACE_ID, _TOP_ID],
            how="left",
            maintain_order="left",
        )
        .with_columns(pl.coalesce("_resolved", col.DOC_ID).alias(col.DOC_ID))
        .select(list(col.LINKS))
    )
    stats = IngestStats(
        files=tuple(sorted(files)),
        documents=sum(part.documents for part in parts),
        duplicates=duplicates,
        rejected=sum(part.rejected for part in parts),
        rejections=tuple(r for part in parts for r in part.rejections)[:100],
    )
    return TraceFrames(entities=entities, links=link_frame, stats=stats)


def _attach_independent(rows: pl.DataFrame) -> pl.DataFrame:
    """Point rows of independently sent subsegments at the segment that contains their parent.

    The parent may itself be an independent subsegment, so the lookup repeats until nothing
    changes (bounded by the number of independent documents).
    """
    independent = rows.filter(pl.col(_INDEPENDENT) & pl.col(col.TOP))
    if independent.is_empty():
        return rows
    owners = rows.filter(~pl.col(_INDEPENDENT)).select(
        col.TRACE_ID, pl.col(col.ID).alias("_parent"), pl.col(col.DOC_ID).alias("_owner")
    ).unique(subset=[col.TRACE_ID, "_parent"], keep="first", maintain_order=True)
    # map: (trace, independent top id) -> owner segment id
    pending = independent.select(col.TRACE_ID, pl.col(col.ID).alias("_top"), pl.col(col.PARENT_ID))
    resolved = pl.DataFrame(
        schema={col.TRACE_ID: pl.String, "_top": pl.String, "_owner": pl.String}
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
    resolved = resolved.unique(subset=[col.TRACE_ID, "_top"], keep="first", maintain_order=True)
    return (
        rows.join(
            resolved,
            left_on=[col.TRACE_ID, col.DOC_ID],
            right_on=[col.TRACE_ID, "_top"],
            how="left",
            maintain_order="left",
        )
        .with_columns(pl.coalesce("_owner", col.DOC_ID).alias(col.DOC_ID))
        .drop("_owner")
    )


def _empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)
