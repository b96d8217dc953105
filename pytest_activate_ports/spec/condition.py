"""``when:`` conditions: a tiny, closed expression language over feature toggles.

Grammar (``and`` binds tighter than ``or``)::

    expr  := conj ("or" conj)*
    conj  := term ("and" term)*
    term  := "not" term | NAME [OP VALUE]
    OP    := == | != | < | <= | > | >=

Versions compare numerically (``platform_version < 8`` holds for ``"7.4"``), so
the profile can say "4006 only before v8" without string tricks.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Union

from .model import FeatureValue

_TOKEN = re.compile(r"\s*(==|!=|<=|>=|<|>|\(|\)|[A-Za-z_][\w.-]*|\"[^\"]*\"|'[^']*'|[0-9][\w.]*)")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


class ConditionError(ValueError):
    """The condition text does not parse."""


@dataclass(frozen=True)
class _Test:
    name: str
    op: str | None
    value: str | None


@dataclass(frozen=True)
class _Not:
    term: _Expr


@dataclass(frozen=True)
class _All:
    terms: tuple[_Expr, ...]


@dataclass(frozen=True)
class _Any:
    terms: tuple[_Expr, ...]


_Expr = Union[_Test, _Not, _All, _Any]


ORDERING = frozenset(("<", "<=", ">", ">="))
"""The operators that compare versions; a feature they read must hold one."""


def version(value: object) -> tuple[int, ...] | None:
    """``"7.4"``, ``8`` or ``"v8"`` as a tuple of numbers; None for anything that is not a version."""
    text = str(value).lstrip("vV")
    if isinstance(value, bool) or not re.fullmatch(r"\d+(\.\d+)*", text):
        return None
    return tuple(int(part) for part in text.split("."))


def _compare(left: FeatureValue, op: str, right: str) -> bool:
    lv, rv = version(left), version(right)
    if lv is not None and rv is not None:
        width = max(len(lv), len(rv))
        return _OPS[op](lv + (0,) * (width - len(lv)), rv + (0,) * (width - len(rv)))
    if op not in ("==", "!="):
        raise ConditionError(f"cannot order {left!r} and {right!r}")
    shown = str(left).lower() if isinstance(left, bool) else str(left)
    return _OPS[op](shown, right)


@dataclass(frozen=True)
class Condition:
    """A parsed ``when`` expression."""

    text: str
    tree: _Expr

    def names(self) -> frozenset[str]:
        """Feature names the condition reads."""
        return frozenset(name for name, _ in self.tests())

    def tests(self) -> tuple[tuple[str, str | None], ...]:
        """Each feature test as (name, operator), the operator None for a bare truth test."""
        return tuple(_tests(self.tree))

    def holds(self, features: Mapping[str, FeatureValue]) -> bool:
        """Evaluate against feature values (every name must be present)."""
        return _eval(self.tree, features)


def _tests(tree: _Expr) -> list[tuple[str, str | None]]:
    if isinstance(tree, _Test):
        return [(tree.name, tree.op)]
    if isinstance(tree, _Not):
        return _tests(tree.term)
    return [test for term in tree.terms for test in _tests(term)]


def _eval(tree: _Expr, features: Mapping[str, FeatureValue]) -> bool:
    if isinstance(tree, _Test):
        value = features[tree.name]
        if tree.op is None or tree.value is None:
            return bool(value) and str(value).lower() not in ("false", "no", "off", "0", "")
        return _compare(value, tree.op, tree.value)
    if isinstance(tree, _Not):
        return not _eval(tree.term, features)
    if isinstance(tree, _All):
        return all(_eval(term, features) for term in tree.terms)
    return any(_eval(term, features) for term in tree.terms)


def parse(text: str) -> Condition:
    """Parse a condition, raising :class:`ConditionError` with what is wrong."""
    tokens: list[str] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if not match:
            raise ConditionError(f"unexpected {stripped[pos:].strip()[:20]!r} in condition {text!r}")
        tokens.append(match.group(1))
        pos = match.end()
    if not tokens:
        raise ConditionError("empty condition")
    parser = _Parser(tokens, text)
    tree = parser.disjunction()
    if parser.pos != len(tokens):
        raise ConditionError(f"unexpected {tokens[parser.pos]!r} in condition {text!r}")
    return Condition(text, tree)


class _Parser:
    def __init__(self, tokens: list[str], text: str) -> None:
        self.tokens, self.text, self.pos = tokens, text, 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ConditionError(f"condition {self.text!r} ends too early")
        self.pos += 1
        return token

    def disjunction(self) -> _Expr:
        terms = [self.conjunction()]
        while self.peek() == "or":
            self.take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else _Any(tuple(terms))

    def conjunction(self) -> _Expr:
        terms = [self.term()]
        while self.peek() == "and":
            self.take()
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else _All(tuple(terms))

    def term(self) -> _Expr:
        token = self.take()
        if token == "not":
            return _Not(self.term())
        if token == "(":
            inner = self.disjunction()
            if self.take() != ")":
                raise ConditionError(f"missing ')' in condition {self.text!r}")
            return inner
        if not re.fullmatch(r"[A-Za-z_][\w.-]*", token) or token in ("and", "or"):
            raise ConditionError(f"expected a feature name, got {token!r} in condition {self.text!r}")
        if self.peek() in _OPS:
            op = self.take()
            value = self.take().strip("\"'")
            if op in ORDERING and version(value) is None:
                raise ConditionError(f"{op!r} compares versions, and {value!r} is not one (write a version such as 7.4) "
                                     f"in condition {self.text!r}")
            return _Test(token, op, value)
        return _Test(token, None, None)
