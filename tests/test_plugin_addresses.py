"""Addresses: IPv6 literals, names with several addresses, unreachable networks."""

from __future__ import annotations

import socket
import sys
import textwrap
from pathlib import Path
from typing import Callable, Iterator

import pytest

from .netns import Namespace, require_netns

SpecWriter = Callable[[str], Path]


@pytest.fixture
def v6_listener() -> Iterator[int]:
    """An open port on ::1 (accepting via the kernel backlog; nothing is read)."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 support")
    sock = socket.socket(socket.AF_INET6)
    try:
        sock.bind(("::1", 0))
    except OSError:
        sock.close()
        pytest.skip("::1 is not configured")
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


def test_ipv6_literal_in_brackets_is_probed(pytester: pytest.Pytester, write_spec: SpecWriter, v6_listener: int) -> None:
    spec = write_spec(f"""
        version: 1
        hosts: {{v6: {{address: "[::1]", roles: [lb]}}}}
        rules:
          - {{id: ui, from: internet, to: v6, port: {v6_listener}, expect: required}}
    """)
    result = pytester.runpytest("--activate-spec", str(spec), "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"spec.yaml::ui[[]v6:{v6_listener}[]] PASSED*"])


SCRIPT = """
import socket, sys, pytest
listener = socket.socket()
listener.bind(("127.0.0.1", {port}))
listener.listen(16)
sys.exit(pytest.main(["-p", "no:cacheprovider", "--activate-spec", "{spec}", "--activate-timeout", "1",
                      "-o", "asyncio_default_fixture_loop_scope=function", "-q"]))
"""


def run_in_namespace(tmp_path: Path, hosts: str, rules: str, port: int = 4443) -> tuple[int, str]:
    require_netns()
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent("""
        version: 1
        hosts: {multi: {address: multi.test, roles: [lb]}}
        rules:
    """) + textwrap.indent(textwrap.dedent(rules), "  "))
    with Namespace(hosts=hosts) as ns:
        done = ns.run(sys.executable, "-c", SCRIPT.format(port=port, spec=spec), check=False)
    return done.returncode, done.stdout + done.stderr


def test_name_with_several_addresses_is_checked_on_each(tmp_path: Path) -> None:
    code, output = run_in_namespace(tmp_path, "127.0.0.1 multi.test\n127.0.0.2 multi.test\n",
                                    "- {id: ui, from: internet, to: multi, port: 4443, expect: required}\n")
    assert code == 1, output
    assert "1 of 2 addresses: multi:4443 (127.0.0.2) must be open (tcp) but is refused" in output


def test_name_whose_addresses_all_answer_passes(tmp_path: Path) -> None:
    code, output = run_in_namespace(tmp_path, "127.0.0.1 multi.test\n",
                                    "- {id: ui, from: internet, to: multi, port: 4443, expect: required}\n")
    assert code == 0, output


def test_unreachable_network_is_its_own_state(tmp_path: Path) -> None:
    """No route to 198.18.0.0/15 inside a fresh namespace: ENETUNREACH, reported as unreachable."""
    code, output = run_in_namespace(tmp_path, "198.18.0.9 multi.test\n",
                                    "- {id: ui, from: internet, to: multi, port: 443, expect: required}\n")
    assert code == 1, output
    assert "must be open (tcp) but is unreachable: Network is unreachable after" in output


def test_range_on_an_unreachable_network_reports_every_port_without_crashing(tmp_path: Path) -> None:
    """5,000 connects that fail inside connect() itself (no route) finish one after another, not nested."""
    code, output = run_in_namespace(tmp_path, "198.18.0.9 multi.test\n",
                                    "- {id: span, from: internet, to: multi, range: 20000-24999, sample: all, expect: required}\n")
    assert code == 1, output
    assert "5000 sampled ports did not answer (unreachable: 20000-24999)" in output, output
    assert "crashed" not in output and "RecursionError" not in output, output
