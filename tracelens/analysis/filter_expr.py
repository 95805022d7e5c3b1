"""The X-Ray filter expression language: a tokenizer and a recursive-descent parser.

The supported subset (README, "Find traces by business key"): ``annotation.KEY`` (also
``annotation[KEY]``) compared as a string, number or boolean, or alone (the key is present);
the boolean keywords ``ok``, ``error``, ``fault``, ``throttle``, ``partial``; the number
keywords ``responsetime``, ``duration``, ``http.status``; the string keywords ``http.url``,
``http.method``; ``rootcause.(fault|error|throttle).exception.(name|message)``;
``service()``, ``service("name")``, ``service(id(name: "x", type: "T"))``, each optionally
followed by ``{ EXPR }`` (EXPR of keywords, about that service's own segments), and a bare
``id(...)`` (the same as ``service(id(...))``); ``AND``, ``OR``, ``!``, parentheses, and two
expressions side by side (an implied ``AND``, as in ``ok !partial``).

Grammar::

    expr    := and ("OR" and)*
    and     := unary (["AND"] unary)*
    unary   := "!" unary | primary
    primary := "(" expr ")" | service | id | field [op value]
    service := "service" "(" [string | id] ")" ["{" expr "}"]
    id      := "id" "(" [arg ("," arg)*] ")"          arg := ("name" | "type") ":" string

A syntax error raises ``FilterSyntaxError`` with the 1-based column of the offending token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tracelens.errors import FilterSyntaxError

Value = str | float | bool

#: The keywords by the type of their value.
BOOLEAN_KEYWORDS = frozenset({"ok", "error", "fault", "throttle", "partial"})
NUMBER_KEYWORDS = frozenset({"responsetime", "duration", "http.status"})
STRING_KEYWORDS = frozenset({"http.url", "http.method"})
#: Keywords that describe one segment (allowed inside ``service(...) { }``).
SEGMENT_KEYWORDS = frozenset(
    {"ok", "error", "fault", "throttle", "responsetime", "http.status", "http.url", "http.method"}
)

NUMBER_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "BEGINSWITH", "ENDSWITH", "CONTAINS")
BOOLEAN_OPS = ("=", "!=")
_WORD_OPS = frozenset({"BEGINSWITH", "ENDSWITH", "CONTAINS"})
_ROOTCAUSE = re.compile(r"rootcause\.(fault|error|throttle)\.exception\.(name|message)")
_FLAGS: dict[str, Literal["fault", "error", "throttle"]] = {
    "fault": "fault",
    "error": "error",
    "throttle": "throttle",
}
_PARTS: dict[str, Literal["name", "message"]] = {"name": "name", "message": "message"}
_ANNOTATION_KEY = re.compile(r"[A-Za-z0-9_]+")


# --- the syntax tree ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Keyword:
    """A keyword such as ``fault`` or ``http.status``."""

    name: str


@dataclass(frozen=True, slots=True)
class Annotation:
    """``annotation.KEY``."""

    key: str


@dataclass(frozen=True, slots=True)
class RootCause:
    """``rootcause.FLAG.exception.PART``: an exception recorded on an entity with FLAG set."""

    flag: Literal["fault", "error", "throttle"]
    part: Literal["name", "message"]


Field = Keyword | Annotation | RootCause


@dataclass(frozen=True, slots=True)
class Compare:
    """``FIELD OP VALUE``; ``op`` None is a bare field (true, or the annotation is present)."""

    field: Field
    op: str | None = None
    value: Value | None = None


@dataclass(frozen=True, slots=True)
class Service:
    """``service(...)`` / ``id(...)``: some segment with this name and origin type (None: any),
    for which ``where`` (about that segment) holds."""

    name: str | None = None
    type: str | None = None
    where: Expr | None = None


@dataclass(frozen=True, slots=True)
class Not:
    """``!EXPR``."""

    operand: Expr


@dataclass(frozen=True, slots=True)
class And:
    """``LEFT AND RIGHT``."""

    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Or:
    """``LEFT OR RIGHT``."""

    left: Expr
    right: Expr


Expr = Compare | Service | Not | And | Or


def annotation_keys(expr: Expr) -> list[str]:
    """The annotation keys ``expr`` names, sorted, each once."""
    keys: set[str] = set()
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Compare) and isinstance(node.field, Annotation):
            keys.add(node.field.key)
        elif isinstance(node, Not):
            stack.append(node.operand)
        elif isinstance(node, And | Or):
            stack.extend((node.left, node.right))
        elif isinstance(node, Service) and node.where is not None:
            stack.append(node.where)
    return sorted(keys)


# --- tokens ---------------------------------------------------------------------------------

TokenKind = Literal["word", "string", "number", "op", "punct", "end"]


@dataclass(frozen=True, slots=True)
class Token:
    """One token and its 1-based column."""

    kind: TokenKind
    text: str
    column: int
    value: Value | None = None


_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_OPS = ("<=", ">=", "!=", "=", "<", ">")
_PUNCT = "(){}[],:!"


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an ``end`` token.

    Raises:
        FilterSyntaxError: an unterminated string or a character the language does not use.
    """
    tokens: list[Token] = []
    pos = 0
    while True:
        space = _SPACE.match(text, pos)
        if space:
            pos = space.end()
        if pos >= len(text):
            tokens.append(Token("end", "", pos + 1))
            return tokens
        column = pos + 1
        char = text[pos]
        if char == '"':
            value, pos = _string(text, pos)
            tokens.append(Token("string", text[column - 1 : pos], column, value))
            continue
        op = next((o for o in _OPS if text.startswith(o, pos)), None)
        if op is not None:
            tokens.append(Token("op", op, column))
            pos += len(op)
            continue
        if char in _PUNCT:
            tokens.append(Token("punct", char, column))
            pos += 1
            continue
        number = _NUMBER.match(text, pos)
        if number:
            tokens.append(Token("number", number.group(), column, float(number.group())))
            pos = number.end()
            continue
        word = _WORD.match(text, pos)
        if word:
            tokens.append(Token("word", word.group(), column))
            pos = word.end()
            continue
        raise FilterSyntaxError(f"unexpected character {char!r}", column=column)


