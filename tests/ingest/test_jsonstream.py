"""The streaming splitter yields the same elements whatever the read size."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracelens.ingest.jsonstream import JsonStreamError, iter_elements


class Trickle(io.RawIOBase):
    """A stream that hands out at most ``step`` bytes per read, to cross every boundary."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._data[self._pos : self._pos + self._step]
        self._pos += len(chunk)
        return chunk


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='ab"\\{}[],: \n\u00e9'),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    elements=st.lists(json_values, max_size=6),
    step=st.integers(1, 50),
    indent=st.sampled_from([None, 2]),
)
def test_array_and_page_elements_survive_any_chunking(
    elements: list[object], step: int, indent: int | None
) -> None:
    for document in (elements, {"NextToken": "x", "Traces": elements, "UnprocessedTraceIds": []}):
        data = json.dumps(document, indent=indent).encode()
        got = [json.loads(e) for e in iter_elements(Trickle(data, step))]  # type: ignore[arg-type]
        assert got == elements


def test_other_objects_are_yielded_whole() -> None:
    doc = {"name": "x", "Traces": "not a list", "subsegments": [{"a": "]}"}]}
    data = json.dumps(doc, indent=3).encode()
    assert [json.loads(e) for e in iter_elements(Trickle(data, 3))] == [doc]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('[{"a": 1}, {"b": "unterminated', "unterminated string"),
        ('{"Traces": [{"a": [1, 2}]}', "mismatched brackets"),
        ('[{"a": 1}', "never closed"),
        ("[1, 2] [3]", "extra data"),
    ],
)
def test_structural_errors_name_a_line(text: str, reason: str) -> None:
    with pytest.raises(JsonStreamError, match=reason) as info:
        list(iter_elements(io.BytesIO(("\n" + text).encode())))
    assert info.value.line is not None
    assert info.value.line >= 2


@pytest.mark.parametrize("step", [1, 7, 1 << 20])
def test_elements_that_are_not_valid_json_inside_are_still_split(step: int) -> None:
    # msgspec finds element ends only in well-formed JSON; the byte scanner takes over here.
    text = b'{"Traces": [{"a": tru}, {"b": [1, 2,]}, {"c": "}"}, 17]}'
    got = list(iter_elements(Trickle(text, step)))  # type: ignore[arg-type]
    assert got == [b'{"a": tru}', b'{"b": [1, 2,]}', b'{"c": "}"}', b"17"]
