"""Flatten decoded documents into entity and link rows, in batches (``FrameBuilder``).

Only the entities analyses use become rows (see ``tracelens.model.schema``): every top-level
document, and the ``Dwell Time`` / ``Attempt #N`` subsegments of Lambda service segments, the
``Initialization`` / ``Invocation`` subsegments of function segments, and subsegments carrying
record annotations, at any depth. Walking is iterative, so no document depth can overflow the
stack. Merging the batches of all readers into TraceFrames is ``tracelens.ingest.merge``.
"""

from __future__ import annotations

import re

import msgspec
import polars as pl

from tracelens.model import schema as col
from tracelens.model.segment import CHILDREN_DECODER, Cause, Child, Entity

_ATTEMPT = re.compile(r"Attempt #(\d+)")

# Internal ordering and de-duplication columns; dropped before the frames are returned.
FILE = "_file"  # index of the input file
POS = "_pos"  # byte offset (or element index) of the value the document came from
SUB = "_sub"  # index of the document inside that value
TOP_IN_PROGRESS = "_top_in_progress"  # that document was in progress
INDEPENDENT = "_independent"  # the top-level document is an independently sent subsegment

# Times as X-Ray's float epoch seconds, as the builder collects them; converted in ``take``.
_START_S = "_start_s"
_END_S = "_end_s"
_DWELL_END_S = "_dwell_end_s"
_SECONDS: dict[str, pl.DataType] = {_START_S: pl.Float64(), _END_S: pl.Float64()}

