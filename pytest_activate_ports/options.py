"""Command-line options and ini settings, parsed once into :class:`Settings`.

The command line overrides ini; every bad value is a ``pytest.UsageError``
with a sentence a user understands.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pytest

from .prober.engine import default_concurrency

DEFAULT_TIMEOUT = 3.0
DEFAULT_PER_HOST = 64
PROBERS = ("auto", "thread", "process")  # where probing runs: a thread of pytest's process, or a prober process
DEFAULT_PROBER = "auto"


@dataclass(frozen=True)
class Settings:
    """Everything the options say, validated."""

    specs: tuple[Path, ...]
    role: str | None
    hosts: Mapping[str, str]
    features: Mapping[str, str]  # as given: typed against each spec's feature types when applied
    timeout: float
    concurrency: int
    per_host: int
    evidence: Path | None
    spec_glob: str | None
    repeated_roles: tuple[str, ...] = ()  # every --activate-role when given more than once: a usage error
    prober: str = DEFAULT_PROBER
    vantages: tuple[tuple[str, str], ...] = ()  # (role, WHERE) per --activate-vantage, in the order given
    probers: int | None = None  # local prober processes; None: auto (one per core for a sweep)


def add_options(parser: pytest.Parser) -> None:
    """Register the ``--activate-*`` options and their ini twins."""
    group = parser.getgroup("activate", "ACTIVATE network port acceptance")
    group.addoption("--activate-spec", action="append", default=[], metavar="PATH",
                    help="port spec (YAML) to turn into test items; repeatable")
    # Appended, so that a second --activate-role is reported instead of silently replacing the first.
    group.addoption("--activate-role", action="append", default=[], metavar="ROLE",
                    help="the vantage this run is on; only rules 'from' it run")
    group.addoption("--activate-host", action="append", default=[], metavar="NAME[@ROLE]=ADDR",
                    help="override a host's address (as seen from vantage ROLE only, with @ROLE); repeatable")
    group.addoption("--activate-feature", action="append", default=[], metavar="NAME[=VALUE]",
                    help="override a feature toggle (NAME alone means true); repeatable")
    group.addoption("--activate-timeout", metavar="SECONDS", help=f"per-probe timeout (default {DEFAULT_TIMEOUT:g})")
    group.addoption("--activate-concurrency", metavar="N",
                    help="probes in flight at once (default: sized to the file-descriptor limit)")
    group.addoption("--activate-host-concurrency", metavar="N",
                    help=f"probes in flight against one host (default {DEFAULT_PER_HOST})")
    group.addoption("--activate-evidence", metavar="PATH", help="write the JSON evidence file")
    group.addoption("--activate-prober", metavar="WHERE",
                    help="where probes run: 'thread' (in pytest's process), 'process' (a prober process fed over an "
                         "execnet channel) or 'auto' (default: process from 1000 probed checks on, where it is faster)")
    group.addoption("--activate-vantage", action="append", default=[], metavar="ROLE=WHERE",
                    help="probe ROLE's checks from WHERE: 'local' or an execnet gateway spec (ssh=[user@]host, "
                         "popen//python=CMD, ...); repeatable, every given role runs in this run")
    group.addoption("--activate-probers", metavar="N",
                    help="local prober processes (default auto: one per core when a range has 4096 ports or more)")
    parser.addini("activate_spec", "port spec(s) to collect", type="args", default=[])
    parser.addini("activate_probers", "local prober processes (auto, or a whole number)", default="")
    parser.addini("activate_vantages", "ROLE=WHERE per line: probe ROLE's checks from WHERE", type="linelist", default=[])
    parser.addini("activate_role", "vantage role of this run", default="")
    parser.addini("activate_timeout", "per-probe timeout in seconds", default="")
    parser.addini("activate_concurrency", "probes in flight at once", default="")
    parser.addini("activate_host_concurrency", "probes in flight against one host", default="")
    parser.addini("activate_evidence", "JSON evidence file to write", default="")
    parser.addini("activate_prober", "where probes run: auto, thread or process", default="")
    parser.addini("activate_spec_glob", "collect YAML files matching this glob as specs (off when empty)", default="")


def _number(name: str, raw: str, kind: type[float] | type[int], low: float) -> float:
    try:
        value = kind(raw)
    except ValueError:
        raise pytest.UsageError(f"{name} must be a {'number' if kind is float else 'whole number'}, not {raw!r}") from None
    if value < low:
        raise pytest.UsageError(f"{name} must be at least {low:g}, not {raw}")
    return value


def _pairs(name: str, values: list[str], need_value: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in values:
        key, sep, value = raw.partition("=")
        if not key or (need_value and (not sep or not value)):
            raise pytest.UsageError(f"{name} expects NAME={'ADDR' if need_value else 'VALUE'}, got {raw!r}")
        out[key] = value if sep else "true"
    return out


def read(config: pytest.Config) -> Settings:
    """Parse and validate the options of this run."""
    def pick(option: str, ini: str) -> str:
        value = config.getoption(option)
        if isinstance(value, list):
            value = value[-1] if value else None
        return str(value) if value not in (None, "") else str(config.getini(ini) or "")

    root = config.rootpath
    specs = [Path(p) for p in config.getoption("activate_spec")] or [root / p for p in config.getini("activate_spec")]
    for spec in specs:
        if spec.is_dir():
            raise pytest.UsageError(f"--activate-spec: {spec} is a directory, not a spec file; name each spec with "
                                    f"--activate-spec, or set activate_spec_glob (e.g. ports_*.yaml) and give the folder as an argument")
        if not spec.is_file():
            raise pytest.UsageError(f"--activate-spec: no such file: {spec}")
    timeout_raw = pick("activate_timeout", "activate_timeout")
    concurrency_raw = pick("activate_concurrency", "activate_concurrency")
    per_host_raw = pick("activate_host_concurrency", "activate_host_concurrency")
    timeout = _number("--activate-timeout", timeout_raw, float, 0.001) if timeout_raw else DEFAULT_TIMEOUT
    concurrency = int(_number("--activate-concurrency", concurrency_raw, int, 1)) if concurrency_raw else default_concurrency()
    per_host = int(_number("--activate-host-concurrency", per_host_raw, int, 1)) if per_host_raw else DEFAULT_PER_HOST
    evidence = pick("activate_evidence", "activate_evidence")
    prober = pick("activate_prober", "activate_prober") or DEFAULT_PROBER
    if prober not in PROBERS:
        raise pytest.UsageError(f"--activate-prober must be one of: {', '.join(PROBERS)}, not {prober!r}")
    roles = config.getoption("activate_role")
    vantages = _vantages(config.getoption("activate_vantage") or [str(line) for line in config.getini("activate_vantages")])
    return Settings(
        specs=tuple(spec.resolve() for spec in specs),
        role=pick("activate_role", "activate_role") or None,
        hosts=_pairs("--activate-host", config.getoption("activate_host"), True),
        features=_pairs("--activate-feature", config.getoption("activate_feature"), False),
        timeout=timeout,
        concurrency=concurrency,
        per_host=per_host,
        evidence=Path(evidence) if evidence else None,
        spec_glob=str(config.getini("activate_spec_glob")) or None,
        repeated_roles=tuple(roles) if len(roles) > 1 else (),
        prober=prober,
        vantages=vantages,
        probers=_probers(pick("activate_probers", "activate_probers")),
    )


def _probers(raw: str) -> int | None:
    """``--activate-probers``: a whole number of at least 1, or ``auto`` (None)."""
    if raw in ("", "auto"):
        return None
    return int(_number("--activate-probers", raw, int, 1))


def _vantages(values: list[str]) -> tuple[tuple[str, str], ...]:
    """``ROLE=WHERE`` values as (role, where), each WHERE checked before any traffic."""
    found: dict[str, str] = {}
    for raw in values:
        role, sep, where = (part.strip() for part in raw.partition("="))
        if not role or not sep or not where:
            raise pytest.UsageError(f"--activate-vantage expects ROLE=WHERE (WHERE: local, ssh=HOST, popen//python=CMD, ...), got {raw!r}")
        if role in found:
            raise pytest.UsageError(f"--activate-vantage: role {role!r} is given twice ({found[role]} and {where}); "
                                    "a role is probed from one place")
        if where != "local":
            from .where import check_where  # execnet is imported only when a gateway is given

            try:
                check_where(where)
            except ValueError as exc:
                raise pytest.UsageError(f"--activate-vantage {role}={where}: {exc}") from None
        found[role] = where
    return tuple(found.items())


def spec_argument_hint(error: pytest.UsageError, config: pytest.Config) -> pytest.UsageError:
    """``error`` (pytest's "not found") with a hint for each YAML argument that no plugin collected.

    A spec given as a plain argument (``pytest spec.yaml``, or the second of
    ``--activate-spec a.yaml b.yaml``) is not collected unless ``activate_spec_glob``
    matches it; pytest then only says "not found" of a file that exists.
    """
    settings = read(config)
    hints = []
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path.suffix not in (".yaml", ".yml") or not path.is_file() or path in settings.specs \
                or not any(str(path) in str(message) for message in error.args):
            continue
        glob = f" (activate_spec_glob {settings.spec_glob!r} does not match it)" if settings.spec_glob else ""
        fix = f"--activate-spec takes one path: write --activate-spec {arg} (once per spec)" if settings.specs \
            else f"run it with --activate-spec {arg}"
        hints.append(f"{arg} is a plain pytest argument, not a spec{glob}; {fix}, "
                     f"or set activate_spec_glob in the ini to collect YAML files given as paths")
    return pytest.UsageError(*error.args, *hints) if hints else error
