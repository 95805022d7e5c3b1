"""Resolve a selection (``--function``, ``--since``, ``--until``) against the traces.

A filter that selects nothing must never become an empty, all-clear report: every name is
resolved to a function present in the traces (exact name, a case-insensitive unique match,
or a function ARN with or without qualifier), and a time window must hold at least one
Lambda request. Anything else raises ``SelectionError`` naming what the traces do hold.
"""

from __future__ import annotations

import difflib
import re
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from tracelens.analysis import columns as c
from tracelens.errors import SelectionError
from tracelens.model import schema as col

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tracelens.analysis.facts import Facts

#: A Lambda function ARN: partition, region, account, name and an optional version / alias.
FUNCTION_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"function:(?P<name>[A-Za-z0-9_-]+)(?::(?P<qualifier>[A-Za-z0-9$_-]+))?"
)
#: How many function names an error message lists before "and N more".
_LISTED = 20
#: Entity kinds whose name is a Lambda function name.
_LAMBDA_KINDS = (col.KIND_SERVICE, col.KIND_FUNCTION, col.KIND_INFERRED)


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with a ``Z``, microseconds only when present."""
    return moment.isoformat().replace("+00:00", "Z")


def unqualified(arn: str) -> str:
    """A function ARN without its version or alias (``...:function:name``)."""
    return ":".join(arn.split(":")[:7])


def _lambda_nodes(facts: Facts) -> pl.DataFrame:
    """Name, ARN, kind and start of every Lambda service, function and inferred segment
    (inferred segments without their start: only their names and ARNs are read)."""
    return pl.concat(
        [
            facts.services.select(
                pl.col(col.NAME).cast(pl.String),
                pl.col(col.ARN).cast(pl.String),
                pl.lit(col.KIND_SERVICE).alias(col.KIND),
                col.START,
            ),
            facts.invocations.select(
                pl.col(c.FUNCTION).cast(pl.String).alias(col.NAME),
                pl.col(col.ARN).cast(pl.String),
                pl.lit(col.KIND_FUNCTION).alias(col.KIND),
                col.START,
            ),
            facts.inferred.select(
                col.NAME,
                col.ARN,
                pl.lit(col.KIND_INFERRED).alias(col.KIND),
                pl.lit(None, dtype=col.TIME).alias(col.START),
            ),
        ]
    ).filter(pl.col(col.NAME).is_not_null())


def _listing(names: Sequence[str]) -> str:
    if not names:
        return "the traces hold no Lambda function"
    shown = ", ".join(repr(n) for n in names[:_LISTED])
    more = f" and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
    return f"functions in the traces: {shown}{more}"


def resolve_function(given: str, present: Sequence[str], arns: dict[str, set[str]]) -> str:
    """The name of the function ``given`` selects among the functions ``present``.

    Args:
        given: A function name (any case) or a function ARN, with or without qualifier.
        present: The function names in the traces, sorted.
        arns: For each present name, the unqualified ARNs the traces give it.

    Returns:
        The exact name as the traces spell it.

    Raises:
        SelectionError: No function, or several functions differing only in case, match.
    """
    text = given.strip()
    name = text
    arn = FUNCTION_ARN.fullmatch(text)
    if arn is not None:
        name = arn.group("name")
    elif text.startswith("arn:"):
        raise SelectionError(f"--function {given!r} is not a Lambda function ARN")
    exact = name in present
    matches = [name] if exact else [p for p in present if p.casefold() == name.casefold()]
    if len(matches) > 1:
        shown = ", ".join(repr(m) for m in matches)
        raise SelectionError(
            f"--function {given!r} matches functions that differ only in case: {shown}; "
            "give the exact name"
        )
    if not matches:
        close = difflib.get_close_matches(
            name.casefold(), [p.casefold() for p in present], n=3, cutoff=0.6
        )
        suggestions = [p for c in close for p in present if p.casefold() == c]
        hint = f"did you mean {' or '.join(repr(s) for s in suggestions)}? " if suggestions else ""
        raise SelectionError(f"no function {given!r} in the traces; {hint}{_listing(present)}")
    found = matches[0]
    known = arns.get(found, set())
    if arn is not None and known and unqualified(text) not in known:
        shown = ", ".join(sorted(known))
        raise SelectionError(
            f"--function {given!r} is not in the traces: {found!r} there is {shown}"
        )
    return found


def select_functions(facts: Facts, given: Sequence[str]) -> tuple[str, ...]:
    """Resolve every ``--function`` value (see ``resolve_function``); sorted, without repeats."""
    if not given:
        return ()
    lam = _lambda_nodes(facts)
    present = sorted(set(lam.get_column(col.NAME).to_list()))
    arns: dict[str, set[str]] = {}
    for name, arn in lam.select(col.NAME, col.ARN).drop_nulls().unique().iter_rows():
        if FUNCTION_ARN.fullmatch(arn):
            arns.setdefault(name, set()).add(unqualified(arn))
    return tuple(sorted({resolve_function(g, present, arns) for g in given}))


def check_window(
    facts: Facts,
    functions: Sequence[str],
    since: datetime | None,
    until: datetime | None,
) -> None:
    """Raise unless the selection holds at least one Lambda request.

    A request is a Lambda service segment (else, for traces that hold none, a function
    segment) of the selected functions starting in ``[since, until)``.

    Raises:
        SelectionError: ``since`` is not before ``until``, or the selection holds no request;
            the message gives the time span of the requests the traces do hold.
    """
    if since is not None and until is not None and since >= until:
        raise SelectionError(
            f"--since {iso(since)} is not before --until {iso(until)}: the window is empty"
        )
    if not functions and since is None and until is None:
        return
    lam = _lambda_nodes(facts)
    services = lam.filter(pl.col(col.KIND) == col.KIND_SERVICE)
    starts = services if services.height else lam.filter(pl.col(col.KIND) == col.KIND_FUNCTION)
    chosen = starts.filter(pl.col(col.NAME).is_in(list(functions))) if functions else starts
    inside = chosen
    if since is not None:
        inside = inside.filter(pl.col(col.START) >= since)
    if until is not None:
        inside = inside.filter(pl.col(col.START) < until)
    if inside.height:
        return
    names = ", ".join(repr(f) for f in functions)
    of = f" of {names}" if functions else ""
    bounds = []
    if since is not None:
        bounds.append(f"at or after {iso(since)}")
    if until is not None:
        bounds.append(f"before {iso(until)}")
    when = f" starting {' and '.join(bounds)}" if bounds else ""
    span_of = chosen if chosen.height else starts
    times = [t for t in span_of.get_column(col.START).to_list() if isinstance(t, datetime)]
    if not times:
        if functions and not chosen.height:
            held = "only caller-side (inferred) segments, no Lambda request"
            raise SelectionError(f"no Lambda request{of} in the traces: they hold {held}")
        raise SelectionError(f"no Lambda request{of}{when}: the traces hold no Lambda request")
    whose = f"the requests{of}" if chosen.height else "the traces' requests"
    raise SelectionError(
        f"no Lambda request{of}{when}; {whose} start between {iso(min(times))} and "
        f"{iso(max(times))}"
    )


def select(
    facts: Facts,
    *,
    functions: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[str, ...]:
    """Resolve ``functions`` and check the window; the exact function names to keep.

    Raises:
        SelectionError: A name matches no function (or several), ``since`` is not before
            ``until``, or the selection holds no Lambda request.
    """
    names = select_functions(facts, functions)
    check_window(facts, names, since, until)
    return names
