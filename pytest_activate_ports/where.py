"""A vantage's WHERE: an execnet gateway spec, checked before any traffic, shown without its secrets, made prompt-free.

WHERE is the syntax of pytest-xdist's ``--tx`` (execnet's :class:`execnet.XSpec`):
``key=value`` pairs joined by ``//``. execnet accepts any key and a typo
(``pyhton=``) silently becomes a prober started with the wrong Python, so the
keys are checked here, with execnet's own parser underneath. An ``ssh=`` gateway
gets ``BatchMode`` (never a prompt: a run on CI has nobody to answer it) and a
connect timeout, on its command line and in a configuration file that includes
the user's own (``ssh_config=``, or ``~/.ssh/config`` and the system's): ssh
hands ``-F`` on to the ssh it runs for a ``ProxyJump``, but not ``-o``, so only
the file keeps a jump host from prompting. Everything else of the user's ssh
(config, keys, agent, ``ProxyJump``) stays as it is.
"""

from __future__ import annotations

import math
import re
import shlex
from pathlib import Path

import execnet

from .suggest import did_you_mean, one_of

# A vantage is a gateway with an execnet group of its own, so `via=` (another gateway of the same group)
# has nothing to name; the prober needs threads, which execmodel= could take away.
REFUSED = {
    "via": "a vantage is a gateway of its own, so via= has no gateway to go through: "
           "use ssh's ProxyJump (ssh=-J jumphost host, or in ~/.ssh/config)",
    "execmodel": "the prober runs its own threads: execmodel= cannot be chosen",
}
KINDS = ("popen", "ssh", "socket", "vagrant_ssh")  # the gateway types execnet can make
KEYS = tuple(name for name, value in vars(execnet.XSpec).items() if value is None and not name.startswith("_") and name not in REFUSED)
FLAGS = ("popen", "dont_write_bytecode")  # keys without a value
HIDDEN = "***"
SECRET_WORDS = re.compile(r"token|passw|secret|key|credential|auth|cert|cookie|bearer|identity", re.IGNORECASE)
USERINFO = re.compile(r"(?<![^\s/])([^\s:@/]+):[^\s@/]*@")  # user:password@ -> user@


def check_where(where: str) -> None:
    """Raise ``ValueError`` with one line when ``where`` is not a gateway spec a vantage can use (``local`` is not one)."""
    shown = shown_where(where)
    try:
        spec = execnet.XSpec(where)
    except (ValueError, AttributeError, IndexError) as exc:  # duplicate key, key starting with "_", an empty part
        detail = "an empty part between '//'" if isinstance(exc, IndexError) else str(exc).replace(f" in {where!r}", "")
        raise ValueError(f"{shown!r} is not a gateway spec: {detail}") from None
    given = [part.partition("=")[0] for part in where.split("//")]
    for key in given:
        if key in REFUSED:
            raise ValueError(f"{shown!r}: {REFUSED[key]}")
        if key not in KEYS and not key.startswith("env:"):
            raise ValueError(f"{shown!r}: unknown key {key!r}{did_you_mean(key, KEYS)}; {one_of(KEYS)}")
    kinds = [key for key in given if key in KINDS]
    if len(kinds) != 1:
        raise ValueError(f"{shown!r}: names {'no' if not kinds else 'more than one'} gateway type "
                         f"({'popen, ssh=[user@]host, ...' if not kinds else ', '.join(kinds)})")
    for key in given:
        value = getattr(spec, key) if not key.startswith("env:") else spec.env[key[4:]]
        if key in FLAGS:
            if value is not True:
                raise ValueError(f"{shown!r}: {key} takes no value")
        elif not isinstance(value, str) or not value.strip():
            raise ValueError(f"{shown!r}: {key}= needs a value")
        if key in ("python", "ssh") and isinstance(value, str):
            try:
                shlex.split(value)
            except ValueError as exc:
                raise ValueError(f"{shown!r}: {key}= cannot be split into words: {exc}") from None
    if spec.nice is not None and not re.fullmatch(r"-?\d+", spec.nice):
        raise ValueError(f"{shown!r}: nice= needs a whole number")


def shown_where(where: str) -> str:
    """``where`` with its credentials replaced by ``***``: for output, JUnit and evidence.

    Hidden: the password of ``user:password@host``, the word after ssh's ``-i``
    (a key file), the value of any ``--option``, ``-o Option=`` or ``NAME=``
    whose name says token, password, secret, key, credential, auth, cert or
    cookie, and every ``env:NAME=`` value (environment variables are where
    tokens travel).
    """
    parts = []
    for part in where.split("//"):
        key, eq, value = part.partition("=")
        if key.startswith("env:") and eq:
            parts.append(f"{key}={HIDDEN}")
        else:
            parts.append(key + eq + _hide_words(value, ssh=key == "ssh") if eq else _hide_words(part, ssh=False))
    return "//".join(parts)


def _hide_words(value: str, ssh: bool) -> str:
    words = USERINFO.sub(r"\1@", value).split(" ")
    for i, word in enumerate(words):
        name, eq, _ = word.lstrip("-").partition("=")
        if ssh and i and words[i - 1] == "-i":  # ssh's identity file (kubectl's and docker's -i is stdin)
            words[i] = HIDDEN
        elif ssh and word.startswith("-i") and len(word) > 2:
            words[i] = "-i" + HIDDEN
        elif eq and SECRET_WORDS.search(name):
            words[i] = word[: word.index("=") + 1] + HIDDEN
        elif word.startswith("--") and SECRET_WORDS.search(name) and i + 1 < len(words) and not words[i + 1].startswith("-"):
            words[i + 1] = HIDDEN  # `--token VALUE`
    return " ".join(words)


def ssh_options(timeout: float) -> str:
    """What every ``ssh=`` gateway starts with: no prompt ever, and a connect that gives up as a dial does."""
    return f"-o BatchMode=yes -o ConnectTimeout={_connect_timeout(timeout)}"


def ssh_config(where: str, timeout: float) -> str:
    """The configuration file (``-F``) an ``ssh=`` gateway runs with: :func:`ssh_options` for every host
    (ssh keeps the first value it reads), then the user's own, as ssh would have read it: WHERE's
    ``ssh_config=`` file, else ``~/.ssh/config`` and the system's ``/etc/ssh/ssh_config``."""
    given = execnet.XSpec(where).ssh_config
    included = [str(Path(given).expanduser().absolute())] if given else ["~/.ssh/config", "/etc/ssh/ssh_config"]
    return "".join(f"{line}\n" for line in ("BatchMode yes", f"ConnectTimeout {_connect_timeout(timeout)}",
                                            *(f'Include "{path}"' for path in included)))


def _connect_timeout(timeout: float) -> int:
    return max(1, math.ceil(timeout))


def gateway_spec(where: str, timeout: float, log: str | None = None, config: str | None = None) -> str:
    """The spec given to execnet for ``where``: ``ssh=`` gets :func:`ssh_options` first (ssh takes the first
    value of an option, so a user's ``-o BatchMode=no`` cannot bring the prompt back); with ``log``, ssh
    writes its own messages there (``-E``), so that the reason it gave up can be read back; with ``config``
    (a file holding :func:`ssh_config`), it reads that instead of WHERE's ``ssh_config=``, which it includes."""
    parts = [part for part in where.split("//") if not (config and part.startswith("ssh_config="))]
    for i, part in enumerate(parts):
        if part.startswith("ssh="):
            extra = ssh_options(timeout) + (f" -E {log}" if log and " " not in log else "")
            parts[i] = f"ssh={extra} {part[4:]}"
    return "//".join(parts + ([f"ssh_config={config}"] if config else []))
