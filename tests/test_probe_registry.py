"""The registry's index of built-in probes: complete, exact, and loaded only when a spec asks."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
import trustme

from pytest_activate_ports.prober.probes import registry
from pytest_activate_ports.prober.probes.options import OptionError
from pytest_activate_ports.results import TlsConfig
from pytest_activate_ports.spec import SpecError, load_spec

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


def ca_file(path: Path, text: str | None = None) -> Path:
    path.write_text(text if text is not None else trustme.CA().cert_pem.bytes().decode())
    return path


@pytest.mark.parametrize(("make", "message"), [
    (lambda folder: folder / "gone.pem", "probe https: tls.ca: no such file {}"),
    (lambda folder: folder, "probe https: tls.ca: cannot read {}: Is a directory"),
    (lambda folder: ca_file(folder / "notes.pem", "a CA? no: notes\n"), "probe https: tls.ca: no PEM certificate in {}"),
])
def test_registry_names_a_tls_file_it_cannot_use(tmp_path: Path, make: Callable[[Path], Path], message: str) -> None:
    """The spec's files are read when the probe is built (on the pytest side); a file that cannot be used is one
    line naming it there, not a traceback on a vantage."""
    path = make(tmp_path)
    with pytest.raises(OptionError) as raised:
        registry.build("https", {}, TlsConfig(ca=path))
    assert raised.value.message == message.format(path)


def test_registry_names_an_option_file_it_cannot_use(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match=f"^probe postgres: 'ca': no such file {tmp_path / 'db.pem'}$"):
        registry.build("postgres", {"ca": "db.pem"}, TlsConfig(), tmp_path)
    ca_file(tmp_path / "db.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    with pytest.raises(OptionError, match=f"^probe postgres: 'ca': no PEM certificate in {tmp_path / 'db.pem'}$"):
        registry.build("postgres", {"ca": "db.pem"}, TlsConfig(), tmp_path)


def test_registry_spec_with_an_unusable_tls_file_is_a_located_error(tmp_path: Path) -> None:
    ca_file(tmp_path / "ca.pem", "not a certificate\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\ntls: {ca: ca.pem}\nhosts: {lb: {address: 127.0.0.1}}\n"
                    "rules: [{id: web, from: internet, to: lb, port: 443, expect: required, probe: https}]\n")
    with pytest.raises(SpecError) as raised:
        load_spec(spec)
    assert str(raised.value) == f"{spec}:4:79: probe https: tls.ca: no PEM certificate in {tmp_path / 'ca.pem'}"


def test_registry_a_ca_bundle_travels_as_its_certificates_only(tmp_path: Path) -> None:
    """certifi-style bundles carry comments in UTF-8; ``cadata`` takes ASCII PEM, so only the blocks are kept."""
    first, second = (trustme.CA().cert_pem.bytes().decode() for _ in range(2))
    bundle = ca_file(tmp_path / "bundle.pem", f"# Issuer: CN=NetLock Arany (Class Gold) F\u0151tan\u00fas\u00edtv\u00e1ny\n{first}\n# another\n{second}")
    probe = registry.build("tls", {}, TlsConfig(ca=bundle))
    assert probe.config[2]["ca"] == (str(bundle), first + second)
