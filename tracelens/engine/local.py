"""The local engine: reader processes on this machine, then one partition at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracelens.analysis.facts import merge_facts, partition_facts
from tracelens.analysis.pipeline import analyse_facts

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from tracelens.analysis.pipeline import AnalysisResults
    from tracelens.engine.sources import Inputs
    from tracelens.model.side import SideInputs


def analyse_local(
    inputs: Inputs,
    side: SideInputs,
    *,
    functions: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> AnalysisResults:
    """Facts of every partition of ``inputs`` (one in memory at a time), then the
    cross-trace analyses on all facts."""
    facts = []
    duplicates = 0
    for partition in range(inputs.partitions):
        entities, links, found = inputs.settle(partition)
        duplicates += found
        facts.append(partition_facts(entities, links))
        del entities, links
    return analyse_facts(
        merge_facts(facts),
        side,
        stats=inputs.stats(duplicates),
        functions=functions,
        since=since,
        until=until,
    )
