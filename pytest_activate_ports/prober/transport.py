"""Jobs and attempts as plain data: what a channel to a prober process carries (tuples, lists, dicts, str, int, float).

execnet (like any process boundary worth trusting) moves only plain values,
so nothing here is pickled: a job is written as the probe's *configuration*
(kind, options, TLS settings) and rebuilt into a probe on the prober's side,
and an attempt travels as a tuple of its fields. Both directions are pure
functions, tested against each other and against hand-written tuples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from ..results import Job, PortState, ProbeResult, ProtocolResult, SubCheck, TlsConfig

Wire = Any  # a plain value: what execnet's serializer carries
ProbeBuilder = Callable[[Wire], Any]  # the probe's configuration -> a probe (the prober's registry)


_TLS_PATHS = ("ca", "server_ca", "client_cert", "client_key")


def tls_to_wire(tls: TlsConfig) -> Wire:
    """The TLS settings as a dict of plain values (paths as text)."""
    return {**{name: None if getattr(tls, name) is None else str(getattr(tls, name)) for name in _TLS_PATHS},
            "min_version": tls.min_version, "expiry_warn_days": tls.expiry_warn_days}


def tls_from_wire(data: Wire) -> TlsConfig:
    paths = {name: None if data[name] is None else Path(data[name]) for name in _TLS_PATHS}
    return TlsConfig(**paths, min_version=data["min_version"], expiry_warn_days=int(data["expiry_warn_days"]))


def job_to_wire(job: Job) -> Wire:
    """A job for the channel, its probe as the plain configuration it was built from."""
    return (job.key, job.host, job.address, list(job.ports), dict(job.port_map), job.probe.config)


def job_from_wire(data: Wire, build: ProbeBuilder) -> Job:
    """The job a channel carried, its probe rebuilt by ``build`` from the configuration."""
    key, host, address, ports, port_map, config = data
    return Job(int(key), str(host), str(address), tuple(int(p) for p in ports),
               {int(k): int(v) for k, v in port_map.items()}, build(config))


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
    return [attempt_to_wire(result) for result in results]


def attempts_from_wire(data: Wire) -> tuple[ProbeResult, ...]:
    return tuple(attempt_from_wire(item) for item in data)
