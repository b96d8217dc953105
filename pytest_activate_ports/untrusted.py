"""The client identity no server trusts: what an ``mtls`` probe presents to prove untrusted certificates are refused.

It is made here, on the pytest side, because making a certificate takes a
cryptography library (trustme) and a prober has only the standard library;
the probe carries it as PEM to wherever it runs. One identity serves the
whole session: it is not secret, only unknown to every server.
"""

from __future__ import annotations

import functools

from .prober.probes.material import Identity, Pem

SOURCE = "the untrusted client identity made by activate-ports"


@functools.lru_cache(maxsize=1)
def untrusted_client() -> Identity:
    """A client certificate and key from a CA made up on the spot (made on first use, then shared)."""
    import trustme  # cryptography is slow to import: only a spec with an mtls probe pays for it

    leaf = trustme.CA(organization_name="activate-ports untrusted CA").issue_cert(
        "untrusted-client.activate-ports.invalid", common_name="activate-ports untrusted client")
    return Identity(Pem(SOURCE, leaf.cert_chain_pems[0].bytes().decode("ascii")),
                    Pem(SOURCE, leaf.private_key_pem.bytes().decode("ascii")))
