"""YAML to located values: every scalar, list and mapping remembers its line and column.

PyYAML's composer gives positions but its constructors drop them, so specs are
composed with the safe loader and converted here, expanding ``${VAR}`` on the
way. The conversion is bounded (file size, node count, depth), so alias bombs
and absurd nesting fail fast with a located error instead of eating memory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Union

import yaml

from .errors import SpecError

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|KEY|CREDENTIAL", re.IGNORECASE)
# libyaml's parser when present: the same safe tag set, positions included, ten times faster on big specs.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}|\$\{([^}]*)\}?")

Value = Union[str, int, float, bool, None, list["Node"], dict[str, "Node"]]


@dataclass(frozen=True)
class Node:
    """A YAML value with its file and position (1-based line and column)."""

    value: Value
    path: Path
    line: int
    col: int
    key_line: int = 0  # for mapping values: where the key stands
    key_col: int = 0

    def error(self, message: str, at_key: bool = False) -> SpecError:
        """A :class:`SpecError` pointing at this value (or at its key)."""
        if at_key and self.key_line:
            return SpecError(self.path, self.key_line, self.key_col, message)
        return SpecError(self.path, self.line, self.col, message)


@dataclass
class Document:
    """A loaded spec file: the root node plus what expansion learned."""

    path: Path
    root: Node
    secrets: frozenset[str]  # expanded values from variables named like secrets


class _Converter:
    def __init__(self, path: Path, environ: Mapping[str, str]) -> None:
        self.path = path
        self.environ = environ
        self.count = 0
        self.secrets: set[str] = set()

    def error(self, node: yaml.Node, message: str) -> SpecError:
        mark = node.start_mark
        return SpecError(self.path, mark.line + 1, mark.column + 1, message)

    def convert(self, node: yaml.Node, depth: int = 0) -> Node:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.error(node, f"document expands to more than {MAX_NODES} values (alias bomb?)")
        if depth > MAX_DEPTH:
            raise self.error(node, f"nesting deeper than {MAX_DEPTH} levels")
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Node] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    raise self.error(key_node, "keys must be plain strings (no merge keys or complex keys)")
                key = str(self.scalar(key_node))
                if key in out:
                    raise self.error(key_node, f"duplicate key {key!r}")
                value = self.convert(value_node, depth + 1)
                out[key] = Node(value.value, self.path, value.line, value.col, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            return Node(out, self.path, line, col)
        if isinstance(node, yaml.SequenceNode):
            return Node([self.convert(item, depth + 1) for item in node.value], self.path, line, col)
        return Node(self.scalar(node), self.path, line, col)

    def scalar(self, node: yaml.Node) -> str | int | float | bool | None:
        raw = node.value
        assert isinstance(raw, str)
        text = self.expand(node, raw) if "$" in raw else raw
        tag = node.tag
        style = getattr(node, "style", None)
        if text is not raw and not style:  # plain (unquoted): None from PyYAML, "" from libyaml
            # An unquoted ${PORT} should become the int 443, as if written literally.
            tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        build = _CONSTRUCTOR.yaml_constructors.get(tag)
        if build is None:
            raise self.error(node, f"unsupported YAML tag {tag!r}")
        try:
            value = build(_CONSTRUCTOR, yaml.ScalarNode(tag, text, node.start_mark, node.end_mark, style=style))
        except (yaml.YAMLError, ValueError) as exc:
            raise self.error(node, f"bad value {raw[:40]!r}: {exc}") from None
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        return str(value)  # timestamps and binary are not spec types; keep the text

    def expand(self, node: yaml.Node, text: str) -> str:
        def substitute(match: re.Match[str]) -> str:
            name, default, broken = match.group(1), match.group(2), match.group(3)
            if name is None:
                raise self.error(node, f"malformed variable reference '${{{broken}'; use ${{NAME}} or ${{NAME:-default}}")
            if name in self.environ and self.environ[name] != "":
                value = self.environ[name]
                if SECRET_NAME.search(name) and value:
                    self.secrets.add(value)
                return value
            if default is not None:
                return default
            raise self.error(node, f"environment variable {name} is not set (use ${{{name}:-default}} for a default)")

        return _VAR.sub(substitute, text)


def load(path: Path, environ: Mapping[str, str] | None = None) -> Document:
    """Read and convert a spec file; every failure is a located :class:`SpecError`."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise SpecError(path, 1, 1, f"file is {size} bytes; specs larger than {MAX_BYTES} are refused")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, 1, 1, f"cannot read spec: {exc}") from None
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError(path, line, col, f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line, col = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        raise SpecError(path, line, col, f"invalid YAML: character {exc.character!r} is not allowed") from None
    except RecursionError:
        raise SpecError(path, 1, 1, "invalid YAML: nesting too deep") from None
    except yaml.YAMLError as exc:
        raise SpecError(path, 1, 1, f"invalid YAML: {str(exc).splitlines()[0]}") from None
    if root is None:
        raise SpecError(path, 1, 1, "the spec is empty; expected a mapping with 'version: 1'")
    converter = _Converter(path, os.environ if environ is None else environ)
    return Document(path, converter.convert(root), frozenset(converter.secrets))
