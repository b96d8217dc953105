"""Spec fuzzing: any document is either a valid spec or a located SpecError, never a crash.

Also hostile YAML: alias bombs, deep nesting and huge files are refused quickly
(the safe loader only; bounded conversion).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_activate_ports.spec import Spec, SpecError, load_spec
from pytest_activate_ports.spec.nodes import MAX_BYTES

VALID: dict[str, Any] = {
    "version": 1,
    "features": {"cac_auth": True, "platform_version": "7.4"},
    "hosts": {"lb": {"address": "127.0.0.1", "roles": ["control-plane"], "port_map": {443: 18443}}},
    "rules": [
        {"id": "ui", "from": "internet", "to": "control-plane", "port": 443, "expect": "required", "probe": "tcp"},
        {"id": "cac", "from": "internet", "to": "lb", "port": 8443, "expect": "optional", "when": "cac_auth and platform_version < 8"},
        {"id": "db", "from": "internet", "to": "lb", "ports": [5432, 27017], "expect": "forbidden", "state": "filtered"},
        {"id": "srun", "from": "internet", "to": "lb", "range": "8192-60000", "sample": 8, "expect": "required"},
        {"id": "deny", "from": "internet", "to": "lb", "range": "1-65535", "expect": "forbidden",
         "except": [443, "9000-9100", {"port": 8443, "when": "cac_auth"}]},
    ],
}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-70000, 70000), st.floats(allow_nan=False),
                    st.text(max_size=12), st.sampled_from(["${X}", "${HOME:-x}", "${", "1-2", "all", "tcp", "internet", "lb"]))
documents = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=30)


def outcome(text: str) -> Spec | SpecError:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spec.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            return load_spec(path, {"X": "1"})
        except SpecError as exc:
            assert exc.line >= 1 and exc.col >= 1 and "\n" not in str(exc)
            return exc


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_spec_fuzz_random_documents_never_crash(document: object) -> None:
    outcome(yaml.safe_dump(document))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_spec_fuzz_random_text_never_crashes(text: str) -> None:
    outcome(text)


paths = st.sampled_from([("version",), ("features",), ("features", "cac_auth"), ("features", "platform_version"), ("hosts",), ("hosts", "lb"), ("hosts", "lb", "address"),
                         ("hosts", "lb", "roles"), ("hosts", "lb", "port_map"), ("rules",), ("rules", 0), ("rules", 1, "when"),
                         ("rules", 2, "ports"), ("rules", 2, "state"), ("rules", 3, "range"), ("rules", 3, "sample"),
                         ("rules", 4, "except"), ("rules", 4, "except", 0), ("rules", 4, "except", 2), ("rules", 4, "except", 2, "when"),
                         ("rules", 0, "probe"), ("rules", 1, "to"), ("rules", 0, "from"), ("rules", 0, "id")])


@settings(max_examples=300, deadline=None)
@given(paths, documents, st.booleans())
def test_spec_fuzz_mutations_of_a_valid_spec_never_crash(path: tuple[Any, ...], value: object, delete: bool) -> None:
    spec = yaml.safe_load(yaml.safe_dump(VALID))
    parent = spec
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    outcome(yaml.safe_dump(spec))


def test_spec_fuzz_valid_spec_is_valid() -> None:
    """The seed of the mutations must itself load, or the mutation test proves nothing."""
    assert isinstance(outcome(yaml.safe_dump(VALID)), Spec)


def test_spec_deep_nesting_is_refused() -> None:
    result = outcome("version: 1\nfeatures: " + "[" * 5000 + "]" * 5000 + "\n")
    assert isinstance(result, SpecError)


def test_spec_huge_file_is_refused_without_parsing(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("version: 1\n" + "#" * (MAX_BYTES + 1))
    try:
        load_spec(path)
    except SpecError as exc:
        assert "larger than" in exc.message
    else:
        raise AssertionError("a huge spec was accepted")
