"""A small FEEL subset for form-js ``conditional`` expressions (フォームの表示条件), evaluated on the server.

form-js writes conditions in FEEL (``"conditional": {"hide": "=not(consent_application)"}``); the browser
evaluates the same expressions with ``@bpmn-io/feelin`` (the FEEL interpreter form-js itself uses, bundled
in ``frontend/forms/conditions.js``). No maintained FEEL library exists for Python, so the server accepts
only this subset, checked when a form is loaded (``forms.schema.load_form`` refuses anything else, naming
the component), so every expression that reaches a browser means the same on both sides:

* literals: numbers (``3``, ``2.5``, ``-1``), strings in double quotes (``"referral"``; escapes ``\\"`` and
  ``\\\\`` only), ``true``, ``false``, ``null``; lists ``["a", "b"]``
* names and paths: ``consent_application``, ``address.city`` (a missing name or key is ``null``)
* comparisons ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``; ``and``, ``or``; parentheses
* functions: ``not(x)``, ``list contains(list, x)``, ``count(list)``, ``string length(s)``; ``x != null`` tests for a value

Types are checked when the form loads (``check_types``), from the fields the names refer to: ``<``, ``<=``,
``>``, ``>=`` compare numbers with numbers or strings with strings only, ``count`` and ``list contains``
take a list (a checklist, a list literal), ``string length`` a string. feelin has its own answers for
mixed-type ordering (``true < 3`` is ``true`` there), so such expressions are refused rather than guessed.

Semantics are FEEL's three-valued ones, as feelin implements them: ``and`` / ``or`` / ``not`` take booleans
and give ``null`` for anything else (``false and x`` is ``false``, ``true or x`` is ``true``); comparing
values of different types gives ``null`` (``=`` and ``!=`` with ``null`` on one side give ``false`` /
``true``); ordering compares numbers with numbers and strings with strings (ISO dates as strings sort by
date). A field is hidden only when its expression gives exactly ``true``.

Bounds (the engine's expression bounds are untouched; these are the form's own): at most
``MAX_SOURCE_CHARS`` characters, ``MAX_TOKENS`` tokens and ``MAX_DEPTH`` levels of nesting. Evaluation
builds no values larger than its inputs, so its cost is linear in the expression and the data it reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["Expression", "FeelError", "check_types", "compile_expression", "evaluate"]

MAX_SOURCE_CHARS = 500
MAX_TOKENS = 200
MAX_DEPTH = 20
MAX_LIST_ITEMS = 100

#: functions of the subset, with their number of arguments (FEEL names may contain spaces)
FUNCTIONS: dict[str, int] = {
    "not": 1,
    "list contains": 2,
    "count": 1,
    "string length": 1,
}
_KEYWORDS = frozenset({"and", "or", "true", "false", "null"})

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"\\]|\\["\\])*")
  | (?P<op><=|>=|!=|=|<|>)
  | (?P<punct>[()\[\],.-])
  | (?P<name>[^\W\d]\w*)
    """,
    re.VERBOSE,
)


class FeelError(ValueError):
    """The expression is outside the supported FEEL subset (or past its bounds)."""


@dataclass(frozen=True)
class _Token:
    kind: str  # number | string | op | punct | name | end
    text: str
    at: int


