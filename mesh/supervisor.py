"""Keeping `vod up` honest: healing crashed children, leaving no orphans, finding leftovers.

* :class:`Supervisor` watches every managed child of a running mesh from the main thread of
  `vod up`. A child that exits unexpectedly is restarted after an exponential backoff (0.5 s
  doubling to 30 s, reset once it has been healthy for 60 s); 5 restarts within 60 s mark it
  CRASHLOOP (logged, shown by `vod status`), and it keeps being retried every 30 s.
* Children get a parent-death signal (``PR_SET_PDEATHSIG``, see :func:`parent_death_preexec`),
  so they stop when `vod up` dies, even by SIGKILL. A :func:`start_watchdog` process in its own
  session waits on a pipe from `vod up`; when the pipe closes while the state file still exists
  (the supervisor died without cleaning up) it stops the recorded process groups, SIGKILLing
  whatever survives a grace period (e.g. a stopped process, or a grandchild).
* Every child is recorded in ``<home>/run/state.json`` with pid, start time (``/proc``) and
  command line, so a later `vod up` / `vod down` / `vod status` can tell a leftover from an
  unrelated process that reused its pid (:func:`verified_alive`, :func:`sweep`).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesh.embedded import ManagedProcess, _descendants, live_postmaster_pid, pid_alive

__all__ = [
    "BACKOFF_MAX_S",
    "BACKOFF_MIN_S",
    "CRASHLOOP_RESTARTS",
    "CRASHLOOP_WINDOW_S",
    "HEALTHY_RESET_S",
    "Supervisor",
    "Watched",
    "leftover_daemons",
    "parent_death_preexec",
    "process_record",
    "start_watchdog",
    "sweep",
    "verified_alive",
]

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
HEALTHY_RESET_S = 60.0
CRASHLOOP_RESTARTS = 5
CRASHLOOP_WINDOW_S = 60.0
SWEEP_GRACE_S = 10.0

_PR_SET_PDEATHSIG = 1
_libc: Any = None


# -- /proc helpers -----------------------------------------------------------------------------


def start_time(pid: int) -> int:
    """The start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat), 0 if gone."""
    fields = _stat_fields(pid)
    return int(fields[19]) if len(fields) > 19 else 0


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def process_record(name: str, pid: int, sig: int, ports: Iterable[int] = ()) -> dict[str, Any]:
    """What state.json keeps of one child: enough to find it again and to stop it."""
    return {
        "name": name,
        "pid": pid,
        "start_time": start_time(pid),
        "cmdline": cmdline(pid)[:300],
        "signal": int(sig),
        "ports": list(ports),
    }


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: [state, ppid, ...]; [] if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text[text.rfind(")") + 2 :].split()


def verified_alive(record: dict[str, Any]) -> bool:
    """True if the recorded process still runs (a zombie does not): same pid, same start time."""
    pid = int(record.get("pid") or 0)
    if pid <= 0 or not pid_alive(pid):
        return False
    fields = _stat_fields(pid)
    if fields and fields[0] in ("Z", "X"):
        return False
    expected = int(record.get("start_time") or 0)
    return expected == 0 or (len(fields) > 19 and int(fields[19]) == expected)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- parent-death signal -----------------------------------------------------------------------


def parent_death_preexec(sig: int) -> Callable[[], None]:
    """A Popen ``preexec_fn`` that makes the child receive `sig` when its parent thread dies.

    Call it in the parent (it loads libc there); the returned function runs in the child after
    fork (and after any setuid), so the setting survives ``exec``. If the parent died between
    fork and prctl the child signals itself at once."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    libc = _libc
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), int(sig))

    return preexec


# -- stopping leftovers ------------------------------------------------------------------------


