"""Typo hints and counted nouns shared by spec validation, probe options, command-line errors and reports."""

from __future__ import annotations

import difflib
from typing import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def one_of(choices: Iterable[str]) -> str:
    """Render valid choices for an error message: ``one of: a, b, c``."""
    names = sorted(set(choices))
    return "one of: " + ", ".join(names) if names else "none are defined"


def counted(number: int, noun: str) -> str:
    """``"1 check"``, ``"2 checks"``: a count with its noun in the right number."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
