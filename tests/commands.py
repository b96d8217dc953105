"""Running an ``activate-ports`` subcommand in-process, as its console script would: exit code, stdout, stderr."""

from __future__ import annotations

from typing import Callable, Sequence

import pytest


def run_command(main: Callable[[Sequence[str]], int], capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``main(args)``'s exit code (argparse's ``SystemExit`` included) and what it wrote."""
    try:
        code = main(list(args))
    except SystemExit as exit:
        code = int(exit.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