# Rows as reader batches hold them: the entity columns plus the internal ones. DOC_ID is the
# id of the top-level document the row was read from until ``merge.finish`` attaches independent
# subsegments to their owners.
ROW_SCHEMA: dict[str, pl.DataType] = {
    **{name: dtype for name, dtype in col.ENTITIES.items() if name != col.TOP},
    col.TOP: pl.Boolean(),
    FILE: pl.Int32(),
    POS: pl.Int64(),
    SUB: pl.Int32(),
    TOP_IN_PROGRESS: pl.Boolean(),
    INDEPENDENT: pl.Boolean(),
}
_LINK_ROW_SCHEMA: dict[str, pl.DataType] = {
    **col.LINKS,
    FILE: pl.Int32(),
    POS: pl.Int64(),
    SUB: pl.Int32(),
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


def _has_record_key(annotations: dict[str, object]) -> bool:
    return (
        "event_source" in annotations
        or "message_id" in annotations
        or "messaging_message_id" in annotations
    )


def _sub_kind(entity: Entity | Child, *, allow_service: bool, allow_function: bool) -> str | None:
    annotations = entity.annotations
    if annotations and _has_record_key(annotations):
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


def _worth_decoding(raw: bytes) -> bool:
    """Whether undecoded nested subsegments hold record annotations or links.

    A plain substring test is an order of magnitude faster than a regex alternation.
    """
    return b"event_source" in raw or b"message_id" in raw or b'"links"' in raw


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


def _columns(*names: str) -> dict[str, pl.DataType]:
    """A batch layout: the per-builder document index, then the named row columns."""
    known = {**ROW_SCHEMA, **_SECONDS}
    # The builder collects plain text; categorical columns are cast when a batch is taken.
    return {"_doc": pl.Int64(), **{name: _collected(known[name]) for name in names}}


def _collected(dtype: pl.DataType) -> pl.DataType:
    return pl.String() if isinstance(dtype, pl.Categorical | pl.Enum) else dtype


# Tuple layouts of FrameBuilder's lists (the order of the values in each tuple).
_DOC_COLUMNS = _columns(
    col.TRACE_ID, col.ID, col.PARENT_ID, col.KIND, col.NAME, col.ORIGIN, _START_S, _END_S,
    col.IN_PROGRESS, col.ERROR, col.FAULT, col.THROTTLE, col.HTTP_STATUS, col.REQUEST_ID,
    col.ARN, col.CAUSE, FILE, POS, SUB, TOP_IN_PROGRESS, INDEPENDENT, col.OPERATION,
)  # fmt: skip
_SUB_COLUMNS = _columns(
    col.ID, col.PARENT_ID, col.KIND, col.NAME, _START_S, _END_S, col.IN_PROGRESS,
    col.ERROR, col.FAULT, col.THROTTLE, col.ATTEMPT, col.CAUSE, col.EVENT_SOURCE,
    col.MESSAGE_ID, col.RECEIVE_COUNT, col.SHARD_ID, col.SEQUENCE_NUMBER,
)  # fmt: skip
_LINK_COLUMNS: dict[str, pl.DataType] = {
    "_doc": pl.Int64(),
    col.ID: pl.String(),
    col.LINKED_TRACE_ID: pl.String(),
    col.LINKED_ID: pl.String(),
    col.REFERENCE_TYPE: pl.String(),
    col.LINK_TYPE: pl.String(),
    _DWELL_END_S: pl.Float64(),
}


def _annotation_fields(
    annotations: dict[str, object],
) -> tuple[str | None, str | None, int | None, str | None, str | None]:
    message_id = annotations.get("message_id", annotations.get("messaging_message_id"))
    return (
        _text(annotations.get("event_source")),
        _text(message_id),
        _integer(annotations.get("receive_count")),
        _text(annotations.get("shard_id")),
        _text(annotations.get("sequence_number")),
    )


_NO_ANNOTATIONS = (None, None, None, None, None)


class FrameBuilder:
    """Collects rows from decoded documents as tuples, then builds polars frames in batches.

    Top-level documents, subsegment rows and links are kept in three lists of tuples that share
    a per-builder document index; ``take`` joins the document's trace id and ordering fields
    onto its subsegment rows in polars.
    """

    def __init__(self) -> None:
        self.docs: list[tuple[object, ...]] = []
        self.subs: list[tuple[object, ...]] = []
        self.links: list[tuple[object, ...]] = []
        self.documents = 0

    @property
    def pending(self) -> int:
        """Rows collected since the last ``take``."""
        return len(self.docs) + len(self.subs)

    def add(self, doc: Entity, *, file: int, pos: int, sub: int) -> None:
        """Add one valid top-level document and the subsegments analyses use."""
        index = self.documents
        self.documents += 1
        kind = _top_kind(doc)
        independent = doc.type == "subsegment"
        in_progress = doc.in_progress is True or doc.end_time is None
        aws = doc.aws
        http = doc.http
        response = http.response if http is not None else None
        arn = doc.resource_arn
        if arn is None and aws is not None:
            arn = aws.function_arn
        self.docs.append(
            (
                index,
                doc.trace_id,
                doc.id,
                doc.parent_id,
                kind,
                doc.name,
                doc.origin,
                doc.start_time,
                None if in_progress else doc.end_time,
                in_progress,
                doc.error is True,
                doc.fault is True,
                doc.throttle is True,
                response.status if response is not None else None,
                aws.request_id if aws is not None else None,
                arn,
                cause_text(doc.cause),
                file,
                pos,
                sub,
                doc.in_progress is True,
                independent,
                aws.operation if aws is not None else None,
            )
        )
        if kind == col.KIND_RECORD and doc.annotations:
            # An independently sent record subsegment: its annotations go on a sub row.
            self._sub(index, doc, doc.parent_id, kind)
        if doc.links:
            self._links(index, doc)
        if not doc.subsegments:
            return
        allow_service = independent or kind == col.KIND_SERVICE
        allow_function = independent or kind == col.KIND_FUNCTION
        typed = allow_service or allow_function
        parent_id = doc.id
        # Direct children first-hand (the common case needs no stack), each followed by its
        # own descendants, so rows come in the same depth-first order at any depth.
        for child in doc.subsegments:
            annotations = child.annotations
            if annotations and _has_record_key(annotations):
                self._sub(index, child, parent_id, col.KIND_RECORD)
            elif typed:
                sub_kind = _sub_kind(
                    child, allow_service=allow_service, allow_function=allow_function
                )
                if sub_kind is not None:
                    self._sub(index, child, parent_id, sub_kind)
            if child.links:
                self._links(index, child)
            if child.subsegments:
                self._descend(index, child)

    def _descend(self, index: int, entity: Entity | Child) -> None:
        """Rows for record subsegments and links below ``entity`` (depth 2 and deeper)."""
        # (entity, parent id); walking is iterative so no depth overflows the stack.
        stack: list[tuple[Entity | Child, str | None]] = [(entity, None)]
        pop = stack.pop
        while stack:
            current, parent_id = pop()
            if current is not entity:
                annotations = current.annotations
                if annotations and _has_record_key(annotations):
                    self._sub(index, current, parent_id, col.KIND_RECORD)
                if current.links:
                    self._links(index, current)
            raw = current.subsegments
            if not isinstance(raw, msgspec.Raw) or not raw or not _worth_decoding(bytes(raw)):
                continue
            try:
                children = CHILDREN_DECODER.decode(raw)
            except (msgspec.DecodeError, RecursionError):
                continue  # the document is valid; only these deep parts are unusable
            current_id = current.id
            stack.extend((child, current_id) for child in reversed(children))

    def _sub(self, index: int, entity: Entity | Child, parent_id: str | None, kind: str) -> None:
        attempt = None
        if kind == col.KIND_ATTEMPT and entity.name is not None:
            match = _ATTEMPT.fullmatch(entity.name)
            attempt = int(match.group(1)) if match else None
        in_progress = entity.in_progress is True or entity.end_time is None
        annotations = entity.annotations
        fields = (
            _annotation_fields(annotations)
            if kind == col.KIND_RECORD and annotations
            else _NO_ANNOTATIONS
        )
        self.subs.append(
            (
                index,
                entity.id,
                parent_id,
                kind,
                entity.name,
                entity.start_time,
                None if in_progress else entity.end_time,
                in_progress,
                entity.error is True,
                entity.fault is True,
                entity.throttle is True,
                attempt,
                cause_text(entity.cause),
                *fields,
            )
        )

    def _links(self, index: int, entity: Entity | Child) -> None:
        for link in entity.links or ():
            attributes = link.attributes or {}
            self.links.append(
                (
                    index,
                    entity.id,
                    link.trace_id,
                    link.id,
                    _text(attributes.get("aws.xray.reserved.reference_type")),
                    _text(attributes.get("aws.xray.reserved.type")),
                    _number(attributes.get("aws.xray.reserved.dwell_end_time")),
                )
            )

    def take(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Return the collected rows as raw frames and start over with empty lists."""
        docs = pl.DataFrame(self.docs, schema=_DOC_COLUMNS, orient="row")
        subs = pl.DataFrame(self.subs, schema=_SUB_COLUMNS, orient="row")
        links = pl.DataFrame(self.links, schema=_LINK_COLUMNS, orient="row")
        self.docs, self.subs, self.links = [], [], []
        owner = docs.select(
            "_doc",
            col.TRACE_ID,
            pl.col(col.ID).alias(col.DOC_ID),
            FILE,
            POS,
            SUB,
            TOP_IN_PROGRESS,
            INDEPENDENT,
        )
        tops = docs.with_columns(pl.col(col.ID).alias(col.DOC_ID), pl.lit(True).alias(col.TOP))
        nested = subs.join(owner, on="_doc", how="left", maintain_order="left").with_columns(
            pl.lit(False).alias(col.TOP)
        )
        # Each document's rows together, in reading order: batches cover contiguous parts of
        # the input (files, then byte ranges), so the concatenated frame has the same row order
        # however many readers ran.
        rows = (
            pl.concat([tops, nested], how="diagonal_relaxed")
            .sort(
                [FILE, POS, SUB, col.TOP],
                descending=[False, False, False, True],
                maintain_order=True,
            )
            .with_columns(_seconds_to_time(_START_S, col.START), _seconds_to_time(_END_S, col.END))
            .select([pl.col(name).cast(dtype) for name, dtype in ROW_SCHEMA.items()])
        )
        link_rows = (
            links.join(owner, on="_doc", how="left", maintain_order="left")
            .with_columns(_seconds_to_time(_DWELL_END_S, col.DWELL_END))
            .select([pl.col(name).cast(dtype) for name, dtype in _LINK_ROW_SCHEMA.items()])
        )
        return rows, link_rows


def _seconds_to_time(name: str, alias: str) -> pl.Expr:
    return (pl.col(name) * 1_000_000).round().cast(pl.Int64).cast(col.TIME).alias(alias)
