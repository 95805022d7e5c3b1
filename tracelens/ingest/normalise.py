"""Flatten decoded documents into entity and link rows, in batches (``FrameBuilder``).

Only the entities analyses use become rows (see ``tracelens.model.schema``): every top-level
document, and the ``Dwell Time`` / ``Attempt #N`` subsegments of Lambda service segments, the
``Initialization`` / ``Invocation`` subsegments of function segments, and subsegments carrying
record annotations or calling Lambda (an AWS SDK ``Lambda`` Invoke: the caller's side of a
request), at any depth. Walking is iterative, so no document depth can overflow the
stack. Merging the batches of all readers into TraceFrames is ``tracelens.ingest.merge``.
"""

from __future__ import annotations

import re

import msgspec
import polars as pl

from tracelens.model import schema as col
from tracelens.model.segment import (
    CHILDREN_DECODER,
    NOTES_DECODER,
    Cause,
    Child,
    Entity,
    SpanEntity,
)

_ATTEMPT = re.compile(r"Attempt #(\d+)")

# Internal ordering and de-duplication columns; dropped before the frames are returned.
FILE = "_file"  # index of the input file
POS = "_pos"  # byte offset (or element index) of the value the document came from
SUB = "_sub"  # index of the document inside that value
TOP_IN_PROGRESS = "_top_in_progress"  # that document was in progress
INDEPENDENT = "_independent"  # the top-level document is an independently sent subsegment
FORM = "_form"  # what the top-level document was read from: one of the FORM_* values
FORM_DOCUMENT = 0  # an X-Ray document
FORM_SPAN = 1  # an OpenTelemetry span
FORM_SDK_INVOCATION = 2  # an SDK span taken for an invocation (SpanEntity.sdk_invocation)

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
    FORM: pl.Int8(),
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
        # The kind a nested subsegment of that name would have somewhere; the merge keeps a
        # dwell, attempt, initialization or invocation only under the segment it belongs to.
        annotations = doc.annotations
        if annotations and _has_record_key(annotations):
            return col.KIND_RECORD
        if doc.__class__ is SpanEntity and doc.record:
            return col.KIND_RECORD
        if doc.name == "Lambda" and _is_call(doc):
            return col.KIND_CALL
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


def _is_call(child: Entity | Child) -> bool:
    """Whether a subsegment is a caller's AWS SDK call that asked Lambda to run a function."""
    if child.name != "Lambda" or child.namespace != "aws":
        return False
    operation = child.aws.operation if child.aws is not None else None
    return operation is None or operation in col.INVOKE_OPERATIONS


def _record_fields(doc: Entity) -> dict[str, object]:
    """The record annotations of an independent subsegment (or of an SDK consumer span)."""
    fields = dict(doc.annotations or {})
    if doc.__class__ is SpanEntity:
        fields.update(doc.record or {})
    return fields


def _attempt_number(name: str) -> int | None:
    match = _ATTEMPT.fullmatch(name)
    return _int64(int(match.group(1))) if match else None


def _worth_decoding(raw: bytes) -> bool:
    """Whether undecoded nested subsegments hold annotations (record annotations, business
    keys for filters), links or Lambda calls.

    A plain substring test is an order of magnitude faster than a regex alternation.
    """
    return b'"annotations"' in raw or b'"links"' in raw or b'"Lambda"' in raw


def _has_rows(raw: bytes) -> bool:
    """Whether undecoded subsegments may hold record subsegments, links or Lambda calls (rows
    of their own), beyond annotations."""
    return b"event_source" in raw or b"message_id" in raw or b'"links"' in raw or b'"Lambda"' in raw


def _collect_annotations(raw: bytes, into: list[dict[str, object]]) -> None:
    """Append the annotations of the subsegments in ``raw`` and below them (iteratively)."""
    stack = [raw]
    while stack:
        try:
            children = NOTES_DECODER.decode(stack.pop())
        except (msgspec.DecodeError, RecursionError):
            continue  # the document is valid; only these deep parts are unusable
        for child in children:
            if child.annotations:
                into.append(child.annotations)
            deeper = child.subsegments
            if deeper and b'"annotations"' in bytes(deeper):
                stack.append(bytes(deeper))


