"""Typed reads of located YAML values; every wrong shape becomes a located SpecError."""

from __future__ import annotations

import re
from typing import Iterable

from ..suggest import did_you_mean
from .nodes import Node

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
"""Ids, host and role names: safe inside a pytest node id (no brackets, '::' or spaces)."""


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    return f"{type(value).__name__} {value!r}"


def mapping(node: Node, what: str, allowed: Iterable[str], required: Iterable[str] = ()) -> dict[str, Node]:
    """A mapping with only ``allowed`` keys (typos get a suggestion) and all ``required`` ones."""
    if not isinstance(node.value, dict):
        raise node.error(f"{what} must be a mapping, not {_kind(node.value)}")
    allowed = tuple(allowed)
    for key, child in node.value.items():
        if key not in allowed:
            raise child.error(f"unknown key {key!r} in {what}{did_you_mean(key, allowed)}; valid keys: {', '.join(allowed)}", at_key=True)
    for key in required:
        if key not in node.value:
            raise node.error(f"{what} is missing required key {key!r}")
    return node.value


def key(value: str | int, child: Node) -> Node:
    """A mapping key as a located value, so names and port keys are validated where they stand."""
    return Node(value, child.path, child.key_line, child.key_col)


def entries(node: Node, what: str) -> dict[str, Node]:
    """A mapping with free-form keys (hosts, features, roles)."""
    if not isinstance(node.value, dict):
        raise node.error(f"{what} must be a mapping, not {_kind(node.value)}")
    return node.value


def sequence(node: Node, what: str) -> list[Node]:
    """A list."""
    if not isinstance(node.value, list):
        raise node.error(f"{what} must be a list, not {_kind(node.value)}")
    return node.value


def text(node: Node, what: str) -> str:
    """A non-empty string (numbers are not silently accepted as names)."""
    if not isinstance(node.value, str) or not node.value.strip():
        raise node.error(f"{what} must be a non-empty string, not {_kind(node.value)}")
    return node.value


def name(node: Node, what: str) -> str:
    """An identifier usable in node ids."""
    value = text(node, what)
    if not NAME.fullmatch(value):
        raise node.error(f"{what} {value!r} may only contain letters, digits, '_', '.' and '-'")
    return value


def names(node: Node, what: str) -> list[tuple[str, Node]]:
    """One name or a non-empty list of names."""
    items = sequence(node, what) if isinstance(node.value, list) else [node]
    if not items:
        raise node.error(f"{what} must not be empty")
    return [(name(item, what), item) for item in items]


def integer(node: Node, what: str, low: int, high: int) -> int:
    """An integer within ``[low, high]``."""
    if not isinstance(node.value, int) or isinstance(node.value, bool):
        raise node.error(f"{what} must be an integer, not {_kind(node.value)}")
    if not low <= node.value <= high:
        raise node.error(f"{what} {node.value} is outside {low}..{high}")
    return node.value
