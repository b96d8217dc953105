"""What a feature's value must look like, learned from the ``when`` conditions and the declarations.

A feature that some condition orders (``platform_version < 8``) holds a version; one
tested on its own (``when: cac_auth``) or declared true/false (by the profile, or by the
spec without one) holds a boolean; any other feature is free text or a number. Values
from the spec and from ``--activate-feature`` are checked against that type where they
are given, so ``platform_version: eight`` is an error at its line, never a crash when a
condition is evaluated, and ``cac_auth=maybe`` is refused rather than taken as true.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable, Mapping

from .condition import ORDERING, Condition, version
from .model import FeatureValue, Rule

_BOOLEANS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


class FeatureKind(str, enum.Enum):
    """The three shapes a feature value can have."""

    BOOLEAN = "boolean"
    VERSION = "version"
    VALUE = "value"


@dataclass(frozen=True)
class FeatureType:
    """A feature's kind and why it has it, for a message the user can follow back."""

    kind: FeatureKind
    because: str


class FeatureValueError(ValueError):
    """A value does not fit its feature's type; the message names the feature and what fits."""


def feature_types(declared: Mapping[str, FeatureValue], rules: Iterable[Rule]) -> dict[str, FeatureType]:
    """The type of every feature the rules test or that is declared true/false.

    Args:
        declared: each feature's declared value (the profile's where it has one).
        rules: the spec's effective rules.
    """
    out: dict[str, FeatureType] = {}
    for rule in rules:
        for when in _conditions(rule):
            for name, op in when.tests():
                if op in ORDERING and (name not in out or out[name].kind is not FeatureKind.VERSION):
                    out[name] = FeatureType(FeatureKind.VERSION, f"rule {rule.id!r} compares it: when: {when.text}")
                elif op is None and name not in out:
                    out[name] = FeatureType(FeatureKind.BOOLEAN, f"rule {rule.id!r} tests it: when: {when.text}")
    for name, value in declared.items():
        if name not in out and isinstance(value, bool):
            out[name] = FeatureType(FeatureKind.BOOLEAN, "it is declared true/false")
    return out


def _conditions(rule: Rule) -> list[Condition]:
    """The rule's ``when`` and those of its range's exceptions."""
    excepted = rule.port_range.excepted if rule.port_range is not None else ()
    return [when for when in (rule.when, *(e.when for e in excepted)) if when is not None]


def typed_value(name: str, value: FeatureValue, feature: FeatureType | None) -> FeatureValue:
    """``value`` checked against the feature's type; booleans written as text become booleans.

    Raises:
        FeatureValueError: the value does not fit.
    """
    if feature is None or feature.kind is FeatureKind.VALUE:
        return value
    if feature.kind is FeatureKind.BOOLEAN:
        if isinstance(value, bool):
            return value
        if str(value).lower() in _BOOLEANS:
            return _BOOLEANS[str(value).lower()]
        raise FeatureValueError(f"feature {name!r} is true or false ({feature.because}); "
                                f"write true/false, yes/no, on/off or 1/0, not {value!r}")
    if isinstance(value, bool) or version(value) is None:
        raise FeatureValueError(f"feature {name!r} holds a version such as \"7.4\" ({feature.because}), not {value!r}")
    return value
