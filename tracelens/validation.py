"""Declarative validation of decoded documents (TOML, JSON) with msgspec types.

A document type states each key once: its type, its default and its constraints
(``msgspec.Meta(ge=..., le=..., pattern=..., description=...)``, ``Literal`` choices).
:func:`convert` builds the typed value; when the document does not fit, it raises
:class:`InvalidDocument` carrying a :class:`Problem` located on the offending key, the
raw value found there and the declared type, so each caller words its one-line error in
its own style.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, TypeVar

import msgspec
from msgspec import inspect

T = TypeVar("T")

#: A path into a document: table keys and array indices.
KeyPath = tuple[str | int, ...]

#: Why a document does not fit its type.
Reason = Literal["unknown", "missing", "invalid", "item"]


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


#: The value of a key the document does not have.
MISSING = _Missing()

_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>.*)`)?$", re.DOTALL)
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_SCALARS = (
    inspect.IntType,
    inspect.FloatType,
    inspect.StrType,
    inspect.BoolType,
    inspect.LiteralType,
)
_FIELD = re.compile(r"^Object (?P<what>contains unknown|missing required) field `(?P<key>.+)`$")


@dataclass(frozen=True)
class Problem:
    """Where and why a document does not fit its type.

    Attributes:
        key: Path of the offending key (for an ``item`` problem, of the array holding it).
        reason: ``unknown`` key, ``missing`` required key, ``invalid`` value, or an
            invalid ``item`` of an array of plain values (numbers, strings, booleans).
        value: The raw value at ``key`` (``MISSING`` when absent).
        type: The declared type at ``key`` (Optional and Meta wrappers removed), if known.
        description: The ``Meta(description=...)`` declared at ``key``, if any.
    """

    key: KeyPath
    reason: Reason
    value: object
    type: inspect.Type | None
    description: str | None


class InvalidDocument(Exception):
    """A decoded document does not fit its declared type."""

    def __init__(self, problem: Problem, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem


def convert(data: object, kind: type[T], *, at: KeyPath = ()) -> T:
    """Build ``kind`` from a decoded document, or raise :class:`InvalidDocument`.

    Args:
        data: The decoded document (or a part of it).
        kind: The msgspec-compatible type it must fit.
        at: Path of ``data`` inside the whole document, prefixed to problem keys.

    Returns:
        The typed value.

    Raises:
        InvalidDocument: naming the offending key (msgspec's own message as detail).
    """
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise InvalidDocument(_locate(str(exc), data, kind, at), str(exc)) from exc


def key_text(key: KeyPath) -> str:
    """Write a key path the way TOML users read it: ``callers[0].kind``."""
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
    return out


def _locate(text: str, data: object, kind: type, at: KeyPath) -> Problem:
    match = _AT.match(text)
    assert match is not None  # the pattern matches any text
    path: list[str | int] = [
        name if name else int(index) for name, index in _SEGMENT.findall(match["path"] or "")
    ]
    reason: Reason = "invalid"
    field = _FIELD.match(match["message"])
    if field is not None:
        path.append(field["key"])
        reason = "unknown" if field["what"] == "contains unknown" else "missing"
    declared, description = _type_at(inspect.type_info(kind), path)
    if path and isinstance(path[-1], int) and isinstance(declared, _SCALARS):
        path.pop()
        declared, description = _type_at(inspect.type_info(kind), path)
        reason = "item"
    return Problem(
        key=at + tuple(path),
        reason=reason,
        value=_value_at(data, path),
        type=None if reason == "unknown" else declared,
        description=description,
    )


def _value_at(data: object, path: list[str | int]) -> object:
    for part in path:
        if isinstance(part, int) and isinstance(data, list) and part < len(data):
            data = data[part]
            continue
        if isinstance(part, str) and isinstance(data, dict) and part in data:
            data = data[part]
            continue
        return MISSING
    return data


def _unwrap(declared: inspect.Type) -> tuple[inspect.Type, str | None]:
    description = None
    while True:
        if isinstance(declared, inspect.Metadata):
            description = (declared.extra_json_schema or {}).get("description", description)
            declared = declared.type
        elif isinstance(declared, inspect.UnionType):
            others = [t for t in declared.types if not isinstance(t, inspect.NoneType)]
            if len(others) != 1:
                return declared, description
            declared = others[0]
        else:
            return declared, description


def _type_at(root: inspect.Type, path: list[str | int]) -> tuple[inspect.Type | None, str | None]:
    declared, description = _unwrap(root)
    for part in path:
        child: inspect.Type | None = None
        if isinstance(declared, inspect.UnionType) and isinstance(part, str):
            tables = [t for t in declared.types if isinstance(t, inspect.StructType)]
            declared = tables[0] if len(tables) == 1 else declared
        if isinstance(declared, inspect.StructType):
            child = next((f.type for f in declared.fields if f.encode_name == part), None)
        elif isinstance(declared, inspect.DictType):
            child = declared.value_type
        elif isinstance(declared, inspect.ListType | inspect.VarTupleType):
            child = declared.item_type
        if child is None:
            return None, None
        declared, description = _unwrap(child)
    return declared, description


__all__ = ["MISSING", "InvalidDocument", "KeyPath", "Problem", "convert", "key_text"]
