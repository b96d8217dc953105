"""The ``activate-ports`` command: tools around the pytest plugin.

Subcommands are looked up lazily so that ``activate-ports report`` never
imports the emulator and vice versa.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib import metadata
from typing import Callable, Sequence

from .suggest import did_you_mean, one_of

SUBCOMMANDS = {
    "report": ("pytest_activate_ports.evidence.report", "merge evidence files from several vantages into one report"),
    "emulate": ("pytest_activate_ports.emulate", "run an emulated ACTIVATE deployment on loopback"),
    "init": ("pytest_activate_ports.onboarding.init", "write a commented starter spec on the ACTIVATE profile"),
    "plan": ("pytest_activate_ports.onboarding.plan", "validate a spec and show the checks each vantage would run (no traffic)"),
    "diff": ("pytest_activate_ports.evidence.diff", "what changed between two evidence files; exit 1 when a check regressed"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="activate-ports", description="Tools around the pytest-activate-ports plugin.",
                                     epilog="Run 'activate-ports SUBCOMMAND --help' for a subcommand's options.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    commands = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    for name, (_, text) in SUBCOMMANDS.items():
        # Each subcommand parses its own arguments; this parser only needs to know the names.
        commands.add_parser(name, help=text, add_help=False)
    return parser


def installed_version() -> str:
    """The version of the installed package (as ``--version`` and generated files say it)."""
    try:
        return metadata.version("pytest-activate-ports")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``activate-ports SUBCOMMAND ...`` to the subcommand's own ``main(argv)``.

    ``--help`` writes to standard output and exits 0; a missing or unknown
    subcommand is a usage error on standard error with exit 2, as argparse does.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    at = next((index for index, arg in enumerate(args) if not arg.startswith("-")), len(args))
    if at < len(args) and args[at] not in SUBCOMMANDS:
        parser.error(f"unknown subcommand {args[at]!r}{did_you_mean(args[at], SUBCOMMANDS)}; {one_of(SUBCOMMANDS)}")
    parser.parse_args(args[: at + 1])
    module = importlib.import_module(SUBCOMMANDS[args[at]][0])
    run: Callable[[Sequence[str]], int] = module.main
    return run(args[at + 1:])


if __name__ == "__main__":
    raise SystemExit(main())
