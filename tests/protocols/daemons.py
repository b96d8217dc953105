"""Real Debian daemons for the binary-protocol probe tests, on high 127.0.0.1 ports in temporary directories.

Each ``start_*`` function launches one server the way its package would,
minus the service manager: its own config and data in a fresh directory, its
own process group, bound to 127.0.0.1 only. It returns once the port accepts
connections, or raises :class:`Unavailable` with a reason a skip can show
(binary missing, daemon refused to start: the log tail says why).
:meth:`Daemon.stop` ends the process group by its id and removes the directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import trustme

IS_ROOT = os.geteuid() == 0
PG_BIN = Path("/usr/lib/postgresql")


class Unavailable(Exception):
    """The daemon cannot run here; the message is the skip reason."""


@dataclass
class Daemon:
    """A running server: where it listens, what it is, and how to stop it."""

    name: str
    version: str
    port: int
    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        """Terminate every process group this daemon started, then delete its directory."""
        for process in reversed(self.processes):
            _stop_group(process)
        shutil.rmtree(self.workdir, ignore_errors=True)


class DaemonPool:
    """Starts every daemon at once on first use and stops them all at the end.

    Each takes from a fraction of a second (sshd) to several (RabbitMQ's
    Erlang VM); started side by side, the suite waits for the slowest only.
    """

    def __init__(self, starters: dict[str, Callable[[], Daemon]]) -> None:
        self._starters = starters
        self._executor = ThreadPoolExecutor(len(starters), thread_name_prefix="daemon")
        self._futures: dict[str, Future[Daemon]] = {}

    def get(self, name: str) -> Daemon:
        """The running daemon ``name``; :class:`Unavailable` if it could not start."""
        if not self._futures:
            self._futures = {key: self._executor.submit(start) for key, start in self._starters.items()}
        return self._futures[name].result()

    def stop(self) -> None:
        """Stop every daemon that started, side by side."""
        running = [f.result() for f in self._futures.values() if f.exception() is None]
        list(self._executor.map(Daemon.stop, running))
        self._executor.shutdown()


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def free_port() -> int:
    """An unused high port on 127.0.0.1 (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binary(*candidates: str, package: str) -> str:
    """The first installed program of ``candidates``, else :class:`Unavailable` naming the package."""
    for name in candidates:
        found = shutil.which(name) or (name if os.path.isfile(name) and os.access(name, os.X_OK) else None)
        if found:
            return found
    raise Unavailable(f"{candidates[0]} not installed (Debian package {package}, listed in .ci/packages-protocols.txt)")


def workdir(name: str, owner: str | None = None) -> Path:
    """A fresh directory other users may enter (daemons drop to their own user), owned by ``owner``."""
    path = Path(tempfile.mkdtemp(prefix=f"activate-{name}-"))
    path.chmod(0o755)
    if owner and IS_ROOT:
        entry = pwd.getpwnam(owner)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def run_as(owner: str | None) -> dict[str, object]:
    """Popen arguments that drop to ``owner`` when we are root (daemons that refuse to run as root)."""
    if not (owner and IS_ROOT):
        return {}
    entry = pwd.getpwnam(owner)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


# A daemon outlives nothing that started it: SIGKILL when the starting thread's process dies (an xdist worker
# ended by -x, a killed pytest), where no teardown runs. setpriv (util-linux) sets it across the exec.
ORPHAN_GUARD = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []


def spawn(daemon: Daemon, command: list[str], owner: str | None = None, env: dict[str, str] | None = None,
          log: str = "daemon.log") -> subprocess.Popen[bytes]:
    """Start ``command`` in its own process group with output to a log in the work directory, killed if we die."""
    with open(daemon.workdir / log, "ab") as out:
        process = subprocess.Popen([*ORPHAN_GUARD, *command], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=daemon.workdir, env={**os.environ, "HOME": str(daemon.workdir), **(env or {})},
                                   start_new_session=True, **run_as(owner))  # type: ignore[call-overload]
    daemon.processes.append(process)
    return process


def wait_ready(daemon: Daemon, timeout: float, log: str = "daemon.log", ready: str | None = None) -> Daemon:
    """Return once ``daemon.port`` accepts connections (and the log says ``ready``, when given).

    Stops the daemon and raises :class:`Unavailable` if it never gets there.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready is None or ready in _tail(daemon.workdir / log, 1000):
            try:
                socket.create_connection(("127.0.0.1", daemon.port), timeout=0.5).close()
            except OSError:
                pass
            else:
                if all(p.poll() is None for p in daemon.processes):  # else someone else holds the port
                    return daemon
        if any(p.poll() is not None for p in daemon.processes):
            break
        time.sleep(0.05)
    tail = _tail(daemon.workdir / log)
    daemon.stop()
    raise Unavailable(f"{daemon.name} did not start listening on 127.0.0.1:{daemon.port}: {tail}")


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def version_of(command: list[str]) -> str:
    """The first line a ``--version`` style command prints (some print to stderr)."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    return (done.stdout.strip() or done.stderr.strip()).splitlines()[0]


def write_private(path: Path, data: bytes, owner: str | None) -> Path:
    """Write key material readable by ``owner`` only (servers refuse group-readable keys)."""
    path.write_bytes(data)
    path.chmod(0o600)
    if owner and IS_ROOT:
        entry = pwd.getpwnam(owner)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def start_sshd() -> Daemon:
    """OpenSSH's sshd with a fresh ed25519 host key; runs as ``nobody`` (no privilege separation directory needed)."""
    sshd = binary("/usr/sbin/sshd", package="openssh-server")
    keygen = binary("ssh-keygen", package="openssh-client")
    owner = "nobody"
    daemon = Daemon("sshd", version_of([sshd, "-V"]), free_port(), workdir("sshd", owner))
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(daemon.workdir / "host_key")], check=True)
    for name in ("host_key", "host_key.pub"):
        if IS_ROOT:
            shutil.chown(daemon.workdir / name, owner)
    (daemon.workdir / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {daemon.port}\nHostKey {daemon.workdir / 'host_key'}\n"
        "PidFile none\nUsePAM no\nPasswordAuthentication no\n")
    spawn(daemon, [sshd, "-D", "-e", "-f", str(daemon.workdir / "sshd_config")], owner)
    return wait_ready(daemon, 10)


