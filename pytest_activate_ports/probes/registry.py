"""The probe registry: probe kinds by name, so collection and the engine never list them.

Every module in this package is imported once on first use; a probe class
joins the registry with the :func:`register` decorator. A new protocol is a new
module here and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, TypeVar

from ..suggest import did_you_mean, one_of
from .base import Probe
from .options import OptionError, ProbeOptions

if TYPE_CHECKING:
    from ..spec.model import TlsConfig

P = TypeVar("P", bound=type[Probe])
_KINDS: dict[str, type[Probe]] = {}
_loaded = False


def register(cls: P) -> P:
    """Class decorator: make ``cls`` available under ``cls.kind``."""
    if cls.kind in _KINDS and _KINDS[cls.kind] is not cls:
        raise RuntimeError(f"probe kind {cls.kind!r} registered twice")
    _KINDS[cls.kind] = cls
    return cls


def kinds() -> Mapping[str, type[Probe]]:
    """All registered probe kinds, importing the probe modules on first call."""
    global _loaded
    if not _loaded:
        for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
            importlib.import_module(f"{__package__}.{module.name}")
        _loaded = True
    return _KINDS


def build(kind: str, values: Mapping[str, object], tls: TlsConfig) -> Probe:
    """Build a probe from its spec options; raises :class:`OptionError` on bad input."""
    available = kinds()
    if kind not in available:
        raise OptionError("kind", f"unknown probe {kind!r}{did_you_mean(kind, available)}; {one_of(available)}")
    options = ProbeOptions(kind, values)
    probe = available[kind].from_options(options, tls)
    options.finish()
    return probe
