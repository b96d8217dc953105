"""Protocol-faithful local servers: stand-ins for services Debian lacks, and the emulated ACTIVATE deployment."""

from __future__ import annotations

from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """``activate-ports emulate``: see :mod:`pytest_activate_ports.emulate.demo`.

    Imported on call, so that importing one responder module does not load the whole deployment.
    """
    from .demo import main as run

    return run(argv)