def start_postgres(cert: trustme.LeafCert | None = None) -> Daemon:
    """A fresh PostgreSQL cluster (initdb, trust auth, no fsync); TLS on with ``cert``. Runs as ``postgres``."""
    versions = sorted(PG_BIN.glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not versions:
        raise Unavailable("postgres not installed (Debian package postgresql, listed in .ci/packages-protocols.txt)")
    bindir = versions[-1].parent
    owner = "postgres"
    daemon = Daemon("postgres", version_of([str(bindir / "postgres"), "--version"]), free_port(), workdir("postgres", owner))
    data = daemon.workdir / "data"
    subprocess.run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
                   check=True, capture_output=True, cwd=daemon.workdir, **run_as(owner))  # type: ignore[call-overload]
    settings = {"listen_addresses": "127.0.0.1", "unix_socket_directories": str(daemon.workdir), "fsync": "off"}
    if cert is not None:
        cert.cert_chain_pems[0].write_to_path(str(daemon.workdir / "server.crt"))
        write_private(daemon.workdir / "server.key", cert.private_key_pem.bytes(), owner)
        settings |= {"ssl": "on", "ssl_cert_file": str(daemon.workdir / "server.crt"),
                     "ssl_key_file": str(daemon.workdir / "server.key")}
    options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
    spawn(daemon, [str(bindir / "postgres"), "-D", str(data), "-p", str(daemon.port), *options], owner)
    return wait_ready(daemon, 20, ready="ready to accept connections")


_MARIADB_INSTALL = threading.Lock()


def start_mariadb(cert: trustme.LeafCert | None = None, refuse_everyone: bool = False) -> Daemon:
    """A fresh MariaDB data directory and server; TLS with ``cert``.

    ``refuse_everyone`` deletes every account at startup, so the server sends
    the ERR packet 1130 ("Host ... is not allowed to connect") before any greeting.
    """
    server = binary("/usr/sbin/mariadbd", package="mariadb-server")
    install = binary("mariadb-install-db", "mysql_install_db", package="mariadb-server")
    owner = "mysql" if IS_ROOT else None
    daemon = Daemon("mariadb", version_of([server, "--version"]), free_port(), workdir("mariadb", owner))
    data = daemon.workdir / "data"
    user = [f"--user={owner}"] if owner else []
    # Temporary tables go to the server's own folder: in the shared /tmp, bootstraps of two
    # test runs at once collide on their names. Within a run the pool starts both MariaDB
    # servers side by side, and those bootstraps still go one at a time.
    tmpdir = f"--tmpdir={daemon.workdir}"
    with _MARIADB_INSTALL:
        done = subprocess.run([install, "--no-defaults", f"--datadir={data}", *user, tmpdir,
                               "--auth-root-authentication-method=normal", "--skip-test-db"],
                              capture_output=True, text=True, cwd=daemon.workdir)
    if done.returncode:
        shutil.rmtree(daemon.workdir, ignore_errors=True)
        raise RuntimeError(f"mariadb-install-db failed ({done.returncode}): {(done.stderr or done.stdout)[-800:]}")
    options = [f"--datadir={data}", tmpdir, f"--port={daemon.port}", "--bind-address=127.0.0.1", "--skip-log-bin",
               f"--socket={daemon.workdir / 'mysqld.sock'}", f"--pid-file={daemon.workdir / 'mysqld.pid'}",
               "--innodb-buffer-pool-size=16M", *user]
    if cert is not None:
        cert.cert_chain_pems[0].write_to_path(str(daemon.workdir / "server.crt"))
        write_private(daemon.workdir / "server.key", cert.private_key_pem.bytes(), owner)
        options += [f"--ssl-cert={daemon.workdir / 'server.crt'}", f"--ssl-key={daemon.workdir / 'server.key'}"]
    if refuse_everyone:
        (daemon.workdir / "refuse.sql").write_text("DELETE FROM mysql.global_priv;\nFLUSH PRIVILEGES;\n")  # one statement a line
        options.append(f"--init-file={daemon.workdir / 'refuse.sql'}")
    spawn(daemon, [server, "--no-defaults", *options])
    return wait_ready(daemon, 30, ready="ready for connections")


