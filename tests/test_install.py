"""A user's install is lean: the README's install line and the runtime dependencies bring no test-only plugin."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"
TEST_ONLY = {"hypothesis", "pytest-asyncio", "pytest-xdist", "mypy", "vermin"}


def set_up_commands() -> list[str]:
    """The commands of the README's first shell block, comments dropped."""
    block = README.read_text(encoding="utf-8").split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines()]


def project(requirement: str) -> str:
    """``pytest-xdist>=3; extra == "test"`` -> ``pytest-xdist``."""
    return re.split(r"[\s;<>=!~\[]", requirement, maxsplit=1)[0].lower()


def test_readme_installs_the_plugin_without_the_test_extra_and_the_suite_with_it() -> None:
    install, main_job, test = set_up_commands()
    assert (install, main_job) == ("python3 -m pip install -e .", "activate-ports emulate")
    assert test == "python -m pip install -e '.[test]' && python -m pytest"


def test_test_only_plugins_are_in_the_test_extra_and_not_runtime_dependencies() -> None:
    requirements = metadata.requires("pytest-activate-ports") or []
    runtime = {project(r) for r in requirements if "extra ==" not in r}
    test = {project(r) for r in requirements if re.search(r"extra == .test.", r)}
    assert TEST_ONLY <= test
    assert not runtime & TEST_ONLY, runtime
