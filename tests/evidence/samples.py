"""Regenerate the sample evidence under docs/samples/ and the report screenshot docs/report.png.

    python -m tests.evidence.samples          # from the repository root

Two vantages (internet, control-plane) check an emulated slice of an ACTIVATE
deployment on loopback: real HTTPS, redirect, mTLS, PostgreSQL and MongoDB
listeners from :mod:`pytest_activate_ports.emulate`, plus refused ports. Two
faults are planted so the samples show what a reviewer sees for a failure:
the CAC listener asks for but does not require a client certificate, and the
NFS export is down. Certificates come from trustme in a temporary folder; no
key material is copied into the repository.

The full-profile sample (``docs/samples/profile/``) is the emulated ACTIVATE
deployment of ``activate-ports emulate`` with its four planted mistakes, checked
from its six vantages, each writing evidence: the report's picture at the
scale of the whole port guide, screenshot ``docs/report-profile.png``.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import trustme

from pytest_activate_ports.emulate import deployment
from pytest_activate_ports.emulate.demo import PERIMETER, VANTAGES, write_spec
from pytest_activate_ports.emulate.http_services import serve_redirect
from pytest_activate_ports.emulate.mongodb import serve_mongodb
from pytest_activate_ports.emulate.postgres import serve_postgres
from pytest_activate_ports.emulate.tls import listening_port, serve_tls, server_context
from pytest_activate_ports.emulate.pytest_run import run_pytest
from pytest_activate_ports.spec import load_spec

from ..servers import RefusedPort

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "docs" / "samples"
SPEC = """
version: 1
name: acme-prod
features: {{cac_auth: true}}
hosts:
  lb: {{address: 127.0.0.1, roles: [control-plane],
        port_map: {{443: {https}, 80: {redirect}, 8443: {cac}, 5432: {closed}, 15672: {closed}}}}}
  db: {{address: 127.0.0.1, roles: [database], port_map: {{5432: {postgres}, 27017: {mongodb}}}}}
  storage: {{address: 127.0.0.1, roles: [storage], port_map: {{2049: {closed}}}}}
tls: {{ca: ca.pem, client_cert: client.pem, client_key: client.key}}
rules:
  - {{id: ui-https, from: [internet, control-plane], to: lb, port: 443, expect: required, probe: https,
     reason: "Platform web UI, REST API, and agent WebSocket tunnels"}}
  - {{id: http-redirect, from: internet, to: lb, port: 80, expect: optional, probe: http-redirect,
     reason: HTTP-to-HTTPS redirect}}
  - {{id: cac-mtls, from: internet, to: lb, port: 8443, expect: required, probe: mtls, when: cac_auth,
     reason: "CAC/Smart Card authentication (mTLS)"}}
  - {{id: postgres-not-exposed, from: internet, to: lb, port: 5432, expect: forbidden,
     reason: PostgreSQL is internal}}
  - {{id: rabbitmq-mgmt-not-exposed, from: internet, to: lb, port: 15672, expect: forbidden,
     reason: "RabbitMQ Management: do not expose externally"}}
  - {{id: postgres, from: control-plane, to: db, port: 5432, expect: required, probe: postgres,
     reason: "Usage metrics, billing, and activity tracking"}}
  - {{id: mongodb, from: control-plane, to: db, port: 27017, expect: required, probe: mongodb,
     reason: "User accounts, platform configuration, and metadata"}}
  - {{id: nfs-storage, from: control-plane, to: storage, port: 2049, expect: required,
     reason: Shared filesystem for user uploads and workflow assets}}
