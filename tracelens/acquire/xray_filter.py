"""The X-Ray filter expression of a fetch: the user's ``--filter`` and ``--function`` names."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tracelens.errors import SourceUnavailable

if TYPE_CHECKING:
    from collections.abc import Sequence

_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,256}$")


def build_filter_expression(filter_expression: str | None, functions: Sequence[str]) -> str | None:
    """Combine a user filter with ``service("NAME")`` terms for ``--function``.

    X-Ray filter expressions join conditions with ``AND`` / ``OR`` and group with
    parentheses; ``service("name")`` matches traces that pass through that service node,
    which for Lambda is named after the function.

    Args:
        filter_expression: The user's ``--filter`` expression, if any.
        functions: ``--function`` names; a trace matches if it passes through any of them.

    Returns:
        The expression to send, or None for no filter.

    Raises:
        SourceUnavailable: A function name holds characters Lambda names never contain.
    """
    terms: list[str] = []
    for name in sorted(set(functions)):
        if not _FUNCTION_NAME.match(name):
            raise SourceUnavailable(
                f"--function {name!r} is not a Lambda function name "
                "(letters, digits, '-', '_', '.', ':' only)"
            )
        terms.append(f'service("{name}")')
    services = " OR ".join(terms)
    user = (filter_expression or "").strip()
    if user and services:
        return f"({user}) AND ({services})" if len(terms) > 1 else f"({user}) AND {services}"
    return user or services or None


__all__ = ["build_filter_expression"]