def sweep(
    records: Iterable[dict[str, Any]],
    say: Callable[[str], None] = lambda s: None,
    grace_s: float = SWEEP_GRACE_S,
) -> list[str]:
    """Stop the recorded processes that still run (verified by start time): their stop signal
    to the process group (plus SIGCONT, so a stopped process acts on it), SIGKILL to the group
    and its descendants after `grace_s`. Returns the names of the processes it found."""
    alive = [r for r in records if verified_alive(r)]
    if not alive:
        return []
    tree: dict[int, list[int]] = {}
    for record in alive:
        pid = int(record["pid"])
        tree[pid] = _descendants(pid)
        sig = int(record.get("signal") or signal.SIGTERM)
        say(f"stopping leftover {record['name']} (pid {pid}: {record.get('cmdline', '')[:80]})")
        for target_sig in (sig, signal.SIGCONT):
            try:
                os.killpg(pid, target_sig)
            except (ProcessLookupError, PermissionError):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, target_sig)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(verified_alive(r) for r in alive):
        time.sleep(0.1)
    for record in alive:
        pid = int(record["pid"])
        if verified_alive(record):
            say(f"{record['name']} (pid {pid}) ignored its stop signal; killing it")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        elif _group_alive(pid):  # the leader is gone, so the group cannot be a reused pid
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        for child in tree[pid]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(verified_alive(r) for r in alive):
        time.sleep(0.05)
    return [str(r["name"]) for r in alive]


def leftover_daemons(home: Path, regions: Iterable[str]) -> list[dict[str, Any]]:
    """Records of servers found through their own pid files under `home`: a postmaster owning
    ``postgres/data`` and each edge's nginx master."""
    from mesh.nginx import live_nginx_pid

    found = []
    pg = live_postmaster_pid(home / "postgres" / "data")
    if pg is not None:
        found.append(process_record("postgres (postmaster.pid)", pg, signal.SIGINT))
    for region in regions:
        pid = live_nginx_pid(home / "edges" / region / "run" / "nginx.pid")
        if pid is not None:
            found.append(process_record(f"edge-{region} (nginx.pid)", pid, signal.SIGTERM))
    return found


# -- watchdog ----------------------------------------------------------------------------------


