"""The streaming splitter yields the same elements whatever the read size."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracelens.ingest.jsonstream import FirstLine, JsonStreamError, iter_elements


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
        got = [json.loads(e) for e in iter_elements(Trickle(data, step))]
        assert got == elements


def test_other_objects_are_yielded_whole() -> None:
    doc = {"name": "x", "Traces": "not a list", "subsegments": [{"a": "]}"}]}
    data = json.dumps(doc, indent=3).encode()
    assert [json.loads(e) for e in iter_elements(Trickle(data, 3))] == [doc]


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
    got = list(iter_elements(Trickle(text, step)))
    assert got == [b'{"a": tru}', b'{"b": [1, 2,]}', b'{"c": "}"}', b"17"]


@settings(max_examples=150, deadline=None)
@given(
    blank=st.sampled_from(["", "\n", " \n\t\n  "]),
    first=st.lists(json_values, max_size=4),
    later=st.lists(st.sampled_from(["", "x", "{}", "[1, 2]", "  "]), max_size=5),
    end=st.sampled_from(["", "\n"]),
    step=st.integers(1, 40),
)
def test_first_line_ends_the_splitter_and_the_rest_is_read_on(
    blank: str, first: list[object], later: list[str], end: str, step: int
) -> None:
    # GIVEN blank lines, a JSON list on one line, then other lines
    lines = [json.dumps(first), *later]
    data = (blank + "\n".join(lines) + end).encode()
    head = FirstLine(Trickle(data, step))
    # THEN the splitter sees only the first line, whatever the read size
    assert [json.loads(e) for e in iter_elements(head)] == first
    assert head.line == blank.count("\n") + 1
    # AND the lines after it come with their numbers and byte positions
    rest = list(head.rest())
    expected = []
    pos = len(blank) + len(lines[0]) + 1
    for number, line in enumerate(later, start=head.line + 1):
        text = (line + "\n").encode() if number - head.line < len(later) or end else line.encode()
        if text:
            expected.append((number, pos, text))
        pos += len(text)
    assert rest == expected
    assert all(data[p : p + len(t)] == t for _, p, t in rest)
