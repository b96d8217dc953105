"""The registry's index of built-in probes: complete, exact, and loaded only when a spec asks."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from pytest_activate_ports.prober.probes import registry

PACKAGE = "pytest_activate_ports.prober.probes"


def test_registry_index_lists_exactly_the_kinds_the_probe_modules_register() -> None:
    """A probe module missing from BUILT_IN would be unreachable from specs: it fails here, not at a user's site."""
    for module in pkgutil.iter_modules([str(Path(registry.__file__).parent)]):
        importlib.import_module(f"{PACKAGE}.{module.name}")
    modules = {kind: registry.probe_class(kind).__module__ for kind in registry.kinds()}
    ours = {kind: module.removeprefix(f"{PACKAGE}.") for kind, module in modules.items() if module.startswith(f"{PACKAGE}.")}
    assert ours == dict(registry.BUILT_IN)
