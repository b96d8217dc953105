"""Every probe kind against every hostile server, through the real plugin: never a false pass, never a hang.

One child pytest per hostile case runs two rules per probe kind against that
server, ``required`` and ``optional`` (open but failing must fail both), so the
matrix costs about one ``--activate-timeout`` per case, not per cell; each
(case, kind) cell is then its own test item. Kinds come from the
registry, so a new probe is covered the day it lands, and is expected to fail
everywhere until someone decides otherwise here.
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Callable, Iterator

import pytest

from pytest_activate_ports.prober.probes.registry import kinds

from .conftest import ENDLESS_BYTES, OBSERVED, Endpoint, ServerCerts
from .inner import InnerRun, TlsFiles, run_inner, spec_text

TIMEOUT = 1.0
EXPECTS = ("required", "optional")
PARALLEL_RUNS = 2
SLACK = 0.75  # scheduling, TLS context loading, a loaded CI machine (the engine bounds the probe itself)
CASES = ("tarpit", "garbage", "endless_banner", "endless_lines", "reset_mid_handshake", "half_closed", "hang_up",
         "tls_stall", "self_signed", "wrong_host", "tls_endless_lines", "slowloris_http", "slowloris_ssh",
         "slowloris_notice", "superscript_status", "tls_superscript_status", "superscript_length",
         "superscript_reply_code", "bracket_redirect", "deep_json")
KINDS = sorted(kinds())
PASSES_ON_ACCEPT = frozenset({"tcp"})
"""Kinds for which "open but the protocol fails" cannot exist: the TCP handshake is the whole check."""
PASSES_ON_SILENCE = frozenset({"slurmctld", "slurmdbd"})
"""Kinds whose documented contract is "open and silent until a request" (no munge credential from outside)."""
PASSES_ON_TRUSTED_HANDSHAKE = frozenset({"tls"})
"""Kinds that check the handshake and certificate only, whatever the server says inside TLS afterwards."""

KNOWN_BUGS: dict[tuple[str, str], pytest.MarkDecorator] = {}
"""Cells that show a bug in a probe: the fix turns the cell into an XPASS, which fails until the entry is removed."""
CELLS = [pytest.param(case, kind, marks=KNOWN_BUGS.get((case, kind), ()), id=f"{case}-{kind}")
         for case in CASES for kind in KINDS]

Runs = Callable[[str], InnerRun]


def expected(kind: str, endpoint: Endpoint) -> str:
    """The contract's verdict for ``kind`` against a server that never speaks its protocol."""
    if kind in PASSES_ON_ACCEPT or kind in endpoint.also_passes or (kind in PASSES_ON_SILENCE and endpoint.silent) or (
            kind in PASSES_ON_TRUSTED_HANDSHAKE and endpoint.trusted_tls):
        return "passed"
    return "failed"


def selected_cases(session: pytest.Session) -> list[str]:
    """The cases the selected items of this module need (a memory test also needs the tarpit baseline)."""
    wanted = set()
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if item.path != Path(__file__) or callspec is None:
            continue
        wanted.add(callspec.params["case"])
        if getattr(item, "originalname", "") == "test_endless_server_costs_no_more_memory_than_a_silent_one":
            wanted.add("tarpit")
    return [case for case in CASES if case in wanted]


@pytest.fixture(scope="session")
def hostile_runs(request: pytest.FixtureRequest, hostile_tls: tuple[TlsFiles, ServerCerts],
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """The inner run of every probe kind against each case, started for all selected cases at once.

    Runs go ``PARALLEL_RUNS`` at a time: they mostly wait on timeouts, so
    this halves the matrix's wall time without crowding the probes' clocks.
    """
    files, _ = hostile_tls
    with concurrent.futures.ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        runs = {}
        for case in selected_cases(request.session):
            endpoint: Endpoint = request.getfixturevalue(case)
            spec = spec_text(KINDS, endpoint.port, files, endpoint.mtls_port, EXPECTS)
            runs[case] = pool.submit(run_inner, tmp_path_factory.mktemp(f"hostile-{case}"), spec, timeout=TIMEOUT)

        def result(case: str) -> InnerRun:
            run = runs[case].result()
            OBSERVED.update({(case, kind): run.cells[f"{kind}.required"] for kind in KINDS})
            return run

        yield result


@pytest.mark.parametrize(("case", "kind"), CELLS)
def test_probe_never_passes_a_hostile_server_it_must_fail(case: str, kind: str, request: pytest.FixtureRequest,
                                                          hostile_runs: Runs) -> None:
    endpoint: Endpoint = request.getfixturevalue(case)
    run = hostile_runs(case)
    for expect in EXPECTS:
        cell = run.cells[f"{kind}.{expect}"]
        assert cell.outcome == expected(kind, endpoint), f"{expect}: {cell.message}"
        assert "\n" not in cell.message and "Traceback" not in cell.message
        assert cell.elapsed_ms is not None and cell.elapsed_ms <= (TIMEOUT + SLACK) * 1000, cell.message


@pytest.mark.parametrize("case", CASES)
def test_hostile_server_run_ends_in_time_without_tracebacks(case: str, hostile_runs: Runs) -> None:
    run = hostile_runs(case)
    assert set(run.cells) == {f"{kind}.{expect}" for kind in KINDS for expect in EXPECTS}, run.output
    # Interpreter start and plugin import included; probes run concurrently, so one timeout in all.
    assert run.seconds < 10 * TIMEOUT, run.output
    for symptom in ("Traceback", "ResourceWarning", "Task was destroyed", "Exception ignored", "INTERNALERROR"):
        assert symptom not in run.output, run.output


@pytest.mark.parametrize("case", ["endless_banner", "endless_lines", "tls_endless_lines"])
def test_endless_server_costs_no_more_memory_than_a_silent_one(case: str, hostile_runs: Runs) -> None:
    """50 MB offered on every probe connection must not show in the run's peak RSS (a tarpit run is the baseline).

    Bounded reads still cost a few hundred KiB of stream buffers per
    connection (about 9 MB for the 34 probes here, the same for 1 GB
    offered); one probe buffering the stream would cost the whole 50 MB.
    """
    endless = hostile_runs(case)
    baseline = hostile_runs("tarpit")
    growth_mb = (endless.peak_rss_kb - baseline.peak_rss_kb) / 1024
    assert growth_mb < ENDLESS_BYTES / 2**20 / 2, f"peak RSS {endless.peak_rss_kb} KiB, {baseline.peak_rss_kb} KiB against a tarpit"
