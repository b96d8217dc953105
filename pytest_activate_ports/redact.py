"""Secrets out of every output: terminal lines, JUnit properties and evidence files.

A spec may pull tokens and passwords from the environment (``${API_TOKEN}``);
the loader remembers those values and every writer passes its text through
:func:`redact` before it leaves the process.
"""

from __future__ import annotations

from typing import Iterable, TypeVar, cast

REDACTED = "[redacted]"
T = TypeVar("T")


def redact(value: T, secrets: Iterable[str]) -> T:
    """``value`` (any JSON-like structure) with every secret string replaced by ``[redacted]``."""
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)  # longest first: no half-redacted overlaps
    if not ordered:
        return value
    return cast(T, _redact(value, ordered))


def _redact(value: object, secrets: list[str]) -> object:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {_redact(k, secrets): _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v, secrets) for v in value]
    return value
