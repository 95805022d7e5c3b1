"""Split one large JSON value into its top-level array elements without parsing it whole.

Handles a top-level array (``[doc, doc, ...]``) and a BatchGetTraces page
(``{"Traces": [trace, trace, ...], ...}``): each element is yielded as raw bytes for the
decoder, so memory holds a window of the file and one element at a time. Any other value is
yielded whole. ``FirstLine`` confines the splitter to a file's first line, for an NDJSON line
too long to decode in one piece.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Protocol

import msgspec

if TYPE_CHECKING:
    from collections.abc import Iterator

_CHUNK = 4 * 1024 * 1024
_STRUCTURE = re.compile(rb'[\[\]{}"]')
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SCALAR = re.compile(rb"[^,\]}\s]*")
_SPACE = frozenset(b" \t\r\n")
# msgspec reports where a value ends when more data follows it: "trailing characters (byte N)",
# N counted from 1 at the first byte after the value and its whitespace.
_TRAILING = re.compile(r"trailing characters \(byte (\d+)\)")
_OPENERS = {ord("["): ord("]"), ord("{"): ord("}")}
_QUOTE = ord('"')
_COMMA = ord(",")
_COLON = ord(":")
_ARRAY_END = ord("]")
_OBJECT_END = ord("}")


class Readable(Protocol):
    """What the splitter reads from: a binary stream."""

    def read(self, size: int = -1, /) -> bytes: ...


class JsonStreamError(Exception):
    """The value is not well-formed JSON at the structural level."""

    def __init__(self, reason: str, line: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


class _Scanner:
    """A cursor over a byte stream; positions are absolute offsets in the stream."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self.buf = b""
        self.base = 0  # absolute offset of buf[0]
        self.pos = 0  # absolute cursor
        self.mark: int | None = None  # absolute offset that must stay in the buffer
        self._dropped_lines = 0
        self._eof = False

    def fill(self) -> bool:
        """Read another chunk, dropping what is no longer needed; False at end of stream."""
        if self._eof:
            return False
        chunk = self._stream.read(_CHUNK)
        if not chunk:
            self._eof = True
            return False
        keep = self.pos if self.mark is None else min(self.mark, self.pos)
        drop = keep - self.base
        if drop > 0:
            self._dropped_lines += self.buf.count(b"\n", 0, drop)
            self.buf = self.buf[drop:]
            self.base = keep
        self.buf += chunk
        return True

    def line(self) -> int:
        """Line number of the cursor (1-based)."""
        return self._dropped_lines + self.buf.count(b"\n", 0, self.pos - self.base) + 1

    def error(self, reason: str) -> JsonStreamError:
        return JsonStreamError(reason, self.line())

    def next_inside(self, end: int, what: str) -> int | None:
        """The next byte inside an array or object (``what``), or None past its ``end`` byte.

        Raises:
            JsonStreamError: the input ends before the array or object is closed.
        """
        char = self.peek()
        if char is None:
            raise self.error(f"truncated JSON: {what} is never closed")
        if char == end:
            self.pos += 1
            return None
        return char

    def peek(self) -> int | None:
        """Skip whitespace and return the next byte without consuming it; None at the end."""
        while True:
            index = self.pos - self.base
            buf = self.buf
            while index < len(buf) and buf[index] in _SPACE:
                index += 1
            self.pos = self.base + index
            if index < len(buf):
                return buf[index]
            if not self.fill():
                return None

    def expect(self, byte: int, what: str) -> None:
        if self.peek() != byte:
            raise self.error(f"expected {what}")
        self.pos += 1

    def skip_string(self) -> None:
        """Move past the string whose opening quote is at the cursor."""
        while True:
            match = _STRING_REST.match(self.buf, self.pos - self.base + 1)
            if match is not None:
                self.pos = self.base + match.end()
                return
            if not self.fill():
                raise self.error("unterminated string (the file is truncated)")

    def skip_container(self) -> None:
        """Move past the array or object whose opening bracket is at the cursor."""
        stack = [_OPENERS[self.buf[self.pos - self.base]]]
        self.pos += 1
        while True:
            match = _STRUCTURE.search(self.buf, self.pos - self.base)
            if match is None:
                self.pos = self.base + len(self.buf)
                if not self.fill():
                    raise self.error("truncated JSON: a bracket is never closed")
                continue
            char = self.buf[match.start()]
            self.pos = self.base + match.start()
            if char == _QUOTE:
                self.skip_string()
                continue
            self.pos += 1
            if char in _OPENERS:
                stack.append(_OPENERS[char])
            elif char != stack.pop():
                raise self.error("mismatched brackets")
            elif not stack:
                return

    def skip_fast(self) -> bool:
        """Move past the array or object at the cursor with msgspec's parser.

        Returns False, leaving the cursor where it was, when msgspec cannot tell where the
        value ends (it is not well-formed, or runs to the end of the file); the byte-by-byte
        scanner then finds the end or the structural error.
        """
        while True:
            index = self.pos - self.base
            try:
                msgspec.json.decode(memoryview(self.buf)[index:], type=msgspec.Raw)
            except msgspec.DecodeError as exc:
                text = str(exc)
                found = _TRAILING.search(text)
                if found is not None:
                    end = index + int(found.group(1)) - 1
                    while self.buf[end - 1] in _SPACE:
                        end -= 1
                    self.pos = self.base + end
                    return True
                if "truncated" in text and self.fill():
                    continue  # the value goes on in the next chunk
                return False
            return False  # the value ends the buffered data: let the scanner check the rest

    def skip_value(self) -> None:
        char = self.peek()
        if char is None:
            raise self.error("truncated JSON: a value is missing")
        if char in _OPENERS and self.skip_fast():
            return
        if char == _QUOTE:
            self.skip_string()
        elif char in _OPENERS:
            self.skip_container()
        else:
            start = self.pos
            while True:
                match = _SCALAR.match(self.buf, self.pos - self.base)
                assert match is not None  # the pattern matches the empty string
                self.pos = self.base + match.end()
                if match.end() < len(self.buf) or not self.fill():
                    break
            if self.pos == start:
                raise self.error("unexpected character")

    def take_value(self) -> bytes:
        """Consume one value and return its bytes."""
        self.peek()
        self.mark = self.pos
        self.skip_value()
        value = self.buf[self.mark - self.base : self.pos - self.base]
        self.mark = None
        return value


