"""The one error a spec author must act on, always pointing at a place in the file."""

from __future__ import annotations

from pathlib import Path


class SpecError(Exception):
    """A spec problem, rendered as ``spec.yaml:LINE:COL: message`` on one line."""

    def __init__(self, path: Path | str, line: int, col: int, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.col = col
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"
