"""``activate-ports plan``: per vantage, the checks that would run and those that would not, with no traffic."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from pytest_activate_ports.onboarding import plan

from .commands import run_command
from .servers import Listener

SPEC = """\
version: 1
name: shop
roles: [ci-runner, mail]  # mail: a role no host has
features: {cac: false}
hosts:
  web: {address: "${WEB_ADDRESS:-127.0.0.1}", roles: [frontend], port_map: {443: LISTENER_PORT}}
  db: {address: 127.0.0.3, roles: [database]}
  spare: {address: 127.0.0.4}
rules:
  - {id: web-https, from: internet, to: frontend, port: 443, expect: required, probe: https}
  - {id: db-hidden, from: internet, to: database, port: 5432, expect: forbidden, state: filtered}
  - {id: cac, from: internet, to: web, port: 8443, expect: required, probe: mtls, when: cac, reason: "CAC | <img src=x> `login`"}
  - {id: srun, from: ci-runner, to: database, range: 8192-60000, expect: required}
  - {id: smtp, from: ci-runner, to: mail, port: 587, expect: required}
"""


@pytest.fixture
def spec(tmp_path: Path, listener: Listener) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace("LISTENER_PORT", str(listener.port)))
    return path


def run_plan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_command(plan.main, capsys, *args)


def test_plan_lists_checks_per_vantage_without_dialling(capsys: pytest.CaptureFixture[str], spec: Path, listener: Listener) -> None:
    code, out, err = run_plan(capsys, str(spec))
    assert code == 0 and err == ""
    assert listener.settled(0) == 0, "plan must not dial anything"
    internet, ci = out.split("\nfrom internet: ")[1].split("\nfrom ci-runner: ")
    assert internet.startswith("2 checks, 1 not applicable")
    rows = [line.split() for line in internet.splitlines()[1:4]]
    assert rows[0] == ["rule", "host", "address", "port", "dialled", "expect", "probe"]
    assert rows[1] == ["web-https", "web", "127.0.0.1", "443", str(listener.port), "required", "https"]
    assert rows[2] == ["db-hidden", "db", "127.0.0.3", "5432", "5432", "forbidden", "(filtered)", "closed"]
    assert "cac[web:8443]: when 'cac' is false (cac=False): CAC | <img src=x> `login`" in internet
    assert ci.startswith("1 checks, 0 not applicable")
    assert "srun  db    127.0.0.3  8192-60000 (16 sampled)  8192-60000  required  tcp" in ci
    assert out.endswith("hosts with no checks: spare\nrules matching no host: smtp\n")


def test_plan_applies_the_activate_overrides(capsys: pytest.CaptureFixture[str], spec: Path) -> None:
    code, out, _ = run_plan(capsys, str(spec), "--activate-role", "internet", "--activate-host", "web=127.0.0.9",
                            "--activate-feature", "cac")
    assert code == 0
    assert "from ci-runner" not in out and "from internet: 3 checks, 0 not applicable" in out
    assert "cac        web   127.0.0.9  8443  8443" in out


def test_plan_reads_the_environment_like_pytest(capsys: pytest.CaptureFixture[str], spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_ADDRESS", "127.0.0.8")
    code, out, _ = run_plan(capsys, str(spec), "--activate-role", "internet")
    assert code == 0 and "web-https  web   127.0.0.8" in out


def test_plan_spec_error_is_located_with_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nhosts: {web: {adress: x}}\nrules: []\n")
    code, out, err = run_plan(capsys, str(path))
    assert code == 2 and out == ""
    assert err == f"{path}:2:15: unknown key 'adress' in host 'web' (did you mean 'address'?); valid keys: address, roles, port_map\n"


def test_plan_missing_file_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_plan(capsys, str(tmp_path / "nope.yaml"))
    assert code == 2 and "cannot read spec" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(("args", "message"), [
    (("--activate-role", "internt"), "--activate-role: unknown role 'internt' (did you mean 'internet'?)"),
    (("--activate-host", "wbe=127.0.0.1"), "--activate-host: unknown host 'wbe' (did you mean 'web'?)"),
    (("--activate-feature", "cca"), "--activate-feature: unknown feature 'cca'"),
    (("--activate-host", "web"), "--activate-host expects NAME=ADDR, got 'web'"),
])
def test_plan_bad_override_is_a_usage_error(capsys: pytest.CaptureFixture[str], spec: Path, args: tuple[str, ...], message: str) -> None:
    code, out, err = run_plan(capsys, str(spec), *args)
    assert code == 2 and out == ""
    assert f"activate-ports plan: error: {message}" in err


def test_plan_json_for_tooling(capsys: pytest.CaptureFixture[str], spec: Path, listener: Listener) -> None:
    code, out, _ = run_plan(capsys, str(spec), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [v["role"] for v in data["vantages"]] == ["internet", "ci-runner"]
    first = data["vantages"][0]["checks"][0]
    assert first["name"] == "web-https[web:443]" and first["dialled_ports"] == [listener.port]
    assert data["vantages"][0]["not_applicable"][0]["reason"].startswith("when 'cac' is false")
    assert data["hosts_without_checks"] == ["spare"] and data["rules_without_hosts"] == ["smtp"]


def test_plan_markdown_escapes_spec_text(capsys: pytest.CaptureFixture[str], spec: Path) -> None:
    code, out, _ = run_plan(capsys, str(spec), "--format", "md", "--activate-role", "internet")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("| cac\\[web:8443\\]"))
    assert "<img" not in row and "&lt;img src=x&gt;" in row
    assert "\\`login\\`" in row and "CAC \\| " in row
    assert row.count(" | ") == 1, "an escaped pipe must not open a column"
    assert "| web-https | web | 127.0.0.1 | 443 |" in out


def test_plan_text_keeps_escape_sequences_off_the_terminal(capsys: pytest.CaptureFixture[str], spec: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_ADDRESS", "127.0.0.1\x1b[2J")
    code, out, _ = run_plan(capsys, str(spec), "--activate-role", "internet")
    assert code == 0 and "\x1b" not in out and "127.0.0.1 [2J" in out


def test_plan_via_the_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        hosts: {web: {address: 127.0.0.1}}
        rules: [{id: web, from: internet, to: web, port: 443, expect: required}]
    """))
    result = subprocess.run([sys.executable, "-m", "pytest_activate_ports.cli", "plan", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "web   web   127.0.0.1  443   443      required  tcp" in result.stdout


DENY = """\
version: 1
features: {redirect: true}
hosts: {lb: {address: 127.0.0.1, roles: [control-plane]}}
rules:
  - {id: deny, from: internet, to: lb, range: 1-65535, sample: all, expect: forbidden,
     except: [443, {port: 80, when: redirect}, "9000-9009"]}
  - {id: some, from: internet, to: lb, range: 20000-20100, except: [20000], expect: forbidden}
"""


def test_plan_shows_the_exceptions_in_force(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(DENY)
    code, out, _ = run_plan(capsys, str(path))
    assert code == 0
    assert "deny  lb    127.0.0.1  1-65535 except 80, 443, 9000-9009      1-65535" in out
    assert "some  lb    127.0.0.1  20000-20100 except 20000 (16 sampled)  20000-20100" in out
    code, out, _ = run_plan(capsys, str(path), "--activate-feature", "redirect=false", "--format", "json")
    checks = json.loads(out)["vantages"][0]["checks"]
    assert checks[0]["port"] == "1-65535 except 443, 9000-9009"
    assert len(checks[0]["dialled_ports"]) == 65535 - 11 and 80 in checks[0]["dialled_ports"]
    assert not {443, 9000, 9009} & set(checks[0]["dialled_ports"])


PROFILE = """\
version: 1
profile: activate
hosts: {lb: {address: 127.0.0.1, roles: [control-plane]}}
"""


@pytest.mark.parametrize(("features", "port"), [
    ((), "1-65535 except 80, 443"),  # http_redirect is on by default
    (("http_redirect=false",), "1-65535 except 443"),
    (("cac_auth=true",), "1-65535 except 80, 443, 8443"),
    (("cac_auth=true", "http_redirect=false"), "1-65535 except 443, 8443"),
])
def test_plan_default_deny_excepts_what_the_features_expose(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                            features: tuple[str, ...], port: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(PROFILE)
    args = [arg for feature in ("default_deny", *features) for arg in ("--activate-feature", feature)]
    code, out, _ = run_plan(capsys, str(path), "--activate-role", "internet", "--format", "json", *args)
    assert code == 0
    rows = [c for c in json.loads(out)["vantages"][0]["checks"] if c["rule"] == "internet-default-deny"]
    assert [(row["name"], row["port"], row["expect"]) for row in rows] == [("internet-default-deny[lb:1-65535]", port, "forbidden")]
    excepted = {int(p) for p in port.split(" except ")[1].split(", ")}
    assert len(rows[0]["dialled_ports"]) == 65535 - len(excepted) and not excepted & set(rows[0]["dialled_ports"])


def test_plan_default_deny_is_off_by_default(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(PROFILE)
    code, out, _ = run_plan(capsys, str(path), "--activate-role", "internet")
    assert code == 0
    assert "internet-default-deny" not in out.split("not applicable:")[0], "a 65k-port sweep must be asked for"
    assert ("internet-default-deny[lb:1-65535]: when 'default_deny' is false (default_deny=False): For a standard deployment, "
            "only one port needs external exposure on the control plane") in out