def start_rabbitmq() -> Daemon:
    """RabbitMQ with no plugins, its own epmd on a high port, node data and cookie in the work directory."""
    server = binary("/usr/lib/rabbitmq/bin/rabbitmq-server", package="rabbitmq-server")
    epmd = binary("epmd", package="erlang-base")
    version = version_of(["dpkg-query", "-W", "-f", "${Version}", "rabbitmq-server"])
    daemon = Daemon("rabbitmq", version, free_port(), workdir("rabbitmq"))
    epmd_port, dist_port = free_port(), free_port()
    (daemon.workdir / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{daemon.port}\n")
    (daemon.workdir / "enabled_plugins").write_text("[].\n")
    spawn(daemon, [epmd, "-port", str(epmd_port), "-address", "127.0.0.1"], log="epmd.log")
    env = {"ERL_EPMD_ADDRESS": "127.0.0.1", "ERL_EPMD_PORT": str(epmd_port), "RABBITMQ_DIST_PORT": str(dist_port),
           "RABBITMQ_NODENAME": f"activate{daemon.port}@localhost", "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
           "RABBITMQ_NODE_PORT": str(daemon.port), "RABBITMQ_CONFIG_FILE": str(daemon.workdir / "rabbitmq.conf"),
           "RABBITMQ_ENABLED_PLUGINS_FILE": str(daemon.workdir / "enabled_plugins"),
           "RABBITMQ_MNESIA_BASE": str(daemon.workdir / "mnesia"), "RABBITMQ_LOG_BASE": str(daemon.workdir / "log"),
           "RABBITMQ_PID_FILE": str(daemon.workdir / "rabbit.pid")}
    spawn(daemon, [server], env=env)
    return wait_ready(daemon, 40)


def start_ganesha() -> Daemon:
    """NFS-Ganesha (user-space NFS server) serving NFSv4 only from its in-memory FSAL.

    NFSv3 would need rpcbind registration (a daemon on fixed port 111); v4 needs none.
    """
    server = binary("ganesha.nfsd", package="nfs-ganesha")
    if not list(Path("/usr/lib").glob("*/ganesha/libfsalmem.so")):
        raise Unavailable("NFS-Ganesha's memory FSAL is not installed (Debian package nfs-ganesha-mem)")
    if not IS_ROOT:
        raise Unavailable("NFS-Ganesha needs root")
    daemon = Daemon("nfs-ganesha", version_of([server, "-v"]), free_port(), workdir("ganesha"))
    (daemon.workdir / "ganesha.conf").write_text(f"""
NFS_CORE_PARAM {{ NFS_Port = {daemon.port}; Bind_addr = 127.0.0.1; Protocols = 4;
                 Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false; }}
NFSV4 {{ Graceless = true; RecoveryBackend = fs; RecoveryRoot = "{daemon.workdir / 'recovery'}"; }}
NFS_KRB5 {{ Active_krb5 = false; }}
LOG {{ Default_Log_Level = EVENT; }}
EXPORT {{ Export_ID = 1; Path = "/export"; Pseudo = "/export"; Access_Type = RO; FSAL {{ Name = MEM; }} }}
""")
    spawn(daemon, [server, "-F", "-f", str(daemon.workdir / "ganesha.conf"), "-L", str(daemon.workdir / "daemon.log"),
                   "-p", str(daemon.workdir / "ganesha.pid")])
    return wait_ready(daemon, 20)
