"""TLS material as contents: read from the spec's files on the pytest side, loaded by the prober without them.

A prober may run on another machine (a vantage), where the files a spec names
do not exist. So trust anchors and client identities travel as PEM text,
each named by the file it came from: messages name the file, never its
contents, and ``repr`` shows no key. The standard library loads CAs from text
(``load_verify_locations(cadata=...)``) but a certificate and its key only
from files, so :func:`load_identity` writes them to a private temporary
folder for the moment of loading.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Callable, Collection

if TYPE_CHECKING:
    import ssl  # only a talking probe loads ssl: a session of tcp and forbidden checks never does

    from ...results import TlsConfig

_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")


class MaterialError(ValueError):
    """A file the spec names cannot be used: missing, unreadable, or holding no certificate (the message names it)."""


@dataclass(frozen=True)
class Pem:
    """The text of one PEM file, named by the file it was read from."""

    source: str  # the file's path as the spec resolved it
    text: str = field(repr=False)

    @property
    def name(self) -> str:
        """The file's name, as messages show it."""
        return PurePath(self.source).name


@dataclass(frozen=True)
class Identity:
    """A client certificate (with its chain) and its private key."""

    cert: Pem
    key: Pem


@dataclass(frozen=True)
class TlsMaterial:
    """The spec's ``tls:`` settings as a probe uses them: the files' contents, and the client nobody trusts.

    Only what a probe kind declares in :attr:`Probe.tls_material` is read, so a
    job of a probe that needs no certificate carries none.
    """

    ca: Pem | None = None
    server_ca: Pem | None = None
    client: Identity | None = None  # tls.client_cert and tls.client_key
    untrusted_client: Identity | None = None  # from a CA made up on the pytest side (``mtls``)
    min_version: str | None = None
    expiry_warn_days: int = 14


def read_ca(path: Path) -> Pem:
    """The certificates of a CA bundle: only its PEM blocks, so comments in any encoding stay behind."""
    text = _read(path)
    blocks = _CERTIFICATE.findall(text)
    if not blocks:
        raise MaterialError(f"no PEM certificate in {path}")
    return Pem(str(path), "\n".join(blocks) + "\n")


def read_file(path: Path) -> Pem:
    """A file's text as it is (a client certificate or key), byte for byte."""
    return Pem(str(path), _read(path))


def _read(path: Path) -> str:
    try:
        return _contents(path, path.stat().st_mtime_ns)
    except FileNotFoundError:
        raise MaterialError(f"no such file {path}") from None
    except OSError as exc:
        raise MaterialError(f"cannot read {path}: {exc.strerror or exc}") from None


@functools.lru_cache(maxsize=64)
def _contents(path: Path, modified: int) -> str:
    """One read per file and version: every rule of a spec shares the text of its ``tls.ca``."""
    # latin-1 maps every byte to one character, so the text is the file's bytes exactly.
    return path.read_bytes().decode("latin-1")


def read_material(tls: TlsConfig, wanted: Collection[str], untrusted_client: Callable[[], Identity] | None) -> TlsMaterial:
    """The ``wanted`` parts (:class:`TlsMaterial` field names) of the spec's ``tls:``, read now.

    Raises:
        MaterialError: a file cannot be read; the message starts with the spec's key (``tls.ca: ...``).
    """
    def pem(key: str, read: Callable[[Path], Pem]) -> Pem:
        try:
            return read(getattr(tls, key))
        except MaterialError as exc:
            raise MaterialError(f"tls.{key}: {exc}") from None

    has_client = "client" in wanted and tls.client_cert is not None and tls.client_key is not None
    return TlsMaterial(
        pem("ca", read_ca) if "ca" in wanted and tls.ca else None,
        pem("server_ca", read_ca) if "server_ca" in wanted and tls.server_ca else None,
        Identity(pem("client_cert", read_file), pem("client_key", read_file)) if has_client else None,
        untrusted_client() if "untrusted_client" in wanted and untrusted_client is not None else None,
        tls.min_version, tls.expiry_warn_days)


def load_identity(context: ssl.SSLContext, identity: Identity) -> None:
    """Present ``identity`` from ``context``, through files that exist only while OpenSSL reads them.

    The folder is the user's alone (``mkdtemp`` makes it 0700) and the key file
    0600, so no other account on the vantage can read the key in that moment.
    An encrypted key raises ``ValueError`` instead of prompting on a terminal
    that an unattended run does not have.
    """
    with tempfile.TemporaryDirectory(prefix="activate-ports-") as folder:
        cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        for path, pem in ((cert, identity.cert), (key, identity.key)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
                file.write(pem.text.encode("latin-1"))
        context.load_cert_chain(cert, key, password=_no_password)


def _no_password() -> str:
    raise ValueError("the client key is encrypted; give tls.client_key as an unencrypted key file readable only by the runner")
