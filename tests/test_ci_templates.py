"""The CI templates in examples/ci: valid against the official schemas (offline), and their commands work.

The schemas are the ones check-jsonschema vendors (GitHub's workflow schema and GitLab's CI schema
from SchemaStore), so validation needs no network. The commands each job runs are then run as its
runner would, against the emulated deployment (``activate-ports emulate --serve``): one runner
per vantage, the artifacts gathered, the merged report written.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest
import yaml

from pytest_activate_ports.emulate.demo import PERIMETER
from pytest_activate_ports.spec import load_spec

CI = Path(__file__).resolve().parents[1] / "examples" / "ci"
GITHUB, GITLAB = CI / "github-actions.yml", CI / "gitlab-ci.yml"
INSTALL = "python -m pip install pytest-activate-ports"


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("schema", "path"), [("vendor.github-workflows", GITHUB), ("vendor.gitlab-ci", GITLAB)])
def test_ci_template_validates_against_the_official_schema(schema: str, path: Path) -> None:
    result = check_jsonschema(schema, path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


@pytest.mark.parametrize(("schema", "path", "old", "new"), [
    ("vendor.github-workflows", GITHUB, "runs-on: ${{ matrix.runner }}", "runs_on: ${{ matrix.runner }}"),
    ("vendor.gitlab-ci", GITLAB, "junit: ports-*.xml", "junit: {path: ports-*.xml}"),
])
def test_ci_schema_check_catches_a_broken_template(schema: str, path: Path, old: str, new: str, tmp_path: Path) -> None:
    broken = tmp_path / path.name
    text = path.read_text()
    assert old in text
    broken.write_text(text.replace(old, new))
    assert check_jsonschema(schema, broken).returncode == 1


def _github() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(GITHUB.read_text())
    return document


def _gitlab() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(GITLAB.read_text())
    return document


def test_ci_templates_run_a_job_per_vantage_of_the_profile(served: Path) -> None:
    vantages = load_spec(served, {"ACTIVATE_EMULATION_DIR": str(served.parent)}).vantages()
    matrix = _github()["jobs"]["ports"]["strategy"]["matrix"]["include"]
    assert sorted(entry["role"] for entry in matrix) == sorted(vantages)
    assert sorted(_gitlab()["ports"]["parallel"]["matrix"][0]["ROLE"]) == sorted(vantages)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The emulated deployment, up for the module; yields its spec."""
    server = subprocess.Popen([sys.executable, "-m", "pytest_activate_ports.emulate", "--serve"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        assert "ready" in server.stdout.readline()
        folder = re.search(r"ACTIVATE_EMULATION_DIR=(\S+)", server.stdout.readline() + server.stdout.readline())
        assert folder is not None
        yield Path(folder.group(1)) / "emulated.yaml"
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0
        if server.stdout is not None:
            server.stdout.close()


def _environment(spec: Path, role: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The runner's environment: the installed package on PATH, the emulation's certificates, and
    PYTEST_ADDOPTS as a user sets it: the emulation's stand-in for the perimeter, seen from the internet."""
    perimeter = " ".join(f"--activate-host {name}={address}" for name, address in PERIMETER.get(role, {}).items())
    return {**os.environ, **extra, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "ACTIVATE_EMULATION_DIR": str(spec.parent), "PYTEST_ADDOPTS": f"-p no:cacheprovider {perimeter}".strip()}


def _shell(script: str, cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[str]:
    # GitHub runs `run:` with bash -eo pipefail; GitLab runs each script line in the job's shell.
    return subprocess.Popen(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd, env=dict(env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process: subprocess.Popen[str], what: str) -> str:
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 0, f"{what}: exit {process.returncode}\n{output[-3000:]}"
    return output


def _checkout(spec: Path, folder: Path, name: str) -> Path:
    folder.mkdir()
    shutil.copyfile(spec, folder / name)
    return folder


def test_github_workflow_commands_pass_against_the_emulated_deployment(served: Path, tmp_path: Path) -> None:
    workflow = _github()
    spec_name = workflow["env"]["ACTIVATE_SPEC"]
    def runs(job: str) -> list[str]:
        scripts = [step["run"] for step in workflow["jobs"][job]["steps"] if "run" in step]
        assert scripts[0] == INSTALL  # the one step not run here: the package is installed already
        return scripts[1:]

    plan = tmp_path / "plan"
    _checkout(served, plan, spec_name)
    env = _environment(served, "plan", {**workflow["env"], "GITHUB_STEP_SUMMARY": str(plan / "summary.md")})
    for script in runs("plan"):
        _finish(_shell(script, plan, env), "plan")
    assert "## From internet" in (plan / "summary.md").read_text()

    started = {}
    for entry in workflow["jobs"]["ports"]["strategy"]["matrix"]["include"]:
        role = entry["role"]
        job = _checkout(served, tmp_path / role, spec_name)
        env = _environment(served, role, {**workflow["env"], "ROLE": role, "GITHUB_STEP_SUMMARY": str(job / "summary.md")})
        started[role] = (job, _shell("\n".join(runs("ports")), job, env))
    artifacts = tmp_path / "report"
    artifacts.mkdir()
    upload = workflow["jobs"]["ports"]["steps"][-1]["with"]["path"].split()
    for role, (job, process) in started.items():
        _finish(process, f"vantage {role}")
        assert (job / "summary.md").read_text().startswith("# ACTIVATE network port report"), role
        kept = [path for path in job.iterdir() if any(fnmatch(path.name, pattern) for pattern in upload)]
        assert sorted(path.name for path in kept) == [f"evidence-{role}.json", f"ports-{role}.xml"]
        for path in kept:  # download-artifact with merge-multiple: every vantage's files in one folder
            shutil.copy(path, artifacts)

    env = _environment(served, "report", {**workflow["env"], "GITHUB_STEP_SUMMARY": str(artifacts / "summary.md")})
    for script in runs("report"):
        _finish(_shell(script, artifacts, env), "report")
    report = (artifacts / "activate-ports-report.html").read_text()
    for role in started:
        assert role in report
    assert "0 failed" in (artifacts / "summary.md").read_text()


def test_gitlab_pipeline_commands_pass_against_the_emulated_deployment(served: Path, tmp_path: Path) -> None:
    pipeline = _gitlab()
    assert pipeline["default"]["before_script"] == [INSTALL]  # not run here: the package is installed already
    variables = pipeline["variables"]
    started = {}
    for role in pipeline["ports"]["parallel"]["matrix"][0]["ROLE"]:
        job = _checkout(served, tmp_path / role, variables["ACTIVATE_SPEC"])
        started[role] = (job, _shell("\n".join(pipeline["ports"]["script"]), job, _environment(served, role, {**variables, "ROLE": role})))
    artifacts = tmp_path / "report"
    artifacts.mkdir()
    keep = pipeline["ports"]["artifacts"]
    for role, (job, process) in started.items():
        _finish(process, f"vantage {role}")
        junit = [path for path in job.iterdir() if fnmatch(path.name, keep["reports"]["junit"])]
        assert [path.name for path in junit] == [f"ports-{role}.xml"]
        for path in job.iterdir():
            if any(fnmatch(path.name, pattern) for pattern in keep["paths"]):
                shutil.copy(path, artifacts)
    _finish(_shell("\n".join(pipeline["report"]["script"]), artifacts, _environment(served, "report", variables)), "report")
    for name in pipeline["report"]["artifacts"]["paths"]:
        assert (artifacts / name).stat().st_size > 0, name
    assert "0 failed" in (artifacts / "activate-ports-report.md").read_text()
