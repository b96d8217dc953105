"""Every probe kind against every hostile server, through the real plugin: never a false pass, never a hang.

One child pytest per hostile case runs two rules per probe kind against that
server, ``required`` and ``optional`` (open but failing must fail both), so the
matrix costs about one ``--activate-timeout`` per case, not per cell; each
(case, kind) cell is then its own test item. Kinds come from the
registry, so a new probe is covered the day it lands, and is expected to fail
everywhere until someone decides otherwise here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from pytest_activate_ports.probes.registry import kinds

from .conftest import ENDLESS_BYTES, OBSERVED, Endpoint, ServerCerts
from .inner import InnerRun, TlsFiles, run_inner, spec_text

TIMEOUT = 1.0
EXPECTS = ("required", "optional")
SLACK = 0.5  # scheduling, TLS context loading, a loaded CI machine
CASES = ("tarpit", "garbage", "endless_banner", "endless_lines", "reset_mid_handshake", "half_closed", "hang_up",
         "tls_stall", "self_signed", "wrong_host", "tls_endless_lines", "slowloris_http", "slowloris_ssh",
         "slowloris_notice", "superscript_status", "tls_superscript_status", "superscript_length",
         "superscript_reply_code")
KINDS = sorted(kinds())
PASSES_ON_ACCEPT = frozenset({"tcp"})
"""Kinds for which "open but the protocol fails" cannot exist: the TCP handshake is the whole check."""
PASSES_ON_SILENCE = frozenset({"slurmctld", "slurmdbd"})
"""Kinds whose documented contract is "open and silent until a request" (no munge credential from outside)."""
PASSES_ON_TRUSTED_HANDSHAKE = frozenset({"tls"})
"""Kinds that check the handshake and certificate only, whatever the server says inside TLS afterwards."""

CRASH = "BUG: str.isdigit() accepts '²', int() then raises ValueError, which escapes the probe as a crash"
KNOWN_BUGS = {
    ("slowloris_notice", "postgres"): pytest.mark.xfail(strict=True, reason=(
        "BUG: postgres passes on a first segment 'N' without checking that nothing follows it")),
    **{cell: pytest.mark.xfail(strict=True, reason=f"{CRASH} ({where})") for cell, where in (
        (("superscript_status", "http"), "http1.parse_response_head"),
        (("superscript_status", "http-redirect"), "http1.parse_response_head"),
        (("superscript_status", "vault"), "http1.parse_response_head"),
        (("tls_superscript_status", "https"), "http1.parse_response_head"),
        (("tls_superscript_status", "wss"), "http1.parse_response_head"),
        (("tls_superscript_status", "mtls"), "http1.parse_response_head"),
        (("superscript_length", "vault"), "http1.read_body, Content-Length"),
        (("superscript_reply_code", "smtp-starttls"), "smtp.parse_reply"),
    )},
}
"""Cells that show a bug in a probe: the fix turns the cell into an XPASS, which fails until the entry is removed."""
CELLS = [pytest.param(case, kind, marks=KNOWN_BUGS.get((case, kind), ()), id=f"{case}-{kind}")
         for case in CASES for kind in KINDS]

Runs = Callable[[str, Endpoint], InnerRun]


def expected(kind: str, endpoint: Endpoint) -> str:
    """The contract's verdict for ``kind`` against a server that never speaks its protocol."""
    if kind in PASSES_ON_ACCEPT or kind in endpoint.also_passes or (kind in PASSES_ON_SILENCE and endpoint.silent) or (
            kind in PASSES_ON_TRUSTED_HANDSHAKE and endpoint.trusted_tls):
        return "passed"
    return "failed"


@pytest.fixture(scope="session")
def hostile_runs(hostile_tls: tuple[TlsFiles, ServerCerts], tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The inner run of every probe kind against a case, made once per case and shared by its cells."""
    files, _ = hostile_tls
    done: dict[str, InnerRun] = {}

    def run(case: str, endpoint: Endpoint) -> InnerRun:
        if case not in done:
            folder: Path = tmp_path_factory.mktemp(f"hostile-{case}")
            spec = spec_text(KINDS, endpoint.port, files, endpoint.mtls_port, EXPECTS)
            done[case] = run_inner(folder, spec, timeout=TIMEOUT)
            OBSERVED.update({(case, kind): done[case].cells[f"{kind}.required"] for kind in KINDS})
        return done[case]

    return run


@pytest.mark.parametrize(("case", "kind"), CELLS)
def test_probe_never_passes_a_hostile_server_it_must_fail(case: str, kind: str, request: pytest.FixtureRequest,
                                                          hostile_runs: Runs) -> None:
    endpoint: Endpoint = request.getfixturevalue(case)
    run = hostile_runs(case, endpoint)
    for expect in EXPECTS:
        cell = run.cells[f"{kind}.{expect}"]
        assert cell.outcome == expected(kind, endpoint), f"{expect}: {cell.message}"
        assert "\n" not in cell.message and "Traceback" not in cell.message
        assert cell.elapsed_ms is not None and cell.elapsed_ms <= (TIMEOUT + SLACK) * 1000, cell.message


@pytest.mark.parametrize("case", CASES)
def test_hostile_server_run_ends_in_time_without_tracebacks(case: str, request: pytest.FixtureRequest,
                                                            hostile_runs: Runs) -> None:
    run = hostile_runs(case, request.getfixturevalue(case))
    assert set(run.cells) == {f"{kind}.{expect}" for kind in KINDS for expect in EXPECTS}, run.output
    # Interpreter start and plugin import included; probes run concurrently, so one timeout in all.
    assert run.seconds < 10 * TIMEOUT, run.output
    for symptom in ("Traceback", "ResourceWarning", "Task was destroyed", "Exception ignored", "INTERNALERROR"):
        assert symptom not in run.output, run.output


@pytest.mark.parametrize("case", ["endless_banner", "endless_lines", "tls_endless_lines"])
def test_endless_server_costs_no_more_memory_than_a_silent_one(case: str, request: pytest.FixtureRequest,
                                                               hostile_runs: Runs) -> None:
    """50 MB offered on every probe connection must not show in the run's peak RSS (a tarpit run is the baseline).

    Bounded reads still cost a few hundred KiB of stream buffers per
    connection (about 9 MB for the 34 probes here, the same for 1 GB
    offered); one probe buffering the stream would cost the whole 50 MB.
    """
    endless = hostile_runs(case, request.getfixturevalue(case))
    baseline = hostile_runs("tarpit", request.getfixturevalue("tarpit"))
    growth_mb = (endless.peak_rss_kb - baseline.peak_rss_kb) / 1024
    assert growth_mb < ENDLESS_BYTES / 2**20 / 2, f"peak RSS {endless.peak_rss_kb} KiB, {baseline.peak_rss_kb} KiB against a tarpit"
