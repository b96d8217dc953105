"""Every verdict of DESIGN.md both ways, through pytest, against real loopback ports."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from .servers import Listener

SpecWriter = Callable[[str], Path]


def one_rule(port: int, expect: str, extra: str = "", address: str = "127.0.0.1") -> str:
    return f"""
        version: 1
        hosts:
          lb: {{address: "{address}", roles: [control-plane]}}
        rules:
          - id: check
            from: internet
            to: lb
            port: {port}
            expect: {expect}
            {extra}
    """


def alive_rule(port: int) -> str:
    """A second rule on the same host whose port answers, proving the host alive."""
    return f"""
          - id: alive
            from: internet
            to: lb
            port: {port}
            expect: forbidden
    """


def run(pytester: pytest.Pytester, spec: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--activate-spec", str(spec), "--activate-timeout", "0.5", *args)


def test_required_open_port_passes(pytester: pytest.Pytester, write_spec: SpecWriter, listener: Listener) -> None:
    result = run(pytester, write_spec(one_rule(listener.port, "required")), "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"spec.yaml::check[[]lb:{listener.port}[]] PASSED*"])
    assert listener.settled(1) == 1


def test_required_refused_port_fails_with_one_line_reason(pytester: pytest.Pytester, write_spec: SpecWriter, refused_port: int) -> None:
    result = run(pytester, write_spec(one_rule(refused_port, "required")))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"required tcp: lb:{refused_port} must be open (tcp) but is refused: connection refused (RST) after * ms; start the service or publish the port"])
    assert "Traceback" not in result.stdout.str() and "raise " not in result.stdout.str()


def test_required_filtered_port_fails(pytester: pytest.Pytester, write_spec: SpecWriter, filtered_port: int) -> None:
    result = run(pytester, write_spec(one_rule(filtered_port, "required")))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*must be open (tcp) but is filtered: no answer within 0.5s*open the firewall*"])


def test_forbidden_refused_port_passes(pytester: pytest.Pytester, write_spec: SpecWriter, refused_port: int) -> None:
    run(pytester, write_spec(one_rule(refused_port, "forbidden"))).assert_outcomes(passed=1)


def test_forbidden_open_port_fails(pytester: pytest.Pytester, write_spec: SpecWriter, listener: Listener) -> None:
    result = run(pytester, write_spec(one_rule(listener.port, "forbidden")))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*must be closed from this vantage but accepted a connection*block it in the firewall*"])


def test_forbidden_filtered_port_on_live_host_passes(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                      filtered_port: int, listener: Listener) -> None:
    spec = write_spec(one_rule(filtered_port, "forbidden") + f"""
          - id: alive
            from: internet
            to: lb
            port: {listener.port}
            expect: required
    """)
    run(pytester, spec).assert_outcomes(passed=2)


def test_forbidden_filtered_port_on_silent_host_is_not_a_pass(pytester: pytest.Pytester, write_spec: SpecWriter, filtered_port: int) -> None:
    result = run(pytester, write_spec(one_rule(filtered_port, "forbidden")), "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*unproven: lb (127.0.0.1) answered nothing from this vantage*"])


def test_forbidden_demanding_drop_fails_on_reset(pytester: pytest.Pytester, write_spec: SpecWriter, refused_port: int) -> None:
    result = run(pytester, write_spec(one_rule(refused_port, "forbidden", "state: filtered")))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*must be dropped (no answer) but is refused*change the firewall rule to DROP*"])


def test_forbidden_demanding_drop_passes_on_drop(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                 filtered_port: int, refused_port: int) -> None:
    spec = write_spec(one_rule(filtered_port, "forbidden", "state: filtered") + alive_rule(refused_port))
    run(pytester, spec).assert_outcomes(passed=2)


def test_forbidden_demanding_reset_fails_on_drop(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                 filtered_port: int, refused_port: int) -> None:
    spec = write_spec(one_rule(filtered_port, "forbidden", "state: refused") + alive_rule(refused_port))
    result = run(pytester, spec)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*must be rejected with a TCP reset but is filtered*"])


def test_optional_closed_port_passes(pytester: pytest.Pytester, write_spec: SpecWriter, refused_port: int) -> None:
    result = run(pytester, write_spec(one_rule(refused_port, "optional")), "-v")
    result.assert_outcomes(passed=1)


def test_unresolvable_host_fails_required_and_errors_forbidden(pytester: pytest.Pytester, write_spec: SpecWriter) -> None:
    spec = write_spec(one_rule(443, "required", address="no-such-host.invalid") + """
          - id: closed
            from: internet
            to: lb
            port: 5432
            expect: forbidden
    """)
    result = run(pytester, spec)
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(["*no-such-host.invalid does not resolve*"])


def cac_rule(port: int) -> str:
    """A spec whose only rule applies when the ``cac_auth`` feature (false by default here) is on."""
    return f"""
        version: 1
        features: {{cac_auth: false}}
        hosts:
          lb: {{address: 127.0.0.1, roles: [control-plane]}}
        rules:
          - id: cac
            from: internet
            to: lb
            port: {port}
            expect: required
            when: cac_auth
            reason: CAC/Smart Card authentication (mTLS)
    """


def test_when_false_rule_is_skipped_with_reason_and_not_probed(pytester: pytest.Pytester, write_spec: SpecWriter, listener: Listener) -> None:
    result = run(pytester, write_spec(cac_rule(listener.port)), "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["activate: spec spec.yaml, role internet, 0 checks, 1 not applicable",
                                 "*not applicable: when 'cac_auth' is false (cac_auth=False): CAC/Smart Card authentication (mTLS)*"])
    assert listener.settled(0) == 0


def test_feature_override_switches_rule_on(pytester: pytest.Pytester, write_spec: SpecWriter, listener: Listener) -> None:
    run(pytester, write_spec(cac_rule(listener.port)), "--activate-feature", "cac_auth").assert_outcomes(passed=1)


def test_required_range_passes_when_every_sampled_port_answers(pytester: pytest.Pytester, write_spec: SpecWriter, listener: Listener) -> None:
    spec = write_spec(f"""
        version: 1
        hosts:
          node: {{address: 127.0.0.1, roles: [cluster-node]}}
        rules:
          - {{id: srun, from: internet, to: node, range: {listener.port}-{listener.port + 3}, sample: all, expect: required}}
    """)
    result = run(pytester, spec, "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*srun[[]node:{listener.port}-{listener.port + 3}[]] PASSED*"])


def test_optional_open_port_with_failing_probe_fails(pytester: pytest.Pytester, write_spec: SpecWriter) -> None:
    with Listener(greeting=b"SSH-2.0-OpenSSH_9.2\r\n") as ssh_like:
        result = run(pytester, write_spec(one_rule(ssh_like.port, "optional", "probe: http")))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["optional http: lb:* is open but the http check failed after * ms: *"])


def test_optional_open_port_with_passing_probe_passes(pytester: pytest.Pytester, write_spec: SpecWriter) -> None:
    with Listener(greeting=b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n") as web:
        run(pytester, write_spec(one_rule(web.port, "optional", "probe: http"))).assert_outcomes(passed=1)


def test_values_of_secret_named_variables_never_reach_the_terminal(pytester: pytest.Pytester, write_spec: SpecWriter,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LB_TOKEN", "secret-lb-name.invalid")
    result = run(pytester, write_spec(one_rule(443, "required", address="${LB_TOKEN}")), "-rA")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*[[]redacted[]] does not resolve*"])
    assert "secret-lb-name" not in result.stdout.str() + result.stderr.str()