def _encoded_annotations(notes: list[dict[str, object]]) -> str | None:
    """The JSON text of a document's annotation objects (values of any type: readers keep
    the strings, numbers and booleans X-Ray can index), or None."""
    return msgspec.json.encode(notes).decode() if notes else None


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
        return _int64(value)
    if isinstance(value, float) and value.is_integer():
        return _int64(int(value))
    if isinstance(value, str) and value.strip().isdigit():
        return _int64(int(value))
    return None


def _int64(value: int) -> int | None:
    """``value`` if a 64-bit integer column can hold it, else None (unknown)."""
    return value if -(2**63) <= value < 2**63 else None


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _collected(dtype: pl.DataType) -> pl.DataType:
    # The builder collects plain text; categorical columns are cast when a batch is taken.
    return pl.String() if isinstance(dtype, pl.Categorical | pl.Enum) else dtype


def _layout(schema: dict[str, pl.DataType], seconds: tuple[str, ...]) -> dict[str, pl.DataType]:
    """The columns of a batch as the builder collects them: text, and times as float seconds."""
    return {
        name: pl.Float64() if name in seconds else _collected(dtype)
        for name, dtype in schema.items()
    }


# The tuples FrameBuilder collects hold one value per column of these layouts, in this order.
_ROW_LAYOUT = _layout(ROW_SCHEMA, (col.START, col.END))
_LINK_LAYOUT = _layout(_LINK_ROW_SCHEMA, (col.DWELL_END,))
_ROW_WIDTH = len(_ROW_LAYOUT)
_ANNOTATIONS_AT = list(_ROW_LAYOUT).index(col.ANNOTATIONS)
_ROW_CASTS = [pl.col(name).cast(dtype) for name, dtype in ROW_SCHEMA.items()]
_LINK_CASTS = [pl.col(name).cast(dtype) for name, dtype in _LINK_ROW_SCHEMA.items()]


#: event_source, message_id, receive_count, shard_id, sequence_number of a record row.
_RecordFields = tuple[str | None, str | None, int | None, str | None, str | None]


def _annotation_fields(annotations: dict[str, object]) -> _RecordFields:
    message_id = annotations.get("message_id", annotations.get("messaging_message_id"))
    return (
        _text(annotations.get("event_source")),
        _text(message_id),
        _integer(annotations.get("receive_count")),
        _text(annotations.get("shard_id")),
        _text(annotations.get("sequence_number")),
    )


_NO_ANNOTATIONS: _RecordFields = (None, None, None, None, None)


