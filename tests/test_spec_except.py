"""``except:`` on a range rule: validated where it is written, never sampled, and followed through a real run."""

from __future__ import annotations

import dataclasses
import json
import socket
import textwrap
from pathlib import Path
from typing import Callable, Iterator

import pytest
from hypothesis import assume, given, settings, strategies as st

from pytest_activate_ports.checks import sample_ports
from pytest_activate_ports.spec import load_spec
from pytest_activate_ports.spec.model import Excepted, PortRange, Spec

from .test_spec_errors import HEAD, assert_located, error_of

FEATURES = "features: {redirect: true, cac: false}\n"


def spec_of(tmp_path: Path, rule: str) -> Spec:
    path = tmp_path / "spec.yaml"
    path.write_text(FEATURES + HEAD + rule + "\n")
    return load_spec(path, environ={})


@pytest.mark.parametrize(
    ("rule", "marker", "message"),
    [
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: [7999], expect: forbidden}',
         '7999', "except 7999 lies outside the rule's range 8000-8100"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: [8001, "8090-8200"], expect: forbidden}',
         '"8090', "except 8090-8200 lies outside the rule's range 8000-8100"),
        ('  - {id: a, from: internet, to: lb, port: 80, except: [80], expect: forbidden}',
         '[80]', "'except' only applies to a 'range' rule"),
        ('  - {id: a, from: internet, to: lb, ports: [80, 81], except: [80], expect: forbidden}',
         '[80]', "'except' only applies to a 'range' rule"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: [8010, 8011, 8010], expect: forbidden}',
         '8010]', "except 8010 is listed twice (first at line 7, column 64)"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: ["8000-8050", 8020], expect: forbidden}',
         '8020]', "except 8020 overlaps 8000-8050"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: [8020, "8000-8050"], expect: forbidden}',
         '"8000-8050"', "except 8000-8050 overlaps 8020"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: ["8000-8050", "8050-8060"], expect: forbidden}',
         '"8050-', "except 8050-8060 overlaps 8000-8050"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: [8080, {port: 8080, when: cac}], expect: forbidden}',
         '{port', "except 8080 is listed twice"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: [lots], expect: forbidden}',
         'lots', "except range must look like 8192-60000, not 'lots'"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: ["8050-8040"], expect: forbidden}',
         '"8050', "except range 8050-8040 must satisfy 1 <= first < last <= 65535"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: [70000], expect: forbidden}',
         '70000', "except port 70000 is outside 1..65535"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: [[8001]], expect: forbidden}',
         '[8001]', "except port must be an integer, not a list"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: 8001, expect: forbidden}',
         '8001', "except must be a list, not int 8001"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: [], expect: forbidden}',
         '[]', "except must list at least one port or range"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: [{port: 8001, range: 8002-8003}], expect: forbidden}',
         '{port', "an except entry needs exactly one of 'port' or 'range' (found port, range)"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: [{when: cac}], expect: forbidden}',
         '{when', "an except entry needs exactly one of 'port' or 'range'"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: [{prot: 8001}], expect: forbidden}',
         'prot', "unknown key 'prot' in except entry (did you mean 'port'?)"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: [{port: 8001, when: cca}], expect: forbidden}',
         'cca', "unknown feature 'cca' in 'when' (did you mean 'cac'?)"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8001, except: [8000, 8001], expect: forbidden}',
         '[8000', "except leaves no port of the range 8000-8001 to check"),
        ('  - {id: a, from: internet, to: lb, range: 8000-8100, except: [{range: 8000-8100, when: cac}], expect: forbidden}',
         '[{', "except leaves no port of the range 8000-8100 to check"),
    ],
)
def test_spec_except_error_is_located(tmp_path: Path, rule: str, marker: str, message: str) -> None:
    """Each mistake is one located line at load time; the column points at the offending entry (``marker``)."""
    assert_located(tmp_path, FEATURES + HEAD, rule, marker, message)


def test_spec_except_reads_ports_ranges_and_conditional_entries_in_port_order(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, '  - {id: a, from: internet, to: lb, range: 1-65535, sample: all, expect: forbidden, '
                             'except: [443, {port: 80, when: redirect}, "9000-9010", {range: 8443-8444, when: cac}]}')
    port_range = spec.rules[0].port_range
    assert port_range is not None
    assert [(e.first, e.last, e.when.text if e.when else None) for e in port_range.excepted] == [
        (80, 80, "redirect"), (443, 443, None), (8443, 8444, "cac"), (9000, 9010, None)]
    assert [str(e) for e in port_range.exceptions(spec.features)] == ["80", "443", "9000-9010"]


def test_spec_feature_of_an_exception_is_typed_by_its_condition(tmp_path: Path) -> None:
    rule = '  - {id: a, from: internet, to: lb, range: 8000-8100, except: [{port: 8080, when: proxy}], expect: forbidden}'
    message = error_of(tmp_path, "features: {proxy: maybe}\n" + HEAD + rule + "\n")
    assert message.startswith("spec.yaml:1:19: feature 'proxy' is true or false (rule 'a' tests it: when: proxy)")


