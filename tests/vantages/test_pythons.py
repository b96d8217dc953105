"""Real Pythons of other versions as vantages (pyenv's, or any python3.X on PATH): which run the prober, which are refused.

The prober ships as source to whatever Python the gateway starts, so it must
compile and run on each supported version (>= 3.10), and every older one is
a one-line error: 3.8 and 3.9 by the version gate, older ones because they
cannot even compile execnet's bootstrap.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_activate_ports.results import PortState

from ..servers import Listener
from ..test_prober_process import jobs_for, one_rule, run, stopped_with


def python(version: str) -> str:
    """The path of a ``python{version}`` here (one of pyenv's, or on PATH), else skip."""
    installed = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    found = str(installed[-1]) if installed else shutil.which(f"python{version}")
    if found is None or "/shims/" in found:  # a pyenv shim runs only where pyenv chose that version
        pytest.skip(f"no Python {version} on this machine (PATH or ~/.pyenv)")
    return found


@pytest.mark.parametrize("version", ["3.10", "3.12", "3.13"])
def test_vantage_python_supported_runs_the_prober(tmp_path: Path, listener: Listener, version: str) -> None:
    jobs = jobs_for(tmp_path, one_rule(listener.port, "required"))
    prober, outcomes = run(jobs, f"popen//python={python(version)} -I -S")
    try:
        assert [r.state for r in outcomes.wait(jobs[0]).results] == [PortState.OPEN]
    finally:
        prober.close()
    assert prober.facts["python"].startswith(f"{version}.")


@pytest.mark.parametrize(("version", "cause"), [
    ("3.9", r"cannot run there: Python 3\.9\.\d+ is too old \(the prober needs >= 3\.10\)$"),
    ("3.8", r"cannot run there: Python 3\.8\.\d+ is too old \(the prober needs >= 3\.10\)$"),
    ("3.7", r"did not start: no Python answered \(.*\): the command must start a Python >= 3\.10; "),
])
def test_vantage_python_too_old_is_one_line(tmp_path: Path, listener: Listener, version: str, cause: str) -> None:
    jobs = jobs_for(tmp_path, one_rule(listener.port, "required"))
    stopped_with(*run(jobs, f"popen//python={python(version)} -I -S", name="vantage agent"), jobs[0],
                 rf"^the vantage agent \(popen//python=.*python{version} -I -S\) {cause}")
    assert listener.settled(0) == 0
