"""``ssh``: the port sends an SSH-2.0 identification string (RFC 4253, section 4.2).

The probe sends its own identification first, as RFC 4253 lets both sides
do: a server that waits for the client then answers too, and a non-SSH
service (an HTTP server, say) answers with something recognisably different
instead of leaving the probe to time out.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Probe, ProtocolResult
from .connection import Connection
from .registry import register
from .wire import WireError, ask, seen

CLIENT_IDENTIFICATION = b"SSH-2.0-activate_ports_probe\r\n"
MAX_IDENTIFICATION = 255  # RFC 4253: the identification line, CR LF included
MAX_PREAMBLE = 8192  # other lines a server may send first; the RFC sets no limit, we must
SSH2_VERSIONS = ("2.0", "1.99")  # 1.99: a server speaking both SSH-1 and SSH-2


@dataclass(frozen=True)
class Identification:
    """The server's ``SSH-protoversion-softwareversion SP comments`` line."""

    protocol: str
    software: str
    comments: str
    preamble: tuple[str, ...] = ()  # lines the server sent before the identification

    def __str__(self) -> str:
        return f"SSH-{self.protocol}-{self.software}" + (f" {self.comments}" if self.comments else "")


def parse_identification(buffer: bytes) -> Identification | None:
    """The identification in ``buffer``; None while incomplete; :class:`WireError` if it cannot be SSH."""
    preamble: list[str] = []
    start = 0
    while (end := buffer.find(b"\n", start)) >= 0:
        line = buffer[start:end + 1]
        text = _text(line)
        if text is None:
            raise WireError(f"binary data, not an SSH identification: {seen(buffer[start:])}")
        if line.startswith(b"SSH-"):
            return _identification(line, text, tuple(preamble))
        preamble.append(text)
        start = end + 1
    rest = buffer[start:]
    if b"\x00" in rest:  # an unfinished line may end mid UTF-8 sequence: only NUL is decisive yet
        raise WireError(f"binary data, not an SSH identification: {seen(rest)}")
    if len(rest) > MAX_IDENTIFICATION and rest.startswith(b"SSH-"):
        raise WireError(f"SSH identification longer than {MAX_IDENTIFICATION} bytes: {seen(rest)}")
    if len(buffer) > MAX_PREAMBLE:
        raise WireError(f"no SSH identification in the first {MAX_PREAMBLE} bytes: {seen(buffer)}")
    return None


def _text(line: bytes) -> str | None:
    """A complete line as text; None for binary (RFC 4253 wants UTF-8 text, so NUL or bad UTF-8 is not SSH)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text.rstrip("\r\n")


def _identification(line: bytes, text: str, preamble: tuple[str, ...]) -> Identification:
    if len(line) > MAX_IDENTIFICATION:
        raise WireError(f"SSH identification longer than {MAX_IDENTIFICATION} bytes: {seen(line)}")
    protocol, _, rest = text[4:].partition("-")
    software, _, comments = rest.partition(" ")
    if not software:
        raise WireError(f"malformed SSH identification (no software version): {text!r}")
    if protocol not in SSH2_VERSIONS:
        raise WireError(f"server speaks SSH protocol {protocol!r}, not SSH-2.0: {text!r}")
    return Identification(protocol, software, comments, preamble)


@register
class SshProbe(Probe):
    """Passes when the server identifies itself as an SSH-2.0 implementation; reports its software."""

    kind = "ssh"

    async def check(self, conn: Connection) -> ProtocolResult:
        try:
            ident = await ask(conn.reader, conn.writer, CLIENT_IDENTIFICATION, parse_identification,
                              MAX_PREAMBLE + MAX_IDENTIFICATION)
        except WireError as exc:
            return ProtocolResult(False, f"not an SSH server: {exc}")
        facts = {"ssh_protocol": ident.protocol, "ssh_software": ident.software}
        if ident.comments:
            facts["ssh_comments"] = ident.comments
        warnings = (f"server sent {len(ident.preamble)} line(s) before its identification",) if ident.preamble else ()
        return ProtocolResult(True, f"SSH server: {ident}", facts=facts, warnings=warnings)
