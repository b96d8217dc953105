"""Writing evidence safely: secrets redacted, files replaced atomically.

An evidence file is kept for audits, so a reader must never find half a file
(a run killed mid-write) or a token that the spec pulled from the environment.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

from ..redact import redact


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, _mode(path))
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


def _mode(path: Path) -> int:
    """Keep a replaced file's mode; a new file gets the usual 0666 minus umask (mkstemp would give 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def write_json(path: Path, document: object, secrets: Iterable[str]) -> None:
    """Write ``document`` as indented JSON, redacted, atomically."""
    write_atomic(path, json.dumps(redact(document, secrets), indent=2, ensure_ascii=False) + "\n")
