"""The published JSON Schema of the spec stays in step with the validator: same accepted and rejected specs."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import trustme
import yaml

from pytest_activate_ports.onboarding import init
from pytest_activate_ports.prober.probes import registry
from pytest_activate_ports.prober.probes.options import OptionError
from pytest_activate_ports.spec import SpecError, load_spec
from pytest_activate_ports.spec import fields, validate
from pytest_activate_ports.spec.loader import available_profiles
from pytest_activate_ports.spec.model import TlsConfig

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCHEMA = json.loads(init.schema_path().read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def as_json(text: str) -> Any:
    """YAML as an editor's schema check sees it: JSON's data model (mapping keys are strings)."""
    return json.loads(json.dumps(yaml.safe_load(text)))


def schema_errors(text: str) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(as_json(text))]


def test_schema_is_a_valid_draft7_schema() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_schema_lists_what_the_validator_knows() -> None:
    definitions = SCHEMA["definitions"]
    assert tuple(SCHEMA["properties"]) == validate.TOP_KEYS
    assert tuple(definitions["host"]["properties"]) == validate.HOST_KEYS
    assert tuple(definitions["tls"]["properties"]) == validate.TLS_KEYS
    assert tuple(definitions["rule"]["properties"]) == validate.RULE_KEYS
    assert tuple(definitions["excepted"]["anyOf"][2]["properties"]) == validate.EXCEPT_KEYS
    assert definitions["tls"]["properties"]["min_version"]["enum"] == list(validate.TLS_VERSIONS)
    assert definitions["probe"]["anyOf"][0]["enum"] == sorted(registry.kinds()) == sorted(definitions["probe_options"])
    assert SCHEMA["properties"]["profile"]["enum"] == available_profiles()
    assert definitions["name"]["pattern"] == f"^{fields.NAME.pattern}$"


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_schema_accepts_every_example(example: str) -> None:
    assert schema_errors((EXAMPLES / example).read_text(encoding="utf-8")) == []


def test_schema_accepts_the_init_output() -> None:
    assert schema_errors(init.render()) == []
    assert schema_errors(init.render({"lb": "127.0.0.2"}, {"cac_auth": True})) == []


ACCEPTED = {
    "expanded port": """
        version: 1
        hosts:
          web:
            address: 127.0.0.1
            port_map:
              443: ${WEB_PORT:-8443}   # unquoted: expanded, then typed as if written literally
        rules:
          - id: web
            from: internet
            to: web
            port: ${PORT:-443}
            expect: required
            probe: {kind: https, path: /health}
    """,
    "roles with descriptions, range with sample": """
        version: 1
        roles: {ci-runner: a CI runner inside the VPN}
        hosts: {node: {address: "[::1]", roles: [cluster]}}
        rules:
          - {id: srun, from: ci-runner, to: cluster, range: 8192-60000, sample: all, expect: required}
          - {id: closed, from: [ci-runner, internet], to: node, ports: [5432, 27017], expect: forbidden, state: filtered}
    """,
    "range with exceptions": """
        version: 1
        features: {cac: false}
        hosts: {lb: {address: 127.0.0.1}}
        rules:
          - id: deny
            from: internet
            to: lb
            range: 1-65535
            sample: all
            except: [443, "8000-8100", {port: 80, when: not cac}, {range: 9000-9010, when: cac}]
            expect: forbidden
    """,
}


@pytest.mark.parametrize("name", ACCEPTED)
def test_schema_and_validator_accept(name: str, tmp_path: Path) -> None:
    text = textwrap.dedent(ACCEPTED[name])
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    load_spec(path, environ={})
    assert schema_errors(text) == []


RULE = "{id: r, from: internet, to: web, port: 443, expect: required}"
REJECTED = {
    "unknown top key": f"version: 1\nhsots: {{}}\nrules: [{RULE}]",
    "missing version": f"rules: [{RULE}]",
    "wrong version": f"version: 2\nrules: [{RULE}]",
    "no rules and no profile": "version: 1\nhosts: {web: {address: x}}",
    "unknown profile": "version: 1\nprofile: activat",
    "host without address": f"version: 1\nhosts: {{web: {{roles: [web]}}}}\nrules: [{RULE}]",
    "unknown host key": f"version: 1\nhosts: {{web: {{address: x, adress: y}}}}\nrules: [{RULE}]",
    "host name with a space": f"version: 1\nhosts: {{'my web': {{address: x}}}}\nrules: [{RULE}]",
    "port_map value out of range": f"version: 1\nhosts: {{web: {{address: x, port_map: {{443: 70000}}}}}}\nrules: [{RULE}]",
    "rule without expect": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, port: 443}]",
    "unknown expectation": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, port: 443, expect: mandatory}]",
    "port out of range": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, port: 70000, expect: required}]",
    "port and ports": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, port: 1, ports: [2], expect: required}]",
    "no port at all": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, expect: required}]",
    "empty ports": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, ports: [], expect: required}]",
    "a port listed twice": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, ports: [80, 80], expect: required}]",
    "malformed range": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, range: '80:90', expect: required}]",
    "sample without range": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, port: 80, sample: 4, expect: required}]",
    "range with a protocol probe": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, range: 80-90, expect: required, probe: https}]",
    "state on a required rule": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, port: 80, expect: required, state: filtered}]",
    "unknown state": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, port: 80, expect: forbidden, state: dropped}]",
    "protocol probe on a forbidden rule": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, port: 80, expect: forbidden, probe: https}]",
    "unknown probe kind": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, port: 80, expect: required, probe: htps}]",
    "probe mapping without kind": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, port: 80, expect: required, probe: {path: /}}]",
    "unknown rule key": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, port: 80, expect: required, reasons: x}]",
    "rule id with brackets": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: 'r[1]', from: internet, to: web, port: 80, expect: required}]",
    "unknown tls key": f"version: 1\ntls: {{cafile: ca.pem}}\nhosts: {{web: {{address: x}}}}\nrules: [{RULE}]",
    "client certificate without its key": f"version: 1\ntls: {{client_cert: ca.pem}}\nhosts: {{web: {{address: x}}}}\nrules: [{RULE}]",
    "unknown TLS version": f"version: 1\ntls: {{min_version: TLS1.4}}\nhosts: {{web: {{address: x}}}}\nrules: [{RULE}]",
    "except without a range": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, port: 80, except: [80], expect: forbidden}]",
    "empty except": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, range: 80-90, except: [], expect: forbidden}]",
    "except as one port": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, range: 80-90, except: 81, expect: forbidden}]",
    "malformed except range": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, range: 80-90, except: ['81:82'], expect: forbidden}]",
    "except entry with port and range": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, range: 80-90, except: [{port: 81, range: 82-83}], expect: forbidden}]",
    "except entry with an unknown key": "version: 1\nhosts: {web: {address: x}}\nrules: [{id: r, from: internet, to: web, range: 80-90, except: [{prot: 81}], expect: forbidden}]",
    "feature holding a list": f"version: 1\nfeatures: {{cac: [1]}}\nhosts: {{web: {{address: x}}}}\nrules: [{RULE}]",
}


@pytest.mark.parametrize("name", REJECTED)
def test_schema_and_validator_reject(name: str, tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("a file that exists, so the validator judges the shape, not the path\n")
    path = tmp_path / "spec.yaml"
    path.write_text(REJECTED[name])
    with pytest.raises(SpecError):
        load_spec(path, environ={})
    assert schema_errors(REJECTED[name]), f"the schema accepts a spec the validator rejects: {name}"


def test_schema_rejects_probe_options_of_a_forbidden_rule() -> None:
    # `probe: tcp` is closedness' identity; a tcp mapping with options is not.
    assert schema_errors("version: 1\nrules: [{id: r, from: internet, to: web, port: 80, expect: forbidden, probe: {kind: tcp, x: 1}}]")
    assert re.search("tcp", json.dumps(SCHEMA["definitions"]["rule"]["allOf"][2]))


def _sample(node: dict[str, Any]) -> Any:
    """A value the schema fragment accepts, as an editor's completion would offer it."""
    if "$ref" in node:
        target: Any = SCHEMA
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _sample(target)
    if "examples" in node:
        return node["examples"][0]
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][-1]
    if "anyOf" in node:
        return _sample(node["anyOf"][0])
    kind = node["type"][0] if isinstance(node["type"], list) else node["type"]
    if kind == "boolean":
        return True
    if kind == "integer":
        return node.get("minimum", 3)
    if kind == "object":
        return {"X-Check": _sample(node["additionalProperties"])}
    return "/" if node.get("pattern", "").startswith("^/") else "ca.pem"


