"""The ``activate-ports`` command: tools around the pytest plugin.

Subcommands are looked up lazily so that ``activate-ports report`` never
imports the emulator and vice versa.
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable, Sequence

SUBCOMMANDS = {
    "report": ("pytest_activate_ports.evidence.report", "merge evidence files from several vantages into one report"),
    "emulate": ("pytest_activate_ports.emulate", "run an emulated ACTIVATE deployment on loopback"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``activate-ports SUBCOMMAND ...`` to the subcommand's own ``main(argv)``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or args[0] not in SUBCOMMANDS:
        usage = "\n".join(f"  {name:<8} {text}" for name, (_, text) in SUBCOMMANDS.items())
        print(f"usage: activate-ports SUBCOMMAND [ARGS]\n\nsubcommands:\n{usage}", file=sys.stderr if args else sys.stdout)
        return 0 if args and args[0] in ("-h", "--help") else 2
    module = importlib.import_module(SUBCOMMANDS[args[0]][0])
    run: Callable[[Sequence[str]], int] = module.main
    return run(args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
