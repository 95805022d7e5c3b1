"""Factories that build TraceFrames from small hand-written entity rows."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from tracelens.model import schema as col
from tracelens.model.frames import TraceFrames

T0 = datetime(2026, 11, 28, 1, 0, 0, tzinfo=UTC)
FN_ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"


def at(seconds: float) -> datetime:
    """T0 plus some seconds."""
    return T0 + timedelta(seconds=seconds)


@dataclass
class TraceBuilder:
    """Collects entity and link rows; ids are generated deterministically."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def new_id(self) -> str:
        return f"{next(self._ids) + 1:016x}"

    def row(self, **values: Any) -> str:
        entity_id = values.pop("id", None) or self.new_id()
        base: dict[str, Any] = dict.fromkeys(col.ENTITIES.names())
        base.update(
            {
                col.ID: entity_id,
                col.ERROR: False,
                col.FAULT: False,
                col.THROTTLE: False,
                col.IN_PROGRESS: False,
                col.TOP: False,
            }
        )
        base.update(values)
        if base[col.DOC_ID] is None:
            base[col.DOC_ID] = entity_id
        self.rows.append(base)
        return entity_id

    def service(
        self,
        fn: str,
        trace: str,
        start: float,
        end: float | None,
        *,
        request_id: str,
        parent_id: str | None = None,
        status: int = 200,
        in_progress: bool = False,
    ) -> str:
        return self.row(
            trace_id=trace,
            kind=col.KIND_SERVICE,
            top=True,
            name=fn,
            origin="AWS::Lambda",
            start=at(start),
            end=None if end is None else at(end),
            in_progress=in_progress,
            http_status=status,
            request_id=request_id,
            parent_id=parent_id,
            arn=FN_ARN.format(fn),
        )

    def function(
        self,
        fn: str,
        trace: str,
        parent: str,
        start: float,
        end: float | None,
        *,
        cold: bool = False,
        error: bool = False,
        cause: str | None = None,
        throttle: bool = False,
        in_progress: bool = False,
    ) -> str:
        fid = self.row(
            trace_id=trace,
            kind=col.KIND_FUNCTION,
            top=True,
            name=fn,
            origin="AWS::Lambda::Function",
            start=at(start),
            end=None if end is None else at(end),
            parent_id=parent,
            in_progress=in_progress,
            arn=FN_ARN.format(fn),
        )
        if cold:
            self.row(
                trace_id=trace,
                kind=col.KIND_INITIALIZATION,
                name="Initialization",
                parent_id=fid,
                doc_id=fid,
                start=at(start - 0.3),
                end=at(start),
            )
        self.row(
            trace_id=trace,
            kind=col.KIND_INVOCATION,
            name="Invocation",
            parent_id=fid,
            doc_id=fid,
            start=at(start),
            end=None if end is None else at(end),
            error=error,
            throttle=throttle,
            cause=cause,
        )
        return fid

    def dwell(self, trace: str, service: str, start: float, end: float) -> str:
        return self.row(
            trace_id=trace,
            kind=col.KIND_DWELL,
            name="Dwell Time",
            parent_id=service,
            doc_id=service,
            start=at(start),
            end=at(end),
        )

    def attempt(
        self,
        trace: str,
        service: str,
        n: int,
        start: float,
        end: float | None,
        *,
        error: bool = False,
        throttle: bool = False,
        cause: str | None = None,
        in_progress: bool = False,
    ) -> str:
        return self.row(
            trace_id=trace,
            kind=col.KIND_ATTEMPT,
            name=f"Attempt #{n}",
            attempt=n,
            parent_id=service,
            doc_id=service,
            start=at(start),
            end=None if end is None else at(end),
            error=error,
            throttle=throttle,
            cause=cause,
            in_progress=in_progress,
        )

    def record(
        self,
        trace: str,
        function: str,
        *,
        source: str,
        message_id: str | None = None,
        receive_count: int | None = None,
        shard: str | None = None,
        seq: str | None = None,
        error: bool = False,
        cause: str | None = None,
        start: float = 0.0,
    ) -> str:
        return self.row(
            trace_id=trace,
            kind=col.KIND_RECORD,
            name="record",
            parent_id=function,
            doc_id=function,
            start=at(start),
            end=at(start),
            event_source=source,
            message_id=message_id,
            receive_count=receive_count,
            shard_id=shard,
            sequence_number=seq,
            error=error,
            cause=cause,
        )

    def link(
        self,
        trace: str,
        entity: str,
        *,
        linked_trace: str,
        linked_id: str,
        reference_type: str = "parent",
    ) -> None:
        self.links.append(
            {
                col.TRACE_ID: trace,
                col.ID: entity,
                col.DOC_ID: entity,
                col.LINKED_TRACE_ID: linked_trace,
                col.LINKED_ID: linked_id,
                col.REFERENCE_TYPE: reference_type,
                col.LINK_TYPE: "AWS::SQS::Queue",
                col.DWELL_END: None,
            }
        )

    # --- whole scenarios ------------------------------------------------------------
    def async_event(
        self,
        fn: str,
        trace: str,
        request_id: str,
        t: float,
        attempts: list[tuple[float, float | None, bool]],
        *,
        dwell: float = 0.05,
        cause: str = "ValueError: boom",
        in_progress: bool = False,
    ) -> str:
        """An async event: 202 service segment, dwell, one attempt + invocation each."""
        svc = self.service(fn, trace, t, t + 0.01, request_id=request_id, status=202)
        self.dwell(trace, svc, t, t + dwell)
        for n, (start, end, failed) in enumerate(attempts, start=1):
            last = n == len(attempts)
            att = self.attempt(
                trace,
                svc,
                n,
                start,
                end,
                error=failed,
                cause=cause if failed else None,
                in_progress=in_progress and last,
            )
            self.function(
                fn,
                trace,
                att,
                start + 0.001,
                None if end is None else end - 0.001,
                error=failed,
                cause=cause if failed else None,
                in_progress=in_progress and last,
            )
        return svc

    def frames(self) -> TraceFrames:
        entities = pl.DataFrame(self.rows, schema=col.ENTITIES)
        links = pl.DataFrame(self.links, schema=col.LINKS)
        return TraceFrames(entities=entities, links=links)


def trace_id(n: int) -> str:
    return f"1-6b094690-{n:024x}"


@pytest.fixture
def builder() -> TraceBuilder:
    return TraceBuilder()