def _option_names(kind: str) -> list[str]:
    return sorted(set(SCHEMA["definitions"]["probe_options"][kind]["properties"]) - {"kind"})


@pytest.mark.parametrize("kind", sorted(registry.kinds()))
def test_schema_lists_exactly_the_options_each_probe_reads(kind: str) -> None:
    with pytest.raises(OptionError) as refused:
        registry.build(kind, {"no_such_option": 1}, TlsConfig())
    valid = refused.value.message.rpartition("valid options: ")[2]
    assert _option_names(kind) == ([] if valid == "none" else valid.split(", ")), (
        f"probe {kind}: keep definitions.probe_options.{kind} of {init.schema_path().name} in step with its options")


@pytest.mark.parametrize("kind", sorted(registry.kinds()))
def test_schema_option_samples_build_the_probe(kind: str, tmp_path: Path) -> None:
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))  # read when the probe is built
    values = {name: _sample(SCHEMA["definitions"]["probe_options"][kind]["properties"][name]) for name in _option_names(kind)}
    if kind == "vault":
        values["tls"] = True  # ca and verify apply to Vault's certificate only with tls: true
    registry.build(kind, values, TlsConfig(), tmp_path)
    rule = {"id": "r", "from": "internet", "to": "web", "port": 1, "expect": "required", "probe": {"kind": kind, **values}}
    assert [e.message for e in VALIDATOR.iter_errors({"version": 1, "rules": [rule]})] == []


@pytest.mark.parametrize("probe", [
    "{kind: https, stauts: 200}", "{kind: https, status: abc}", "{kind: mtls, reject_status: 700}",
    "{kind: wss, headers: [a]}", "{kind: slurmctld, quiet_ms: 99999}", "{kind: postgres, require_tls: 'yes'}",
    "{kind: http, path: health}", "{kind: vault, ca: ca.pem}", "{kind: tls, min_version: SSL3}",
])
def test_schema_and_validator_reject_bad_probe_options(probe: str, tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("a file that exists\n")
    text = f"version: 1\nhosts: {{web: {{address: x}}}}\nrules: [{{id: r, from: internet, to: web, port: 80, expect: required, probe: {probe}}}]"
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError):
        load_spec(path, environ={})
    assert schema_errors(text)
