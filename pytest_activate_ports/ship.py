"""The prober's code as text, and the few lines that import it from memory on the other side of a channel.

Nothing is installed or written where a prober runs: the modules listed here
(the prober half, standard library only) are sent over the channel as source
and imported from a dictionary, so the vantage needs only a Python. Anything
else of this package is missing there on purpose: a prober module that
imported the spec, pytest or PyYAML would fail at once, not in the field.
"""

from __future__ import annotations

import functools
import importlib.util
import pkgutil
from pathlib import Path

PACKAGE = __package__ or "pytest_activate_ports"
SHARED = ("results", "suggest")  # the vocabulary both halves speak, and the one spelling helper
MIN_PYTHON = (3, 10)

# Runs in the vantage's interpreter (execnet's remote_exec, `channel` given): says which Python it is,
# then, unless refused, installs the shipped modules as an importer and serves. Written in syntax any
# Python 3 parses, so that an old one is reported by the pytest side rather than failing to compile.
BOOTSTRAP = """
import sys
channel.send(("hello", list(sys.version_info[:3])))
sources = channel.receive()
if sources is not None:
    import importlib.abc, importlib.util

    class ShippedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            if name in sources:
                return importlib.util.spec_from_loader(name, self, is_package=sources[name][0])
            return None

        def create_module(self, spec):
            return None

        def exec_module(self, module):
            is_package, source = sources[module.__name__]
            if is_package:
                module.__path__ = []
            exec(compile(source, "<shipped %s>" % module.__name__, "exec"), module.__dict__)

    sys.meta_path.insert(0, ShippedModules())
    from {package}.prober.serve import serve
    serve(channel)
""".replace("{package}", PACKAGE)


@functools.cache
def sources() -> dict[str, tuple[bool, str]]:
    """Module name -> (is a package, source) for every module the prober may import."""
    prober = Path(__file__).parent / "prober"
    names = [PACKAGE, *(f"{PACKAGE}.{name}" for name in SHARED), f"{PACKAGE}.prober", f"{PACKAGE}.prober.probes"]
    names += [f"{PACKAGE}.prober.{info.name}" for info in pkgutil.iter_modules([str(prober)]) if not info.ispkg]
    names += [f"{PACKAGE}.prober.probes.{info.name}" for info in pkgutil.iter_modules([str(prober / "probes")])]
    shipped: dict[str, tuple[bool, str]] = {}
    for name in names:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        shipped[name] = (spec.submodule_search_locations is not None, Path(spec.origin).read_text(encoding="utf-8"))
    return shipped
