"""Spec files: loading, ``${VAR}`` expansion, validation and the resulting model."""

from .errors import SpecError
from .loader import load_spec
from .model import ClosedState, Expect, Host, PortRange, Rule, Spec, TlsConfig

__all__ = ["ClosedState", "Expect", "Host", "PortRange", "Rule", "Spec", "SpecError", "TlsConfig", "load_spec"]