"""


def _serve(loop: asyncio.AbstractEventLoop, work: Path) -> dict[str, int]:
    """Start the emulated services on ``loop``; returns their ports and writes the PKI into ``work``."""
    ca, client_ca = trustme.CA(), trustme.CA(organization_name="DoD PKE stand-in")
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(work / "ca.pem"))
    client = client_ca.issue_cert("jane.doe@example.mil", common_name="DOE.JANE.Q.1234567890")
    client.cert_chain_pems[0].write_to_path(str(work / "client.pem"))
    client.private_key_pem.write_to_path(str(work / "client.key"))

    async def start() -> dict[str, int]:
        servers = {
            "https": await serve_tls("127.0.0.1", 0, server_context(leaf)),
            "redirect": await serve_redirect("127.0.0.1", 0),
            # The planted fault: a client certificate is asked for but not required.
            "cac": await serve_tls("127.0.0.1", 0, server_context(leaf, client_ca=client_ca, verify=ssl.CERT_OPTIONAL)),
            "postgres": await serve_postgres("127.0.0.1", 0),
            "mongodb": await serve_mongodb("127.0.0.1", 0),
        }
        return {name: listening_port(server) for name, server in servers.items()}

    return asyncio.run_coroutine_threadsafe(start(), loop).result(10)


def _pytest(work: Path, role: str) -> str:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "--color=no",
               "--activate-spec", "spec.yaml", "--activate-role", role, "--activate-timeout", "3",
               "--activate-evidence", f"{role}.json", "--junitxml", f"junit-{role}-xunit1.xml", "-o", "junit_family=xunit1"]
    subprocess.run(command, cwd=work, capture_output=True, timeout=120)
    default = subprocess.run([*command[:-4], "--junitxml", f"junit-{role}-xunit2.xml"], cwd=work, capture_output=True,
                             text=True, timeout=120)
    return default.stdout  # what a user sees by default: the xunit2 run, with its one JUnit warning


def _report(evidence: list[Path], html: Path, shot: Path, work: Path, height: int, *options: str) -> None:
    """``activate-ports report`` as HTML and Markdown next to ``html``, and a screenshot of the page's top."""
    for target in (html, html.with_suffix(".md")):  # paths relative to the work folder: they show in the report
        subprocess.run([sys.executable, "-m", "pytest_activate_ports.cli", "report",
                        *(str(path.relative_to(work)) for path in evidence), *options, "-o", str(target)],
                       check=True, timeout=60, cwd=work)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                    f"--user-data-dir={work / 'profile'}", f"--window-size=1280,{height}", f"--screenshot={shot}",
                    html.as_uri()], check=True, capture_output=True, timeout=120)


async def _profile(spec: Path, evidence: Path, mistakes: list[str]) -> list[Path]:
    """The emulated deployment with ``mistakes``, checked from each vantage, evidence written into ``evidence``."""
    env = {"ACTIVATE_EMULATION_DIR": str(spec.parent)}
    servers = await deployment.start(load_spec(spec, env), deployment.Certificates(spec.parent), deployment.services(mistakes))
    evidence.mkdir(exist_ok=True)
    try:
        runs = await asyncio.gather(*(run_pytest(spec, {role: "local"}, label=f"profile-{role}", env=env,
                                                 hosts=[f"{name}={address}" for name, address in PERIMETER.get(role, {}).items()],
                                                 extra=["-q", "--activate-timeout", "3"]) for role in VANTAGES))
        for role, run in zip(VANTAGES, runs):
            shutil.copy(run.evidence, evidence / f"{role}.json")
    finally:
        await deployment.stop(servers)
    return [evidence / f"{role}.json" for role in VANTAGES]


def profile_sample() -> None:
    """Regenerate ``docs/samples/profile/`` and ``docs/report-profile.png``: last week correct, today misconfigured."""
    target = SAMPLES / "profile"
    with tempfile.TemporaryDirectory(prefix="activate-emulated-") as temp:
        work = Path(temp)
        deployment.Certificates.create(work, deployment.LOOPBACK.values())
        spec = write_spec(work)
        before = asyncio.run(_profile(spec, work / "last-week", []))
        evidence = asyncio.run(_profile(spec, work / "today", list(deployment.MISCONFIGURATIONS)))
        _report(evidence, work / "report.html", ROOT / "docs" / "report-profile.png", work, 1400,
                *(f"--baseline={path.relative_to(work)}" for path in before))
        diff = subprocess.run([sys.executable, "-m", "pytest_activate_ports.cli", "diff", "last-week/internet.json",
                               "today/internet.json"], capture_output=True, text=True, timeout=60, cwd=work)
        target.mkdir(parents=True, exist_ok=True)
        (target / "diff-internet.txt").write_text(diff.stdout)
        for path in [*evidence, work / "report.html", work / "report.md"]:
            shutil.copy(path, target / path.name)
        (target / "last-week").mkdir(exist_ok=True)
        for path in before:
            shutil.copy(path, target / "last-week" / path.name)


def main() -> None:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    closed = RefusedPort()
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        (work / "pytest.ini").write_text("[pytest]\n")
        ports = _serve(loop, work)
        (work / "spec.yaml").write_text(textwrap.dedent(SPEC).format(closed=closed.port, **ports).lstrip())
        SAMPLES.mkdir(parents=True, exist_ok=True)
        for role in ("internet", "control-plane"):
            (SAMPLES / f"terminal-{role}.txt").write_text(_pytest(work, role))
        evidence = [work / f"{role}.json" for role in ("internet", "control-plane")]
        _report(evidence, work / "report.html", ROOT / "docs" / "report.png", work, 1600)
        for name in ("spec.yaml", "internet.json", "control-plane.json", "report.html", "report.md",
                     *(f"junit-{r}-xunit{f}.xml" for r in ("internet", "control-plane") for f in (1, 2))):
            shutil.copy(work / name, SAMPLES / name)
    closed.close()
    loop.call_soon_threadsafe(loop.stop)
    profile_sample()


if __name__ == "__main__":
    main()