def _tokens(source: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise FeelError(f"unexpected character {source[pos]!r} at {pos + 1}")
        kind = match.lastgroup or ""
        if kind != "space":
            out.append(_Token(kind, match.group(), pos))
            if len(out) > MAX_TOKENS:
                raise FeelError(f"expression has more than {MAX_TOKENS} tokens")
        pos = match.end()
    out.append(_Token("end", "", len(source)))
    return out


# --- the tree ------------------------------------------------------------------------------------------
# Nodes are tuples: ("lit", value) | ("path", (names...)) | ("list", (nodes...)) | ("and"|"or", a, b)
# | ("cmp", op, a, b) | ("call", name, (args...))
Node = tuple[Any, ...]


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.i = 0
        self.depth = 0

    def peek(self, offset: int = 0) -> _Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text or token.kind in ("string", "name"):
            raise FeelError(f"expected {text!r} at {token.at + 1}, found {token.text or 'the end'!r}")

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FeelError(f"expression is nested more than {MAX_DEPTH} levels")

    def parse(self) -> Node:
        node = self.disjunction()
        token = self.peek()
        if token.kind != "end":
            raise FeelError(f"unexpected {token.text!r} at {token.at + 1}")
        return node

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.peek().kind == "name" and self.peek().text == "or":
            self.take()
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.comparison()
        while self.peek().kind == "name" and self.peek().text == "and":
            self.take()
            node = ("and", node, self.comparison())
        return node

    def comparison(self) -> Node:
        node = self.primary()
        if self.peek().kind == "op":
            op = self.take().text
            node = ("cmp", op, node, self.primary())
            if self.peek().kind == "op":
                raise FeelError(f"comparisons do not chain (at {self.peek().at + 1}); use 'and'")
        return node

    def primary(self) -> Node:
        self.nested()
        try:
            return self._primary()
        finally:
            self.depth -= 1

    def _primary(self) -> Node:
        token = self.take()
        if token.kind == "number":
            return ("lit", _number(token.text))
        if token.kind == "punct" and token.text == "-" and self.peek().kind == "number":
            return ("lit", -_number(self.take().text))
        if token.kind == "string":
            return ("lit", re.sub(r"\\([\"\\])", r"\1", token.text[1:-1]))
        if token.kind == "punct" and token.text == "(":
            node = self.disjunction()
            self.expect(")")
            return node
        if token.kind == "punct" and token.text == "[":
            items: list[Node] = []
            if not (self.peek().kind == "punct" and self.peek().text == "]"):
                items.append(self.disjunction())
                while self.peek().kind == "punct" and self.peek().text == ",":
                    self.take()
                    items.append(self.disjunction())
            self.expect("]")
            if len(items) > MAX_LIST_ITEMS:
                raise FeelError(f"a list literal has more than {MAX_LIST_ITEMS} items")
            return ("list", tuple(items))
        if token.kind == "name":
            if token.text in ("true", "false"):
                return ("lit", token.text == "true")
            if token.text == "null":
                return ("lit", None)
            if token.text in _KEYWORDS:
                raise FeelError(f"unexpected {token.text!r} at {token.at + 1}")
            call = self._call(token)
            if call is not None:
                return call
            names = [token.text]
            while self.peek().kind == "punct" and self.peek().text == ".":
                self.take()
                part = self.take()
                if part.kind != "name" or part.text in _KEYWORDS:
                    raise FeelError(f"expected a name after '.' at {part.at + 1}")
                names.append(part.text)
            return ("path", tuple(names))
        raise FeelError(f"unexpected {token.text or 'end of expression'!r} at {token.at + 1}")

    def _call(self, first: _Token) -> Node | None:
        """``name(``, or a two-word function name (``list contains(``): FEEL names may contain spaces."""
        words = [first.text]
        if self.peek().kind == "name" and f"{first.text} {self.peek().text}" in FUNCTIONS:
            words.append(self.peek().text)
        nxt = self.peek(len(words) - 1)
        if not (nxt.kind == "punct" and nxt.text == "("):
            if len(words) == 2:
                raise FeelError(f"expected '(' after {' '.join(words)!r} at {nxt.at + 1}")
            return None
        name = " ".join(words)
        if name not in FUNCTIONS:
            raise FeelError(f"function {name!r} is not supported (supported: {', '.join(FUNCTIONS)})")
        self.i += len(words)  # the second word, then "("
        args: list[Node] = []
        if not (self.peek().kind == "punct" and self.peek().text == ")"):
            args.append(self.disjunction())
            while self.peek().kind == "punct" and self.peek().text == ",":
                self.take()
                args.append(self.disjunction())
        self.expect(")")
        if len(args) != FUNCTIONS[name]:
            raise FeelError(f"{name}() takes {FUNCTIONS[name]} argument(s), got {len(args)}")
        return ("call", name, tuple(args))


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


@dataclass(frozen=True)
class Expression:
    """A parsed condition: ``source`` as written (with its leading ``=``) and its tree."""

    source: str
    tree: Node

    def evaluate(self, data: Mapping[str, Any]) -> Any:
        return _eval(self.tree, data)

    def is_true(self, data: Mapping[str, Any]) -> bool:
        return self.evaluate(data) is True


@lru_cache(maxsize=1024)
def compile_expression(source: str) -> Expression:
    """Parse a form-js expression (``"=..."``); :class:`FeelError` when it is outside the subset."""
    if not isinstance(source, str):
        raise FeelError("an expression must be a string")
    if len(source) > MAX_SOURCE_CHARS:
        raise FeelError(f"expression is longer than {MAX_SOURCE_CHARS} characters")
    text = source.strip()
    if not text.startswith("="):
        raise FeelError("a form-js expression starts with '='")
    if not text[1:].strip():
        raise FeelError("the expression is empty")
    return Expression(source=source, tree=_Parser(text[1:]).parse())


def evaluate(source: str, data: Mapping[str, Any]) -> Any:
    return compile_expression(source).evaluate(data)


# --- types (checked once, when the form loads) -------------------------------------------------------------
#: value types of names: "number" | "string" | "boolean" | "list" | "context" | "null" (never set) | "any"
_ORDERED = ("number", "string")


def check_types(expression: Expression, types: Mapping[str, str]) -> None:
    """Refuse what feelin and this evaluator could answer differently: ordering of other than two numbers or
    two strings, list functions on other than a list, ``string length`` of other than a string.
    ``types`` maps each dotted field key to its value type; group paths are contexts."""

    def of(node: Node) -> str:
        tag = node[0]
        if tag == "lit":
            return _kind(node[1])
        if tag == "path":
            return types.get(".".join(node[1]), "null")
        if tag == "list":
            for item in node[1]:
                of(item)
            return "list"
        if tag in ("and", "or"):
            of(node[1])
            of(node[2])
            return "boolean"
        if tag == "cmp":
            left, right = of(node[2]), of(node[3])
            if node[1] not in ("=", "!=") and not (
                {left, right} <= {*_ORDERED, "null"} and len({left, right} - {"null"}) <= 1
            ):
                raise FeelError(f"'{node[1]}' compares two numbers or two strings, not {left} and {right}")
            return "boolean"
        args = [of(a) for a in node[2]]
        name = node[1]
        if name in ("count", "list contains") and args[0] not in ("list", "null"):
            raise FeelError(f"{name}() takes a list (a checklist field), not {args[0]}")
        if name == "string length" and args[0] not in ("string", "null"):
            raise FeelError(f"string length() takes a string, not {args[0]}")
        return "number" if name in ("count", "string length") else "boolean"

    of(expression.tree)


# --- evaluation -----------------------------------------------------------------------------------------
def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "context"
    return "other"


def _equal(a: Any, b: Any) -> bool | None:
    """FEEL ``=`` as feelin has it: ``null`` equals only ``null``; a list of at most one item stands for
    that item; values of different types are not comparable (``null``)."""
    if (a is None) != (b is None):
        return False
    if isinstance(a, list | tuple) and len(a) < 2:
        a = a[0] if a else None
    if isinstance(b, list | tuple) and len(b) < 2:
        b = b[0] if b else None
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return None
    if ka == "null":
        return True
    if ka == "list":
        return len(a) == len(b) and all(_equal(x, y) is True for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _eval(node: Node, data: Mapping[str, Any]) -> Any:
    tag = node[0]
    if tag == "lit":
        return node[1]
    if tag == "path":
        current: Any = data
        for name in node[1]:
            if not isinstance(current, Mapping) or name not in current:
                return None
            current = current[name]
        return list(current) if isinstance(current, tuple) else current
    if tag == "list":
        return [_eval(item, data) for item in node[1]]
    if tag == "and":
        left = _eval(node[1], data)
        if left is False:
            return False
        right = _eval(node[2], data)
        if right is False:
            return False
        return True if left is True and right is True else None
    if tag == "or":
        left = _eval(node[1], data)
        if left is True:
            return True
        right = _eval(node[2], data)
        if right is True:
            return True
        return False if left is False and right is False else None
    if tag == "cmp":
        return _compare(node[1], _eval(node[2], data), _eval(node[3], data))
    if tag == "call":
        return _call(node[1], [_eval(a, data) for a in node[2]])
    raise AssertionError(tag)  # pragma: no cover - the parser makes no other node


def _compare(op: str, a: Any, b: Any) -> bool | None:
    if op == "=":
        return _equal(a, b)
    if op == "!=":
        return _equal(a, b) is not True  # feelin: !equals(a, b), so "not comparable" is "not equal"
    ka, kb = _kind(a), _kind(b)
    if ka != kb or ka not in ("number", "string"):
        return None
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _call(name: str, args: Sequence[Any]) -> Any:
    value = args[0]
    if name == "not":
        return (not value) if isinstance(value, bool) else None
    if name == "count":
        return len(value) if isinstance(value, list) else None
    if name == "string length":
        return len(value) if isinstance(value, str) else None
    # list contains
    if not isinstance(value, list):
        return None
    return any(_equal(item, args[1]) is True for item in value)
