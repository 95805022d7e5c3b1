"""Finding rules of the inputs themselves: rejected documents, dumps that cannot be compared."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracelens.analysis.findings._rule import MAX_EXAMPLES, Rule, agree, sentence, single_row
from tracelens.model.frames import NOT_SEGMENTS
from tracelens.model.vocab import Severity

if TYPE_CHECKING:
    from collections.abc import Sequence

    import polars as pl

    from tracelens.analysis.findings._rule import FindingInputs, Row
    from tracelens.model.frames import Rejection


def _rejected(inputs: FindingInputs) -> pl.LazyFrame:
    stats = inputs.stats
    examples = [
        f"{r.file}:{r.line}" if r.line is not None else r.file
        for r in stats.rejections[:MAX_EXAMPLES]
    ]
    return single_row(stats.rejected, examples)


def _not_segments(rejections: Sequence[Rejection]) -> str:
    """What to do about the first file that is X-Ray output other than segments, if any."""
    for rejection in rejections:
        if rejection.reason in NOT_SEGMENTS:
            return f" {rejection.file} is {rejection.reason}."
    return ""


def _rejected_message(inputs: FindingInputs, row: Row) -> str:
    return (
        f"{row['count']} "
        + agree(
            "input {line or document was|lines or documents were} not {a valid X-Ray segment "
            "document or span and was|valid X-Ray segment documents or spans and were} "
            "skipped; check the listed rejections and re-export them.",
            row["count"],
        )
        + _not_segments(inputs.stats.rejections)
    )


def _uncomparable(inputs: FindingInputs) -> pl.LazyFrame:
    """Dumps whose messages carry no request ids."""
    sources = sorted({d.source for d in inputs.side.dumps if not d.comparable})
    return single_row(len(sources), sources[:MAX_EXAMPLES])


INPUT_RULES = (
    Rule(
        code="INPUT_REJECTED",
        severity=Severity.WARNING,
        plan=_rejected,
        message=_rejected_message,
    ),
    Rule(
        code="DLQ_DUMP_NOT_COMPARABLE",
        severity=Severity.WARNING,
        plan=_uncomparable,
        message=sentence(
            "{count} DLQ / destination {dump has|dumps have} no RequestID message attributes, "
            "so failed "
            "events could not be checked against them; dump the queue again with `aws sqs "
            "receive-message --message-attribute-names All` (or `tracelens fetch --with-dlq`)."
        ),
    ),
)
