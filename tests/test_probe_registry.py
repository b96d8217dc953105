"""The registry's index of built-in probes: complete, exact, and loaded only when a spec asks."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_activate_ports.prober.probes import registry

PACKAGE = "pytest_activate_ports.prober.probes"


def test_registry_index_lists_exactly_the_kinds_the_probe_modules_register() -> None:
    """A probe module missing from BUILT_IN would be unreachable from specs: it fails here, not at a user's site."""
    for module in pkgutil.iter_modules([str(Path(registry.__file__).parent)]):
        importlib.import_module(f"{PACKAGE}.{module.name}")
    modules = {kind: registry.probe_class(kind).__module__ for kind in registry.kinds()}
    ours = {kind: module.removeprefix(f"{PACKAGE}.") for kind, module in modules.items() if module.startswith(f"{PACKAGE}.")}
    assert ours == dict(registry.BUILT_IN)


REGISTERED_BY = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
importlib.import_module(sys.argv[2])
from pytest_activate_ports.prober.probes import registry
print(json.dumps(sorted(registry._KINDS)))
"""


@pytest.mark.parametrize("module", sorted(set(registry.BUILT_IN.values())))
def test_registry_importing_a_probe_module_registers_only_its_own_kinds(module: str) -> None:
    """Shared protocol code lives beneath the probe modules: importing ``mtls`` (or ``https``, ``wss``) in a fresh
    interpreter with only the standard library registers ``mtls``, not ``tls`` or ``http`` as a side effect."""
    root = str(Path(registry.__file__).parents[3])
    found = subprocess.run([sys.executable, "-I", "-S", "-c", REGISTERED_BY, root, f"{PACKAGE}.{module}"],
                           capture_output=True, text=True, check=True)
    assert json.loads(found.stdout) == sorted(kind for kind, home in registry.BUILT_IN.items() if home == module)
