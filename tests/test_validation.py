"""validation.convert: msgspec errors located on the offending key, with value and type."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from msgspec import Meta, Struct, inspect

from tracelens.validation import MISSING, InvalidDocument, Problem, convert, key_text


class Item(Struct, frozen=True, forbid_unknown_fields=True):
    kind: Literal["a", "b"]
    size: Annotated[int, Meta(ge=1, le=9)] = 1
    tags: Annotated[tuple[Annotated[int, Meta(ge=0)], ...], Meta(description="indices")] = ()


class Doc(Struct, frozen=True, forbid_unknown_fields=True):
    items: list[Item | str] = []


def problem(data: object) -> Problem:
    with pytest.raises(InvalidDocument) as info:
        convert(data, Doc, at=("root",))
    return info.value.problem


def test_a_valid_document_converts() -> None:
    assert convert({"items": ["x", {"kind": "a"}]}, Doc) == Doc(items=["x", Item(kind="a")])


def test_unknown_and_missing_keys_are_named() -> None:
    unknown = problem({"items": [{"kind": "a", "colour": 1}]})
    assert (unknown.key, unknown.reason) == (("root", "items", 0, "colour"), "unknown")
    missing = problem({"items": [{"size": 2}]})
    assert (missing.key, missing.reason, missing.value) == (
        ("root", "items", 0, "kind"),
        "missing",
        MISSING,
    )
    assert isinstance(missing.type, inspect.LiteralType)


def test_an_out_of_range_value_carries_value_and_bounds() -> None:
    found = problem({"items": [{"kind": "a", "size": 10}]})
    assert key_text(found.key) == "root.items[0].size"
    assert found.value == 10
    assert isinstance(found.type, inspect.IntType)
    assert (found.type.ge, found.type.le) == (1, 9)


def test_a_bad_item_of_plain_values_is_reported_at_its_array() -> None:
    found = problem({"items": [{"kind": "a", "tags": [1, -1]}]})
    assert (key_text(found.key), found.reason) == ("root.items[0].tags", "item")
    assert (found.value, found.description) == ([1, -1], "indices")


def test_a_bad_table_in_an_array_keeps_its_index() -> None:
    found = problem({"items": [3]})
    assert (key_text(found.key), found.reason, found.value) == ("root.items[0]", "invalid", 3)
