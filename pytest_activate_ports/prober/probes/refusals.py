"""nginx's HTTP pages that are really TLS-layer refusals, told apart from other ``400 Bad Request`` answers.

nginx (and ingress-nginx, which is nginx) finishes the TLS handshake and then
refuses in HTTP where other servers send a TLS alert or hang up: a plain
request on an ``ssl`` port, or a missing or untrusted client certificate under
``ssl_verify_client on``. It has internal status codes for these (497, 496,
495) but answers them as ``400 Bad Request`` unless an ``error_page`` maps
them, so the status alone proves nothing: the reason is the page's text, read
here from a bounded body. The texts are nginx's own (``ngx_http_special_response.c``),
checked against Debian's nginx by the tests.
"""

from __future__ import annotations

import asyncio

from .http1 import HttpError, ResponseHead, read_body

PLAIN_HTTP_TO_TLS = 497
NO_CLIENT_CERT = 496
BAD_CLIENT_CERT = 495
NGINX_PAGES = {
    PLAIN_HTTP_TO_TLS: "The plain HTTP request was sent to HTTPS port",
    NO_CLIENT_CERT: "No required SSL certificate was sent",
    BAD_CLIENT_CERT: "The SSL certificate error",
}
CLIENT_CERT_REFUSALS = frozenset({NO_CLIENT_CERT, BAD_CLIENT_CERT})
BODY_LIMIT = 4096  # nginx's pages are ~250 bytes; a larger body is some application's page


def nginx_refusal(status: int, body: bytes) -> int | None:
    """Which of nginx's refusal codes an answer stands for (None: an ordinary answer)."""
    if status in NGINX_PAGES:
        return status  # an error_page mapping kept nginx's own code
    if status != 400:
        return None
    text = body.decode("latin-1")
    return next((code for code, page in NGINX_PAGES.items() if page in text), None)


async def read_refusal(reader: asyncio.StreamReader, head: ResponseHead) -> int | None:
    """Read the body after ``head`` when it may be one of nginx's refusals, and say which it is."""
    if head.status != 400 and head.status not in NGINX_PAGES:
        return None
    try:
        body = await read_body(reader, head, BODY_LIMIT)
    except (HttpError, OSError):  # ssl.SSLError is an OSError
        return None
    return nginx_refusal(head.status, body)


def refusal_text(code: int) -> str:
    """The refusal as evidence quotes it: ``"No required SSL certificate was sent" (nginx 496)``."""
    return f'"{NGINX_PAGES[code]}" (nginx {code})'