def iter_elements(stream: Readable) -> Iterator[bytes]:
    """Yield the elements of a top-level array or of a page's ``Traces``; else the whole value.

    Raises:
        JsonStreamError: the value is structurally broken (elements before the break have
            already been yielded).
    """
    scanner = _Scanner(stream)
    first = scanner.peek()
    if first is None:
        return
    if first == ord("["):
        scanner.pos += 1
        yield from _array_elements(scanner)
    elif first == ord("{"):
        yield from _object(scanner)
    else:
        yield scanner.take_value()
    if scanner.peek() is not None:
        raise scanner.error("extra data after the JSON value")


def _array_elements(scanner: _Scanner) -> Iterator[bytes]:
    expecting_value = True
    while (char := scanner.next_inside(_ARRAY_END, "an array")) is not None:
        if char == _COMMA and not expecting_value:
            scanner.pos += 1
            expecting_value = True
            continue
        if not expecting_value:
            raise scanner.error("expected ',' or ']' between array elements")
        yield scanner.take_value()
        expecting_value = False


def _object(scanner: _Scanner) -> Iterator[bytes]:
    """Stream ``Traces`` when the object has that key; otherwise yield the object whole."""
    start = scanner.pos
    scanner.mark = start
    scanner.pos += 1
    found = False
    while (char := scanner.next_inside(_OBJECT_END, "an object")) is not None:
        if char == _COMMA:
            scanner.pos += 1
            continue
        if char != _QUOTE:
            raise scanner.error("expected a string key")
        key_start = scanner.pos
        scanner.skip_string()
        key = scanner.buf[key_start - scanner.base : scanner.pos - scanner.base]
        scanner.expect(_COLON, "':' after a key")
        if key == b'"Traces"' and not found and scanner.peek() == ord("["):
            found = True
            scanner.mark = None
            scanner.pos += 1
            yield from _array_elements(scanner)
        else:
            scanner.skip_value()
    if not found:
        whole = scanner.buf[start - scanner.base : scanner.pos - scanner.base]
        scanner.mark = None
        yield whole


class FirstLine:
    """The first non-blank line of a stream, as a stream that ends with it; ``rest`` gives the
    lines after it, so that the file is read once.

    ``iter_elements(FirstLine(stream))`` splits a first line too long to decode at once; a
    value that does not end on that line is cut short there.
    """

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self._left = b""  # read past the line's end, for ``rest``
        self._content = False
        self._done = False
        self.line = 1  # the line's number (blank lines before it count)
        self.size = 0  # bytes up to the end of the line, blank lines before it included

    def read(self, size: int = -1, /) -> bytes:
        if self._done:
            return b""
        chunk = self._stream.read(size if size > 0 else _CHUNK)
        if not chunk:
            self._done = True
            return b""
        start = 0
        if not self._content:
            start = len(chunk) - len(chunk.lstrip(b" \t\r\n"))
            self.line += chunk.count(b"\n", 0, start)
            self._content = start < len(chunk)
        end = chunk.find(b"\n", start) if self._content else -1
        if end >= 0:
            self._done = True
            self._left = chunk[end + 1 :]
            chunk = chunk[: end + 1]
        self.size += len(chunk)
        return chunk

    def rest(self) -> Iterator[tuple[int, int, bytes]]:
        """(line number, byte position, line) of every line after the first, read on from where
        the first line ended. Read the first line to its end before."""
        number, pos = self.line, self.size
        for line in _lines(self._left, self._stream):
            number += 1
            yield number, pos, line
            pos += len(line)


def _lines(buffered: bytes, stream: Readable) -> Iterator[bytes]:
    """The lines of ``buffered`` and then of ``stream`` (each with its newline, if it has one)."""
    rest = b""  # the start of a line that continues in the next block
    block = buffered
    while True:
        end = block.find(b"\n")
        if end < 0:
            rest += block
        else:
            yield rest + block[: end + 1]
            start = end + 1
            end = block.find(b"\n", start)
            while end >= 0:
                yield block[start : end + 1]
                start = end + 1
                end = block.find(b"\n", start)
            rest = block[start:]
        block = stream.read(_CHUNK)
        if not block:
            break
    if rest:
        yield rest
