"""Load a spec file (and the built-in profile it names) into a validated :class:`Spec`."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Mapping

from ..suggest import did_you_mean, one_of
from . import fields, validate
from .errors import SpecError
from .features import feature_types
from .model import Spec
from .nodes import Node, load

PROFILE_KEYS = ("version", "name", "roles", "features", "rules")


def available_profiles() -> list[str]:
    """Names of the profiles shipped in the package (``profile: NAME``)."""
    folder = resources.files("pytest_activate_ports") / "profiles"
    if not folder.is_dir():
        return []
    return sorted(entry.name[: -len(".yaml")] for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def _profile(node: Node, environ: Mapping[str, str] | None) -> dict[str, Node]:
    name = fields.text(node, "profile")
    choices = available_profiles()
    if name not in choices:
        raise node.error(f"unknown profile {name!r}{did_you_mean(name, choices)}; {one_of(choices)}")
    with resources.as_file(resources.files("pytest_activate_ports") / "profiles" / f"{name}.yaml") as path:
        document = load(Path(path), environ)
    return fields.mapping(document.root, f"profile {name}", PROFILE_KEYS)


def _version(top: dict[str, Node], root: Node) -> None:
    if "version" not in top:
        raise root.error("missing 'version: 1' at the top of the spec")
    if top["version"].value != 1:
        raise top["version"].error(f"unsupported spec version {top['version'].value!r}; this plugin reads version 1")


def load_spec(path: Path, environ: Mapping[str, str] | None = None) -> Spec:
    """Read, expand, merge with its profile and validate one spec file.

    Raises:
        SpecError: at the first problem, pointing at its line and column.
    """
    document = load(path, environ)
    root = document.root
    top = fields.mapping(root, "the spec", validate.TOP_KEYS)
    _version(top, root)
    profile = _profile(top["profile"], environ) if "profile" in top else {}
    roles = dict(validate.BUILTIN_ROLES)
    roles.update(validate.roles(profile.get("roles")))
    roles.update(validate.roles(top.get("roles")))
    profile_features = validate.features(profile.get("features"))
    own_features = validate.features(top.get("features"))
    if profile:
        for key, child in fields.entries(top["features"], "features").items() if "features" in top else ():
            if key not in profile_features:
                raise child.error(f"unknown feature {key!r}{did_you_mean(key, profile_features)}; "
                                  f"profile features: {', '.join(profile_features)}", at_key=True)
    features = {**profile_features, **own_features}
    hosts = validate.hosts(top.get("hosts"))
    for host in hosts.values():
        for role in host.roles:
            roles.setdefault(role, "")
    tls = validate.tls(top.get("tls"), path.parent)
    builder = validate.RuleBuilder(hosts, roles, features, tls)
    own = [builder.build(node) for node in fields.sequence(top["rules"], "rules")] if "rules" in top else []
    overridden = {rule.id for rule in own}
    builder.seen = {}
    inherited = [builder.build(node) for node in fields.sequence(profile["rules"], "profile rules")] if "rules" in profile else []
    rules = [rule for rule in inherited if rule.id not in overridden] + own
    if profile:
        declared = {*validate.BUILTIN_ROLES, *validate.roles(profile.get("roles")), *validate.roles(top.get("roles"))}
        validate.host_roles_known(top.get("hosts"), declared | builder.named)
    if not rules:
        raise root.error("the spec has no rules (and no profile)")
    types = feature_types({**own_features, **profile_features}, rules)  # the profile declares its features' types
    features = {**validate.features(profile.get("features"), types), **validate.features(top.get("features"), types)}
    name = fields.text(top["name"], "name") if "name" in top else path.stem
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Spec(path, name, digest, hosts, roles, features, tls, tuple(rules), document.secrets, types)


__all__ = ["SpecError", "available_profiles", "load_spec"]
