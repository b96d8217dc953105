"""WHERE, the vantage's gateway spec: checked before any traffic, shown without credentials, ssh made prompt-free."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_activate_ports.where import check_where, gateway_spec, shown_where, ssh_config


@pytest.mark.parametrize("where", [
    "popen", "popen//python=/usr/bin/python3 -I -S", "popen//python=ip netns exec lab python3",
    "ssh=ops@hpc-login//python=python3.11", "ssh=-p 2222 -J jump ops@host//python=python3//ssh_config=/tmp/cfg",
    "popen//python=kubectl exec -i -n tools probe -- python3//env:TOKEN=x//chdir=/tmp//nice=5",
])
def test_where_accepts_gateway_specs(where: str) -> None:
    check_where(where)


@pytest.mark.parametrize(("where", "message"), [
    ("popen//python=", "'popen//python=': python= needs a value"),
    ("ssh=", "'ssh=': ssh= needs a value"),
    ("ssh", "'ssh': ssh= needs a value"),
    ("popen//pyhton=python3", "'popen//pyhton=python3': unknown key 'pyhton' (did you mean 'python'?); one of: "),
    ("popen//ssh=host", "'popen//ssh=host': names more than one gateway type (popen, ssh)"),
    ("python=python3", "'python=python3': names no gateway type"),
    ("popen//", "'popen//' is not a gateway spec: an empty part between '//'"),
    ("popen//popen", "'popen//popen' is not a gateway spec: duplicate key: 'popen'"),
    ("_popen", "'_popen' is not a gateway spec: '_popen' not a valid XSpec key"),
    ("popen=yes", "'popen=yes': popen takes no value"),
    ("popen//python=\"python3", "python= cannot be split into words: No closing quotation"),
    ("popen//nice=high", "'popen//nice=high': nice= needs a whole number"),
    ("popen//via=hub", "'popen//via=hub': a vantage is a gateway of its own, so via= has no gateway to go through: "
                       "use ssh's ProxyJump"),
    ("popen//execmodel=eventlet", "the prober runs its own threads: execmodel= cannot be chosen"),
    ("ssh=user:hunter2@host//pyhton=x", "'ssh=user@host//pyhton=x': unknown key 'pyhton'"),  # no password in the line
])
def test_where_refuses_a_malformed_spec_in_one_line(where: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        check_where(where)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize(("where", "shown"), [
    ("ssh=ops@hpc-login//python=python3.11", "ssh=ops@hpc-login//python=python3.11"),
    ("ssh=user:hunter2@host", "ssh=user@host"),
    ("ssh=-i /home/me/.ssh/deploy ops@host", "ssh=-i *** ops@host"),
    ("ssh=-i/home/me/.ssh/deploy ops@host", "ssh=-i*** ops@host"),
    ("ssh=-o IdentityFile=/k ops@host", "ssh=-o IdentityFile=*** ops@host"),
    ("ssh=-p 2222 -J jump ops@host", "ssh=-p 2222 -J jump ops@host"),
    ("popen//python=kubectl exec -i probe --token=abc -- python3", "popen//python=kubectl exec -i probe --token=*** -- python3"),
    ("popen//python=kubectl --token abc exec -i probe -- python3", "popen//python=kubectl --token *** exec -i probe -- python3"),
    ("popen//python=docker exec -i -e API_TOKEN=zz c python3", "popen//python=docker exec -i -e API_TOKEN=*** c python3"),
    ("popen//python=env DB_PASSWORD=pw python3", "popen//python=env DB_PASSWORD=*** python3"),
    ("popen//env:HTTP_PROXY=u:p@proxy:3128", "popen//env:HTTP_PROXY=***"),
    ("popen//env:HTTP_PROXY=http://u:p@proxy", "popen//env:HTTP_PROXY=***//u@proxy"),  # "//" ends a part, even in a URL
    ("popen//python=ip netns exec lab python3 -I -S", "popen//python=ip netns exec lab python3 -I -S"),
])
def test_where_is_shown_without_credentials(where: str, shown: str) -> None:
    assert shown_where(where) == shown


@pytest.mark.parametrize(("where", "timeout", "spec"), [
    ("ssh=ops@host//python=python3", 3.0, "ssh=-o BatchMode=yes -o ConnectTimeout=3 ops@host//python=python3"),
    ("ssh=-o BatchMode=no host", 0.2, "ssh=-o BatchMode=yes -o ConnectTimeout=1 -o BatchMode=no host"),  # ssh: first wins
    ("popen//python=python3", 3.0, "popen//python=python3"),
])
def test_where_ssh_never_prompts_and_connects_within_the_timeout(where: str, timeout: float, spec: str) -> None:
    assert gateway_spec(where, timeout) == spec


def test_where_ssh_writes_its_messages_where_they_can_be_read_back() -> None:
    assert gateway_spec("ssh=host", 2.5, "/tmp/ssh.log") == "ssh=-o BatchMode=yes -o ConnectTimeout=3 -E /tmp/ssh.log host"


def test_where_ssh_reads_the_vantage_config_instead_of_the_given_one() -> None:
    assert gateway_spec("ssh=h//ssh_config=mine//python=python3", 1, config="/tmp/v/config") == \
        "ssh=-o BatchMode=yes -o ConnectTimeout=1 h//python=python3//ssh_config=/tmp/v/config"
    assert gateway_spec("ssh=h", 1, config="/tmp/v/config") == "ssh=-o BatchMode=yes -o ConnectTimeout=1 h//ssh_config=/tmp/v/config"


@pytest.mark.parametrize(("where", "included"), [
    ("ssh=h", ['"~/.ssh/config"', '"/etc/ssh/ssh_config"']),  # what ssh reads without -F
    ("ssh=h//ssh_config=/etc/my ssh/config", ['"/etc/my ssh/config"']),
    ("ssh=h//ssh_config=cfg", [f'"{Path.cwd() / "cfg"}"']),  # an Include would read a relative path from ~/.ssh
])
def test_where_ssh_config_puts_batchmode_before_the_users_own(where: str, included: list[str]) -> None:
    assert ssh_config(where, 2.2).splitlines() == ["BatchMode yes", "ConnectTimeout 3", *(f"Include {p}" for p in included)]
