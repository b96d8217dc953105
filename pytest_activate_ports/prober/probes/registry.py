"""The probe registry: probe kinds by name, so collection and the engine never list them.

A probe class joins the registry with the :func:`register` decorator when its
module is imported. Built-in modules are imported only when a spec uses one of
their kinds (:data:`BUILT_IN` says where each lives): most probe modules need
asyncio and ssl, which a run of forbidden ports and ``tcp`` checks never
loads. A new protocol is a new module here plus its line in ``BUILT_IN``
(a test fails until both agree).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Collection, Mapping, TypeVar

from ...suggest import did_you_mean, one_of
from ..transport import Wire, pem_from_wire, pem_to_wire, tls_from_wire, tls_to_wire
from .base import Probe
from .material import Identity, MaterialError, TlsMaterial, read_material
from .options import OptionError, ProbeOptions

if TYPE_CHECKING:
    from ...results import TlsConfig

P = TypeVar("P", bound=type[Probe])
BUILT_IN: Mapping[str, str] = {  # kind -> module of this package that registers it
    "amqp": "amqp",
    "http": "http",
    "http-redirect": "http_redirect",
    "https": "https",
    "mongodb": "mongodb",
    "mtls": "mtls",
    "mysql": "mysql",
    "nfs": "nfs",
    "postgres": "postgres",
    "slurmctld": "slurm",
    "slurmdbd": "slurm",
    "smtp-starttls": "smtp",
    "ssh": "ssh",
    "tcp": "tcp",
    "tls": "tls",
    "vault": "vault",
    "wss": "wss",
}
_KINDS: dict[str, type[Probe]] = {}


def register(cls: P) -> P:
    """Class decorator: make ``cls`` available under ``cls.kind``.

    A module imported again (``importlib.reload``, or pytester restoring
    ``sys.modules`` after an in-process run) replaces its own class; another
    class claiming a taken kind is an error.
    """
    known = _KINDS.get(cls.kind)
    if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
        raise RuntimeError(f"probe kind {cls.kind!r} registered twice")
    _KINDS[cls.kind] = cls
    return cls


def kinds() -> Collection[str]:
    """Every probe kind a spec may name: the built-in ones and any registered by other modules."""
    return sorted({*BUILT_IN, *_KINDS})


def probe_class(kind: str) -> type[Probe]:
    """The class registered for ``kind``, importing its built-in module on first use."""
    if kind not in _KINDS and kind in BUILT_IN:
        importlib.import_module(f"{__package__}.{BUILT_IN[kind]}")
    return _KINDS[kind]


def build(kind: str, values: Mapping[str, object], tls: TlsConfig, base: Path | None = None,
          untrusted_client: Callable[[], Identity] | None = None) -> Probe:
    """Build a probe from its spec options, on the pytest side; raises :class:`OptionError` on bad input.

    ``base`` is the folder of the spec file the options come from: file options
    (``ca:``) are relative to it, like the spec's ``tls:`` paths. Every file the
    probe needs is read here, once, and the probe holds its contents (as its
    :attr:`Probe.config` does), so it runs the same in this process and on a
    vantage without the files. ``untrusted_client`` makes the client identity
    no server trusts, for the kinds that ask for it (``mtls``): the pytest side
    has trustme, a prober only the standard library.
    """
    available = kinds()
    if kind not in available:
        raise OptionError("kind", f"unknown probe {kind!r}{did_you_mean(kind, available)}; {one_of(available)}")
    cls = probe_class(kind)
    try:
        material = read_material(tls, cls.tls_material, untrusted_client)
    except MaterialError as exc:
        raise OptionError(None, f"probe {kind}: {exc}") from None
    return _built(cls, ProbeOptions(kind, values, base), material)


def rebuild(config: Wire) -> Probe:
    """The probe a :attr:`Probe.config` describes: how a prober process gets its probes from plain data."""
    kind, values, tls, files = config
    options = ProbeOptions(str(kind), values, files={str(key): pem_from_wire(pem) for key, pem in files.items()})
    return _built(probe_class(str(kind)), options, tls_from_wire(tls))


def _built(cls: type[Probe], options: ProbeOptions, tls: TlsMaterial) -> Probe:
    probe = cls.from_options(options, tls)
    options.finish()
    probe.config = (cls.kind, options.values, tls_to_wire(tls), {key: pem_to_wire(pem) for key, pem in options.files.items()})
    return probe