class FrameBuilder:
    """Collects rows from decoded documents as flat lists of values, then builds polars frames
    in batches.

    Each entity row is ``len(_ROW_LAYOUT)`` consecutive values of ``rows`` in ``ROW_SCHEMA``
    column order (times as float seconds), a subsegment's row carrying its document's trace id
    and ordering fields; each link row likewise in ``links``. A flat list holds no object per
    row for the garbage collector to visit, and ``take`` cuts it into columns with slices. A
    document's rows follow it directly, so a batch whose documents came in reading order needs
    no sorting.
    """

    def __init__(self) -> None:
        self.rows: list[object] = []
        self.links: list[object] = []
        self.documents = 0
        # The (file, pos, sub) of the last document, and whether every document of the batch
        # came after the one before it.
        self._last: tuple[int, int, int] | None = None
        self._ordered = True
        # The annotation objects of the current document and its subsegments, in order.
        self._notes: list[dict[str, object]] = []
        # The fields every row of the current document repeats (see ``_owner``).
        self._owner: tuple[str | None, str | None, int, int, int, bool, bool, int] = (
            None, None, 0, 0, 0, False, False, FORM_DOCUMENT,
        )  # fmt: skip

    @property
    def pending(self) -> int:
        """Rows collected since the last ``take``."""
        return len(self.rows) // _ROW_WIDTH

    def add(self, doc: Entity, *, file: int, pos: int, sub: int) -> None:
        """Add one valid top-level document and the subsegments analyses use."""
        self.documents += 1
        key = (file, pos, sub)
        last = self._last
        if last is not None and key <= last:
            self._ordered = False
        self._last = key
        trace_id = doc.trace_id
        doc_id = doc.id
        kind = _top_kind(doc)
        independent = doc.type == "subsegment"
        form = FORM_DOCUMENT
        if doc.__class__ is SpanEntity:
            form = FORM_SDK_INVOCATION if doc.sdk_invocation else FORM_SPAN
        top_in_progress = doc.in_progress is True
        in_progress = top_in_progress or doc.end_time is None
        aws = doc.aws
        http = doc.http
        response = http.response if http is not None else None
        request = http.request if http is not None else None
        arn = doc.resource_arn
        if arn is None and aws is not None:
            arn = aws.function_arn
        attempt = None
        record = _NO_ANNOTATIONS
        if independent:
            # The fields a nested row of that kind has (the merge may turn this row into one).
            if kind == col.KIND_ATTEMPT and doc.name is not None:
                attempt = _attempt_number(doc.name)
            elif kind == col.KIND_RECORD:
                record = _annotation_fields(_record_fields(doc))
        event_source, message_id, receive_count, shard_id, sequence_number = record
        self.rows.extend(
            (
                trace_id,
                doc_id,
                doc.parent_id,
                doc_id,
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
                attempt,
                None if doc.cause is None else cause_text(doc.cause),
                event_source,
                message_id,
                receive_count,
                shard_id,
                sequence_number,
                aws.operation if aws is not None else None,
                request.url if request is not None else None,
                request.method if request is not None else None,
                None,  # annotations: filled in below, once the whole document is walked
                True,
                file,
                pos,
                sub,
                top_in_progress,
                independent,
                form,
            )
        )
        self._owner = (trace_id, doc_id, file, pos, sub, top_in_progress, independent, form)
        top = len(self.rows) - _ROW_WIDTH + _ANNOTATIONS_AT
        notes: list[dict[str, object]] = []
        self._notes = notes
        if doc.annotations:
            notes.append(doc.annotations)
        if doc.__class__ is SpanEntity and doc.cold_start:
            # faas.coldstart: the invocation was a cold start; how long init took is unknown,
            # so the row takes no time.
            self._sub(
                Child(name="Initialization", start_time=doc.start_time, end_time=doc.start_time),
                doc_id,
                col.KIND_INITIALIZATION,
            )
        if doc.links:
            self._links(doc)
        if doc.subsegments:
            self._children(doc, doc.subsegments, kind=kind, independent=independent)
        if notes:
            self.rows[top] = _encoded_annotations(notes)

    def _children(
        self, doc: Entity, children: list[Child], *, kind: str, independent: bool
    ) -> None:
        doc_id = doc.id
        notes = self._notes
        allow_service = independent or kind == col.KIND_SERVICE
        allow_function = independent or kind == col.KIND_FUNCTION
        typed = allow_service or allow_function
        # Direct children first-hand (the common case needs no stack), each followed by its
        # own descendants, so rows come in the same depth-first order at any depth.
        for child in children:
            annotations = child.annotations
            if annotations:
                notes.append(annotations)
            if annotations and _has_record_key(annotations):
                self._sub(child, doc_id, col.KIND_RECORD)
            elif child.name == "Lambda" and _is_call(child):
                self._sub(child, doc_id, col.KIND_CALL)
            elif typed:
                sub_kind = _sub_kind(
                    child, allow_service=allow_service, allow_function=allow_function
                )
                if sub_kind is not None:
                    self._sub(child, doc_id, sub_kind)
            if child.links:
                self._links(child)
            raw = child.subsegments
            if raw and _worth_decoding(bytes(raw)):
                self._descend(child)

    def _descend(self, entity: Child) -> None:
        """Rows for record subsegments and links below ``entity`` (depth 2 and deeper)."""
        # (entity, parent id); walking is iterative so no depth overflows the stack.
        stack: list[tuple[Child, str | None]] = [(entity, None)]
        pop = stack.pop
        while stack:
            current, parent_id = pop()
            if current is not entity:
                annotations = current.annotations
                if annotations:
                    self._notes.append(annotations)
                if annotations and _has_record_key(annotations):
                    self._sub(current, parent_id, col.KIND_RECORD)
                elif current.name == "Lambda" and _is_call(current):
                    self._sub(current, parent_id, col.KIND_CALL)
                if current.links:
                    self._links(current)
            raw = current.subsegments
            if not raw:
                continue
            data = bytes(raw)
            if not _worth_decoding(data):
                continue
            if not _has_rows(data):
                # Annotations only (the common case: a handler subsegment's business keys):
                # a decoder that reads nothing else.
                _collect_annotations(data, self._notes)
                continue
            try:
                children = CHILDREN_DECODER.decode(raw)
            except (msgspec.DecodeError, RecursionError):
                continue  # the document is valid; only these deep parts are unusable
            current_id = current.id
            stack.extend((child, current_id) for child in reversed(children))

    def _sub(self, entity: Entity | Child, parent_id: str | None, kind: str) -> None:
        attempt = None
        if kind == col.KIND_ATTEMPT and entity.name is not None:
            attempt = _attempt_number(entity.name)
        in_progress = entity.in_progress is True or entity.end_time is None
        annotations = entity.annotations
        event_source, message_id, receive_count, shard_id, sequence_number = (
            _annotation_fields(annotations)
            if kind == col.KIND_RECORD and annotations
            else _NO_ANNOTATIONS
        )
        operation = None
        if kind == col.KIND_CALL and isinstance(entity, Child) and entity.aws is not None:
            operation = entity.aws.operation
        trace_id, doc_id, file, pos, sub, top_in_progress, independent, form = self._owner
        self.rows.extend(
            (
                trace_id,
                entity.id,
                parent_id,
                doc_id,
                kind,
                entity.name,
                None,
                entity.start_time,
                None if in_progress else entity.end_time,
                in_progress,
                entity.error is True,
                entity.fault is True,
                entity.throttle is True,
                None,
                None,
                None,
                attempt,
                None if entity.cause is None else cause_text(entity.cause),
                event_source,
                message_id,
                receive_count,
                shard_id,
                sequence_number,
                operation,
                None,
                None,
                None,
                False,
                file,
                pos,
                sub,
                top_in_progress,
                independent,
                form,
            )
        )

    def _links(self, entity: Entity | Child) -> None:
        trace_id, doc_id, file, pos, sub, _, _, _ = self._owner
        for link in entity.links or ():
            attributes = link.attributes or {}
            self.links.extend(
                (
                    trace_id,
                    entity.id,
                    doc_id,
                    link.trace_id,
                    link.id,
                    _text(attributes.get("aws.xray.reserved.reference_type")),
                    _text(attributes.get("aws.xray.reserved.type")),
                    _number(attributes.get("aws.xray.reserved.dwell_end_time")),
                    file,
                    pos,
                    sub,
                )
            )

    def take(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Return the collected rows as raw frames and start over with empty lists."""
        rows = _frame(self.rows, _ROW_LAYOUT)
        links = _frame(self.links, _LINK_LAYOUT)
        ordered = self._ordered
        self.rows, self.links = [], []
        self._last, self._ordered = None, True
        if not ordered:
            # Each document's rows together, in reading order: batches cover contiguous parts
            # of the input (files, then byte ranges), so the concatenated frame has the same
            # row order however many readers ran.
            rows = rows.sort(
                [FILE, POS, SUB, col.TOP],
                descending=[False, False, False, True],
                maintain_order=True,
            )
        rows = rows.with_columns(
            _seconds_to_time(col.START, col.START), _seconds_to_time(col.END, col.END)
        ).select(_ROW_CASTS)
        links = links.with_columns(_seconds_to_time(col.DWELL_END, col.DWELL_END)).select(
            _LINK_CASTS
        )
        return rows, links


def _frame(values: list[object], layout: dict[str, pl.DataType]) -> pl.DataFrame:
    """A frame of the rows in ``values`` (one value of each ``layout`` column after another)."""
    width = len(layout)
    return pl.DataFrame(
        [
            pl.Series(name, values[index::width], dtype=dtype)
            for index, (name, dtype) in enumerate(layout.items())
        ]
    )


def _seconds_to_time(name: str, alias: str) -> pl.Expr:
    return (pl.col(name) * 1_000_000).round().cast(pl.Int64).cast(col.TIME).alias(alias)