def _string(text: str, start: int) -> tuple[str, int]:
    """The value of the double-quoted string at ``start`` and the position after it."""
    out: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
            continue
        if char == '"':
            return "".join(out), pos + 1
        out.append(char)
        pos += 1
    raise FilterSyntaxError("the string has no closing '\"'", column=start + 1)


# --- the parser -----------------------------------------------------------------------------


def parse(text: str) -> Expr:
    """The syntax tree of the filter expression ``text``.

    Raises:
        FilterSyntaxError: ``text`` is not a filter expression of the supported subset (the
            message names the column).
    """
    if not text.strip():
        raise FilterSyntaxError("the expression is empty", column=1)
    return _Parser(tokenize(text)).parse()


def _upper(token: Token) -> str:
    return token.text.upper() if token.kind == "word" else ""


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.at = 0
        self.in_service = False

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def advance(self) -> Token:
        token = self.tokens[self.at]
        if token.kind != "end":
            self.at += 1
        return token

    def fail(self, message: str, token: Token | None = None) -> FilterSyntaxError:
        return FilterSyntaxError(message, column=(token or self.token).column)

    def expect(self, text: str, what: str) -> Token:
        if self.token.text != text or self.token.kind not in ("punct", "op"):
            raise self.fail(f"expected {what}")
        return self.advance()

    def parse(self) -> Expr:
        expr = self.expr()
        if self.token.kind != "end":
            raise self.fail(f"unexpected {self.describe(self.token)}")
        return expr

    def describe(self, token: Token) -> str:
        return "end of expression" if token.kind == "end" else f"'{token.text}'"

    def expr(self) -> Expr:
        left = self.conjunction()
        while _upper(self.token) == "OR":
            self.advance()
            left = Or(left, self.conjunction())
        return left

    def conjunction(self) -> Expr:
        left = self.unary()
        while True:
            if _upper(self.token) == "AND":
                self.advance()
            elif not self.starts_operand():
                return left
            left = And(left, self.unary())

    def starts_operand(self) -> bool:
        token = self.token
        if token.kind == "word":
            return _upper(token) not in ("AND", "OR")
        return token.kind == "punct" and token.text in ("(", "!")

    def unary(self) -> Expr:
        token = self.token
        if token.kind == "punct" and token.text == "!":
            self.advance()
            return Not(self.unary())
        return self.primary()

    def primary(self) -> Expr:
        token = self.token
        if token.kind == "punct" and token.text == "(":
            self.advance()
            expr = self.expr()
            self.expect(")", f"')' to close the '(' at column {token.column}")
            return expr
        if token.kind != "word":
            raise self.fail(f"expected a keyword, found {self.describe(token)}")
        name = token.text
        lower = name.lower()
        if lower in ("service", "id") and self.tokens[self.at + 1].text == "(":
            if self.in_service:
                raise self.fail(f"{name}() is not supported inside service() {{ }}")
            return self.service() if lower == "service" else self.id_call()
        self.advance()
        field = self.field(name, token)
        return self.comparison(field, token)

    def field(self, name: str, token: Token) -> Field:
        lower = name.lower()
        if lower == "annotation":
            if self.token.text != "[" or self.token.kind != "punct":
                raise self.fail("expected annotation.KEY or annotation[KEY]", token)
            self.advance()
            key = self.advance()
            if key.kind not in ("word", "number", "string") or not _ANNOTATION_KEY.fullmatch(
                str(key.value) if key.kind == "string" else key.text
            ):
                raise self.fail("expected an annotation key (letters, digits, _)", key)
            self.expect("]", "']' after the annotation key")
            field: Field = Annotation(str(key.value) if key.kind == "string" else key.text)
        elif lower.startswith("annotation."):
            key_text = name[len("annotation.") :]
            if not _ANNOTATION_KEY.fullmatch(key_text):
                raise self.fail("expected an annotation key (letters, digits, _)", token)
            field = Annotation(key_text)
        elif lower in BOOLEAN_KEYWORDS or lower in NUMBER_KEYWORDS or lower in STRING_KEYWORDS:
            field = Keyword(lower)
        else:
            match = _ROOTCAUSE.fullmatch(lower)
            if match is None:
                raise self.fail(f"unknown keyword '{name}'", token)
            flag, part = match.groups()
            field = RootCause(_FLAGS[flag], _PARTS[part])
        if self.in_service and not (isinstance(field, Keyword) and field.name in SEGMENT_KEYWORDS):
            raise self.fail(f"'{name}' is not supported inside service() {{ }}", token)
        return field

    def comparison(self, field: Field, token: Token) -> Compare:
        op_token = self.token
        op = op_token.text if op_token.kind == "op" else _upper(op_token)
        if op_token.kind != "op" and op not in _WORD_OPS:
            if isinstance(field, Keyword) and field.name not in BOOLEAN_KEYWORDS:
                raise self.fail(f"expected an operator after '{token.text}'")
            if isinstance(field, RootCause):
                raise self.fail(f"expected an operator after '{token.text}'")
            return Compare(field)
        self.advance()
        value_token = self.token
        if value_token.kind == "word" and value_token.text.lower() in ("true", "false"):
            value: Value = value_token.text.lower() == "true"
        elif value_token.kind in ("string", "number") and value_token.value is not None:
            value = value_token.value
        else:
            raise self.fail(f"expected a value after '{op_token.text}'")
        self.advance()
        allowed = _allowed_ops(field, value)
        if op not in allowed:
            kind = _value_kind(value)
            raise self.fail(
                f"'{op_token.text}' does not compare {_field_text(field)} with a {kind} "
                f"(use {', '.join(allowed)})",
                op_token,
            )
        if isinstance(field, Keyword) and not _fits(field.name, value):
            raise self.fail(
                f"{field.name} takes a {_keyword_kind(field.name)} value, "
                f"not a {_value_kind(value)}",
                value_token,
            )
        return Compare(field, op, value)

    def service(self) -> Service:
        start = self.advance()  # service
        self.expect("(", "'(' after 'service'")
        name: str | None = None
        kind: str | None = None
        token = self.token
        if token.kind == "string":
            name = str(token.value)
            self.advance()
        elif token.kind == "word" and token.text.lower() == "id":
            inner = self.id_call()
            name, kind = inner.name, inner.type
        elif not (token.kind == "punct" and token.text == ")"):
            raise self.fail("expected a service name in quotes, id(...) or ')'")
        self.expect(")", f"')' to close service( at column {start.column}")
        return Service(name, kind, self.where())

    def id_call(self) -> Service:
        start = self.advance()  # id
        self.expect("(", "'(' after 'id'")
        args: dict[str, str] = {}
        while not (self.token.kind == "punct" and self.token.text == ")"):
            if args:
                self.expect(",", "',' or ')'")
            arg = self.token
            if arg.kind != "word" or arg.text not in ("name", "type") or arg.text in args:
                raise self.fail('expected name: "..." or type: "..."')
            self.advance()
            self.expect(":", f"':' after '{arg.text}'")
            if self.token.kind != "string":
                raise self.fail(f"expected a value in quotes after '{arg.text}:'")
            args[arg.text] = str(self.advance().value)
        self.expect(")", f"')' to close id( at column {start.column}")
        where = self.where() if not self.in_service else None
        return Service(args.get("name"), args.get("type"), where)

    def where(self) -> Expr | None:
        token = self.token
        if not (token.kind == "punct" and token.text == "{"):
            return None
        if self.in_service:
            raise self.fail("'{' cannot nest")
        self.advance()
        self.in_service = True
        try:
            expr = self.expr()
        finally:
            self.in_service = False
        self.expect("}", f"'}}' to close the '{{' at column {token.column}")
        return expr


def _value_kind(value: Value) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "string" if isinstance(value, str) else "number"


def _keyword_kind(name: str) -> str:
    if name in BOOLEAN_KEYWORDS:
        return "boolean"
    return "number" if name in NUMBER_KEYWORDS else "string"


def _fits(name: str, value: Value) -> bool:
    return _keyword_kind(name) == _value_kind(value)


def _allowed_ops(field: Field, value: Value) -> tuple[str, ...]:
    kind = _keyword_kind(field.name) if isinstance(field, Keyword) else _value_kind(value)
    if isinstance(field, RootCause):
        kind = "string"
    if kind == "boolean":
        return BOOLEAN_OPS
    return NUMBER_OPS if kind == "number" else STRING_OPS


def _field_text(field: Field) -> str:
    if isinstance(field, Keyword):
        return field.name
    if isinstance(field, Annotation):
        return f"annotation.{field.key}"
    return f"rootcause.{field.flag}.exception.{field.part}"
