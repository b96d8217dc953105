"""Writing evidence safely: secrets redacted, files replaced atomically.

An evidence file is kept for audits, so a reader must never find half a file
(a run killed mid-write) or a token that the spec pulled from the environment.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
import uuid
from typing import Iterable, Iterator, Mapping

from ..redact import redact


def write_atomic(path: Path, text: str | Iterable[str]) -> None:
    """Replace ``path`` with ``text`` (or its chunks) in one step: readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines([text] if isinstance(text, str) else text)
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


def write_json(path: Path, document: Mapping[str, object], secrets: Iterable[str],
               records: Iterable[object] = ()) -> None:
    """Write ``document`` as indented JSON, redacted, atomically, with ``records`` streamed under ``"records"``.

    Records are serialised one at a time while the file is written, so a run
    of 10,000 checks never holds its whole evidence file in memory at once.
    """
    secrets = list(secrets)
    marker = f"records-{uuid.uuid4().hex}"
    head, tail = _dumps(redact({**document, "records": marker}, secrets)).split(json.dumps(marker), 1)

    def chunks() -> Iterator[str]:
        yield head + "["
        for index, record in enumerate(records):
            # One record per line: greppable, diffable, and written by json's C encoder.
            yield ("," if index else "") + "\n    " + json.dumps(redact(record, secrets), ensure_ascii=False)
        yield "\n  ]" + tail + "\n"

    write_atomic(path, chunks())


def _dumps(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