def test_sample_without_exceptions_is_unchanged() -> None:
    """The sample of a range without ``except`` is the one earlier versions drew: evidence stays comparable."""
    assert sample_ports(PortRange(8192, 60000, 16), {}) == (
        8192, 9279, 10983, 17788, 23773, 25494, 28696, 35846, 36850, 42630, 45674, 47180, 51321, 55632, 58283, 60000)
    assert sample_ports(PortRange(20000, 20003, None), {}) == (20000, 20001, 20002, 20003)


def test_sample_skips_excepted_ports_and_boundaries() -> None:
    port_range = PortRange(20000, 20010, None, (Excepted(20000, 20001), Excepted(20003, 20003), Excepted(20010, 20010)))
    assert sample_ports(port_range, {}) == (20002, 20004, 20005, 20006, 20007, 20008, 20009)
    sampled = sample_ports(dataclasses.replace(port_range, sample=3), {})
    assert sampled[0] == 20002 and sampled[-1] == 20009 and len(sampled) == 3 and 20003 not in sampled


def test_sample_follows_the_features_of_conditional_exceptions(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, '  - {id: a, from: internet, to: lb, range: 20000-20004, sample: all, expect: forbidden, '
                             'except: [{port: 20001, when: redirect}, {port: 20003, when: cac}]}')
    port_range = spec.rules[0].port_range
    assert port_range is not None
    assert sample_ports(port_range, spec.features) == (20000, 20002, 20003, 20004)
    assert sample_ports(port_range, {"redirect": False, "cac": True}) == (20000, 20001, 20002, 20004)


@st.composite
def ranges_with_exceptions(draw: st.DrawFn) -> PortRange:
    first = draw(st.integers(1, 65000))
    last = draw(st.integers(first + 1, min(first + 400, 65535)))
    cuts = sorted(draw(st.lists(st.integers(first, last), max_size=12)))
    excepted: list[Excepted] = []
    for a, b in zip(cuts[::2], cuts[1::2]):  # single ports (a == b) and ranges, disjoint as the validator demands
        if not excepted or a > excepted[-1].last:
            excepted.append(Excepted(a, b))
    return PortRange(first, last, draw(st.one_of(st.none(), st.integers(2, 500))), tuple(excepted))


@settings(deadline=None)  # no timed assertions: a loaded machine is not a failure
@given(ranges_with_exceptions())
def test_sample_never_picks_an_excepted_port(port_range: PortRange) -> None:
    kept = [p for p in range(port_range.first, port_range.last + 1) if not any(e.first <= p <= e.last for e in port_range.excepted)]
    assume(kept)  # the validator refuses exceptions that leave nothing to check
    sampled = sample_ports(port_range, {})
    assert set(sampled) <= set(kept), "an excepted port was sampled"
    assert list(sampled) == sorted(set(sampled))
    assert len(sampled) == (len(kept) if port_range.sample is None else min(port_range.sample, len(kept)))
    assert (sampled[0], sampled[-1]) == (kept[0], kept[-1]), "excepted boundaries give way to the nearest checked ports"


@pytest.fixture
def listening_20003() -> Iterator[socket.socket]:
    """A real listening socket on 127.0.0.1:20003 (below Linux's ephemeral ports, so no client socket holds it).

    Nothing accepts during the run: the kernel completes each handshake into the
    backlog, where the test finds afterwards whether the port was dialled at all.
    """
    with socket.create_server(("127.0.0.1", 20003), backlog=64) as server:
        server.setblocking(False)
        yield server


def dialled(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
    except BlockingIOError:
        return False
    return True


def _sweep(exceptions: str) -> str:
    return textwrap.dedent(f"""
        version: 1
        hosts:
          lb: {{address: 127.0.0.1, roles: [control-plane]}}
        rules:
          - id: deny
            from: internet
            to: lb
            range: 20000-20010
            sample: all
            expect: forbidden
            {exceptions}
    """)


def test_forbidden_sweep_passes_when_the_only_open_port_is_excepted(
        pytester: pytest.Pytester, write_spec: Callable[[str], Path], listening_20003: socket.socket) -> None:
    result = pytester.runpytest("--activate-spec", str(write_spec(_sweep("except: [20003]"))), "--activate-timeout", "2",
                                "--activate-evidence", "evidence.json", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*deny[[]lb:20000-20010[]] PASSED*"])
    assert not dialled(listening_20003), "the excepted port was dialled"
    record = json.loads((pytester.path / "evidence.json").read_text())["records"][0]
    assert record["range"]["ports"] == "20000-20002,20004-20010", "evidence shows the exception as a gap in the checked ports"
    assert record["range"]["counts"] == {"refused": 10}


def test_forbidden_sweep_without_the_exception_fails_naming_the_open_port(
        pytester: pytest.Pytester, write_spec: Callable[[str], Path], listening_20003: socket.socket) -> None:
    result = pytester.runpytest("--activate-spec", str(write_spec(_sweep(""))), "--activate-timeout", "2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*lb:20000-20010 * must be closed but 1 sampled ports accepted (20003)*"])
    assert dialled(listening_20003)
