"""Jobs and attempts as plain data: what a channel to a prober process carries (tuples, lists, dicts, str, int, float).

execnet (like any process boundary worth trusting) moves only plain values,
so nothing here is pickled: a job is written as the probe's *configuration*
(kind, options, TLS material, the files its options name, all as contents)
and rebuilt into a probe on the prober's side, and an attempt travels as a
tuple of its fields. Both directions are pure
functions, tested against each other and against hand-written tuples.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Sequence

from ..results import Job, Offence, PortSet, PortState, ProbeResult, ProtocolResult, RangeSummary, SubCheck, port_set
from .probes.material import Identity, Pem, TlsMaterial

Wire = Any  # a plain value: what execnet's serializer carries
ProbeBuilder = Callable[[Wire], Any]  # the probe's configuration -> a probe (the prober's registry)


def pem_to_wire(pem: Pem) -> Wire:
    return (pem.source, pem.text)


def pem_from_wire(data: Wire) -> Pem:
    # Every job of a rule carries the same CA bundle (perhaps hundreds of kB): one copy is kept, not one per job.
    return Pem(str(data[0]), sys.intern(str(data[1])))


def _optional(convert: Callable[[Any], Any], value: Any) -> Any:
    return None if value is None else convert(value)


def _identity_to_wire(identity: Identity) -> Wire:
    return (pem_to_wire(identity.cert), pem_to_wire(identity.key))


def _identity_from_wire(data: Wire) -> Identity:
    return Identity(pem_from_wire(data[0]), pem_from_wire(data[1]))


def tls_to_wire(tls: TlsMaterial) -> Wire:
    """The TLS material as a dict of plain values, each file as (the spec's path, its PEM text).

    The contents travel, not the paths: on a vantage the spec's files do not exist.
    """
    return {"ca": _optional(pem_to_wire, tls.ca), "server_ca": _optional(pem_to_wire, tls.server_ca),
            "client": _optional(_identity_to_wire, tls.client),
            "untrusted_client": _optional(_identity_to_wire, tls.untrusted_client),
            "min_version": tls.min_version, "expiry_warn_days": tls.expiry_warn_days}


def tls_from_wire(data: Wire) -> TlsMaterial:
    return TlsMaterial(_optional(pem_from_wire, data["ca"]), _optional(pem_from_wire, data["server_ca"]),
                       _optional(_identity_from_wire, data["client"]), _optional(_identity_from_wire, data["untrusted_client"]),
                       data["min_version"], int(data["expiry_warn_days"]))


def job_to_wire(job: Job) -> Wire:
    """A job for the channel, its ports as runs (``1024-65535``), its probe as the plain configuration it was built from."""
    offends = None if job.offends is None else sorted(state.value for state in job.offends)
    return (job.key, job.host, job.address, str(port_set(job.ports)), dict(job.port_map), job.probe.config, offends)


def job_from_wire(data: Wire, build: ProbeBuilder) -> Job:
    """The job a channel carried, its probe rebuilt by ``build`` from the configuration."""
    key, host, address, ports, port_map, config, offends = data
    return Job(int(key), str(host), str(address), PortSet.parse(ports), {int(k): int(v) for k, v in port_map.items()},
               build(config), None if offends is None else frozenset(PortState(state) for state in offends))




def protocol_to_wire(protocol: ProtocolResult | None) -> Wire:
    if protocol is None:
        return None
    return (protocol.passed, protocol.detail, [(c.name, c.passed, c.detail) for c in protocol.checks],
            dict(protocol.facts), list(protocol.warnings))


def protocol_from_wire(data: Wire) -> ProtocolResult | None:
    if data is None:
        return None
    passed, detail, checks, facts, warnings = data
    return ProtocolResult(bool(passed), str(detail), tuple(SubCheck(str(n), p, str(d)) for n, p, d in checks),
                          {str(k): str(v) for k, v in facts.items()}, tuple(str(w) for w in warnings))


def attempt_to_wire(result: ProbeResult) -> Wire:
    """One attempt as a tuple, in field order."""
    return (result.port, result.dialled, result.state.value, result.detail, result.elapsed, result.errno,
            result.address, result.source, protocol_to_wire(result.protocol))


def attempt_from_wire(data: Wire) -> ProbeResult:
    """The attempt a channel carried.

    Raises:
        ValueError: the tuple is not an attempt (a prober of another version, or a broken channel).
    """
    port, dialled, state, detail, elapsed, error, address, source, protocol = data
    return ProbeResult(int(port), int(dialled), PortState(state), str(detail), float(elapsed),
                       None if error is None else int(error), address, source, protocol_from_wire(protocol))


def attempts_to_wire(results: Sequence[ProbeResult]) -> Wire:
    """A job's attempts: a list of tuples, or a range's summary as a dict (see :func:`summary_to_wire`)."""
    if isinstance(results, RangeSummary):
        return summary_to_wire(results)
    return [attempt_to_wire(result) for result in results]


def attempts_from_wire(data: Wire) -> tuple[ProbeResult, ...]:
    if isinstance(data, dict):
        return summary_from_wire(data)
    return tuple(attempt_from_wire(item) for item in data)


def summary_to_wire(summary: RangeSummary) -> Wire:
    """A range's summary: counts and ports (as runs) per state, each offence as an attempt plus its ports, the slowest."""
    return {"counts": {state.value: count for state, count in summary.counts.items()},
            "ports": {state.value: str(ports) for state, ports in summary.ports.items()},
            "offences": [(attempt_to_wire(offence), str(offence.ports)) for offence in summary],
            "elapsed": summary.elapsed, "addresses": list(summary.addresses)}


def summary_from_wire(data: Wire) -> RangeSummary:
    """The summary a channel carried.

    Raises:
        ValueError: the dict is not a summary (a prober of another version, or a broken channel).
    """
    offences = [Offence.of(first, PortSet.parse(ports), first.elapsed)
                for first, ports in ((attempt_from_wire(attempt), ports) for attempt, ports in data["offences"])]
    return RangeSummary(offences, {PortState(state): int(count) for state, count in data["counts"].items()},
                        {PortState(state): PortSet.parse(ports) for state, ports in data["ports"].items()},
                        float(data["elapsed"]), [str(address) for address in data["addresses"]])