def start_watchdog(home: Path, log_path: Path) -> tuple[int, int]:
    """Start the watchdog of this process; returns (its pid, the pipe's write end to keep open).

    The watchdog runs in its own session, so whatever kills `vod up` (or its process group)
    leaves it alive to clean up."""
    read_end, write_end = os.pipe()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        child = subprocess.Popen(  # noqa: S603 (our own module)
            [
                sys.executable,
                "-m",
                "mesh.supervisor",
                "--home",
                str(home),
                "--fd",
                str(read_end),
                "--supervisor",
                str(os.getpid()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(read_end,),
        )
    os.close(read_end)
    return child.pid, write_end


def _watch(home: Path, fd: int, supervisor: int) -> int:
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    say = _stamped
    say(f"watchdog of vod up pid {supervisor} started")
    while os.read(fd, 1):  # EOF: the supervisor exited, however it did
        pass
    state_file = home / "run" / "state.json"
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        say("vod up exited cleanly (no state left); nothing to do")
        return 0
    if int(state.get("supervisor_pid") or 0) != supervisor:
        say("the state file belongs to another vod up; nothing to do")
        return 0
    say(f"vod up pid {supervisor} died without stopping the mesh; stopping what it left")
    stopped = sweep(state.get("processes", {}).values(), say)
    stopped += sweep(leftover_daemons(home, state.get("regions") or ()), say)
    with contextlib.suppress(OSError, ValueError):
        if int(json.loads(state_file.read_text()).get("supervisor_pid") or 0) == supervisor:
            state_file.unlink()
    say(f"stopped {len(stopped)} leftover(s): {', '.join(stopped) or 'none'}")
    return 0


def _stamped(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} watchdog: {message}", flush=True)


# -- the supervision loop ----------------------------------------------------------------------


@dataclass
class Watched:
    """One supervised child and its restart bookkeeping."""

    name: str
    process: ManagedProcess
    state: str = "RUNNING"
    """RUNNING, STARTING (restarted, not ready yet) or BACKOFF (waiting to restart)."""
    restarts: int = 0
    crashloop: bool = False
    backoff: float = BACKOFF_MIN_S
    next_start: float = 0.0
    running_since: float = field(default_factory=time.monotonic)
    spawned_at: float = 0.0
    last_exit: int | None = None
    recent: deque[float] = field(default_factory=deque)

    @property
    def shown_state(self) -> str:
        return "CRASHLOOP" if self.crashloop else self.state


class Supervisor:
    """Restarts children that exit unexpectedly. Call :meth:`tick` from the thread that
    started the children (their parent-death signal is tied to it)."""

    def __init__(
        self,
        say: Callable[[str], None],
        on_change: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.say = say
        self.on_change = on_change
        self.clock = clock
        self.watched: dict[str, Watched] = {}

    def watch(self, name: str, process: ManagedProcess) -> None:
        self.watched[name] = Watched(name, process, running_since=self.clock())

    def restarts(self) -> dict[str, int]:
        return {name: w.restarts for name, w in self.watched.items()}

    def states(self) -> dict[str, str]:
        return {name: w.shown_state for name, w in self.watched.items()}

    def tick(self) -> None:
        changed = False
        for w in self.watched.values():
            changed |= self._tick_one(w, self.clock())
        if changed:
            self.on_change()

    def _tick_one(self, w: Watched, now: float) -> bool:
        proc = w.process
        if w.state in ("RUNNING", "STARTING") and not proc.is_running():
            self._exited(w, now)
            return True
        if w.state == "RUNNING":
            if now - w.running_since >= HEALTHY_RESET_S and (
                w.backoff != BACKOFF_MIN_S or w.crashloop
            ):
                w.backoff = BACKOFF_MIN_S
                if w.crashloop:
                    w.crashloop = False
                    self.say(f"{w.name}: healthy for {HEALTHY_RESET_S:.0f}s, crash loop over")
                    return True
            return False
        if w.state == "STARTING":
            if proc.probe_ready():
                w.state = "RUNNING"
                w.running_since = now
                self.say(f"{w.name}: ready again (pid {proc.pid}, restart #{w.restarts})")
                return True
            if now - w.spawned_at > proc.startup_timeout:
                self.say(f"{w.name}: not ready after {proc.startup_timeout:.0f}s; killing it")
                proc.kill()
                self._exited(w, now)
                return True
            return False
        if w.state == "BACKOFF" and now >= w.next_start:
            self._respawn(w, now)
            return True
        return False

    def _exited(self, w: Watched, now: float) -> None:
        raw = getattr(w.process, "_proc", None)
        w.last_exit = raw.returncode if raw is not None else None
        w.process.kill()  # reap it and kill anything left in its process group
        while w.recent and now - w.recent[0] > CRASHLOOP_WINDOW_S:
            w.recent.popleft()
        if len(w.recent) >= CRASHLOOP_RESTARTS and not w.crashloop:
            w.crashloop = True
            self.say(
                f"{w.name}: CRASHLOOP: {len(w.recent)} restarts in {CRASHLOOP_WINDOW_S:.0f}s; "
                f"still retrying every {BACKOFF_MAX_S:.0f}s; see its log {w.process.log_path}"
            )
        w.state = "BACKOFF"
        w.next_start = now + w.backoff
        self.say(
            f"{w.name}: exited unexpectedly (code {w.last_exit}); restarting in {w.backoff:.1f}s"
        )
        w.backoff = min(w.backoff * 2, BACKOFF_MAX_S)

    def _respawn(self, w: Watched, now: float) -> None:
        w.restarts += 1
        w.recent.append(now)
        w.spawned_at = now
        try:
            w.process.prepare()
            w.process._spawn()
        except Exception as exc:  # e.g. a leftover owns its data dir: count it as a crash
            self.say(f"{w.name}: restart #{w.restarts} failed: {exc}")
            self._exited(w, now)
            return
        w.state = "STARTING"
        self.say(f"{w.name}: restart #{w.restarts} (pid {w.process.pid})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mesh.supervisor", description=__doc__)
    parser.add_argument("--home", required=True)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--supervisor", type=int, required=True)
    args = parser.parse_args(argv)
    return _watch(Path(args.home), args.fd, args.supervisor)


if __name__ == "__main__":
    sys.exit(main())
