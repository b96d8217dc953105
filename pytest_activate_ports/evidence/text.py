"""Peer text made safe for every output: no control characters, one line where needed, inert Markdown.

Banners, HTTP reason phrases, certificate names and even spec names may come
from a peer or a hostile file. A terminal obeys escape sequences and
Markdown passes HTML through, so every value is made inert here before it
meets an auditor's terminal, wiki or merge request.
"""

from __future__ import annotations

import html
import re
import unicodedata

_MARKDOWN = re.compile(r"([\\`*_\[\]|~#])")


def printable(value: str) -> str:
    """``value`` on one line without control characters (C0, C1, bidirectional overrides and other format marks)."""
    return " ".join("".join(" " if unicodedata.category(c) in ("Cc", "Cf") else c for c in value).split())


def visible(value: str) -> str:
    """``value`` without control characters, its line breaks kept (an HTML title shows them)."""
    return "".join(c for c in value if c == "\n" or unicodedata.category(c) not in ("Cc", "Cf"))


def inert(value: str) -> str:
    """Inert Markdown text for a cell or a line: printable, HTML-escaped, Markdown punctuation backslash-escaped."""
    return _MARKDOWN.sub(r"\\\1", html.escape(printable(value), quote=False))


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table of plain values, each made inert."""
    return inert_table([inert(h) for h in head], [[inert(c) for c in row] for row in rows])


def inert_table(head: list[str], rows: list[list[str]]) -> list[str]:
    """A table of cells already made inert by :func:`inert`."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(row) + " |" for row in rows)]
