"""Several server processes for one service on one port, so Python's GIL is not the ceiling.

`VOD_<SERVICE>_PROCESSES=N` (default 1) makes the service's process a supervisor: it starts N
copies of itself (the same command line, `VOD_PROCESS_INDEX` set), each binding the gRPC port with
`SO_REUSEPORT` so the kernel spreads connections over them, and itself:
- serves `/metrics` on the service's metrics address, summed over the children (prometheus_client's
  multiprocess mode: the children write their values to files in a private directory; the
  children serve no metrics endpoint of their own);
- restarts a child that dies (backoff 0.5 s doubling to 30 s; it gives up, and exits with the
  child's code, when a child fails 5 times in a row within 10 s of starting — a configuration
  error, not a crash);
- on SIGTERM/SIGINT passes SIGTERM on (each child drains as a single process would), waits for
  them, and exits 0. Children get SIGTERM if the supervisor itself dies (PR_SET_PDEATHSIG).

Children of one supervisor are siblings on one host. Their in-process caches must not serve what a
sibling has just written: `SiblingVersions` is a shared table of per-key write counters (one row
per child, so every counter has exactly one writer) that a writer bumps after its commit and a
reader compares with the stamp its cached entry was fetched under — a read on any sibling after a
write's reply sees the write. Replicas on other hosts learn writes from events as before.

What each child runs is the service's ordinary `running(...)`: its own pool, NATS connection,
outbox relay (rows are claimed with SKIP LOCKED) and consumers (JetStream shares a durable's
messages between them), exactly like replicas. A service whose state lives in the process keeps
one copy per child (`child_suffix()`: search gives each child its own index directory and its own
durable catalog consumer, so every child holds the whole index). Migrations take a PostgreSQL advisory lock, so
children (and replicas) starting together apply them once.
"""

from __future__ import annotations

import asyncio
import ctypes
import mmap
import os
import shutil
import signal
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from services.runtime.config import RuntimeSettings
from services.runtime.logs import get_logger

__all__ = [
    "INDEX_ENV",
    "SiblingVersions",
    "child_index",
    "child_suffix",
    "shares_port",
    "sibling_versions",
    "supervise",
]

_log = get_logger("processes")

INDEX_ENV = "VOD_PROCESS_INDEX"
"""Set in a supervised child: its index, 0..N-1."""
_DIR_ENV = "VOD_PROCESS_DIR"
"""Set in a supervised child: the supervisor's private directory (metrics files, versions)."""
_COUNT_ENV = "VOD_PROCESS_COUNT"
_METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is imported

_SLOTS = 4096
_VERSIONS_FILE = "sibling-versions.bin"
_MAX_BACKOFF_S = 30.0
_QUICK_EXIT_S = 10.0
_QUICK_FAILURES = 5


def child_index() -> int | None:
    """This process's index under a supervisor, or None when it is not supervised."""
    raw = os.environ.get(INDEX_ENV, "")
    return int(raw) if raw.isdigit() else None


def shares_port() -> bool:
    """Whether this process binds its ports together with sibling copies (`SO_REUSEPORT`):
    every listener of a supervised child does, its gRPC port and its HTTP endpoints alike."""
    return child_index() is not None


def child_suffix() -> str:
    """The suffix "-p<index>" in a supervised child, "" otherwise: for state each copy keeps for itself
    (a local index's directory, the durable consumer that feeds it)."""
    index = child_index()
    return "" if index is None else f"-p{index}"


# -- sibling write counters ----------------------------------------------------------------------


class SiblingVersions:
    """Per-key write counters shared by the children of one supervisor (a file mapped into every
    child). Row r belongs to child r, which alone writes it; a key's stamp is the sum over rows.
    Keys hash (crc32) onto `_SLOTS` slots, so a write can also invalidate an unrelated key that
    shares its slot: a spurious miss, never a stale hit."""

    def __init__(self, path: Path, rows: int, row: int) -> None:
        if not 0 <= row < rows:
            raise ValueError(f"row {row} is outside 0..{rows - 1}")
        size = rows * _SLOTS * 8
        with path.open("r+b") as f:
            self._map = mmap.mmap(f.fileno(), size)
        self._counters = memoryview(self._map).cast("Q")
        self._rows = rows
        self._row = row

    @staticmethod
    def create(path: Path, rows: int) -> None:
        path.write_bytes(bytes(rows * _SLOTS * 8))

    @staticmethod
    def _slot(key: str) -> int:
        return zlib.crc32(key.encode()) % _SLOTS

    def stamp(self, key: str) -> int:
        slot = self._slot(key)
        counters = self._counters
        return sum(counters[r * _SLOTS + slot] for r in range(self._rows))

    def bump(self, key: str) -> None:
        """Record a committed write of `key` (call before answering the writer)."""
        i = self._row * _SLOTS + self._slot(key)
        self._counters[i] += 1


def sibling_versions() -> SiblingVersions | None:
    """The write counters shared with this process's siblings, or None when it has none."""
    index, directory = child_index(), os.environ.get(_DIR_ENV, "")
    count = int(os.environ.get(_COUNT_ENV, "0") or 0)
    if index is None or not directory or count < 2:
        return None
    return SiblingVersions(Path(directory) / _VERSIONS_FILE, count, index)


# -- the supervisor ------------------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class _Slot:
    index: int
    process: asyncio.subprocess.Process | None = None
    started: float = 0.0
    quick_failures: int = 0
    backoff_s: float = 0.5


def supervise(name: str, runtime: RuntimeSettings, argv: list[str] | None = None) -> int:
    """Run `runtime.processes` children of this command line and supervise them until SIGTERM or
    SIGINT; returns the exit code."""
    port = runtime.grpc_address.rpartition(":")[2]
    if port in ("", "0"):
        raise SystemExit(
            f"VOD_{name.upper()}_PROCESSES={runtime.processes} needs a fixed gRPC port "
            f"(VOD_{name.upper()}_GRPC_ADDRESS is {runtime.grpc_address!r}): the children share it"
        )
    directory = Path(tempfile.mkdtemp(prefix=f"vod-{name}-processes-"))
    try:
        return asyncio.run(_Supervisor(name, runtime, argv or list(sys.orig_argv), directory).run())
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class _Supervisor:
    def __init__(
        self, name: str, runtime: RuntimeSettings, argv: list[str], directory: Path
    ) -> None:
        self._name = name
        self._runtime = runtime
        self._argv = argv
        self._dir = directory
        self._stopping = asyncio.Event()
        self._slots = [_Slot(i) for i in range(runtime.processes)]
        self._exit_code = 0

    def _env(self, index: int) -> dict[str, str]:
        metrics = self._dir / "metrics"
        return {
            **os.environ,
            INDEX_ENV: str(index),
            _COUNT_ENV: str(len(self._slots)),
            _DIR_ENV: str(self._dir),
            _METRICS_ENV: str(metrics),
        }

    async def run(self) -> int:
        from prometheus_client import CollectorRegistry, start_http_server
        from prometheus_client.multiprocess import MultiProcessCollector

        (self._dir / "metrics").mkdir()
        SiblingVersions.create(self._dir / _VERSIONS_FILE, len(self._slots))
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self._dir / "metrics"))
        host, _, port = self._runtime.metrics_address.rpartition(":")
        start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        _log.info(
            "processes.starting",
            processes=len(self._slots),
            grpc_address=self._runtime.grpc_address,
            metrics_address=self._runtime.metrics_address,
        )
        keepers = [asyncio.create_task(self._keep(slot)) for slot in self._slots]
        await self._stopping.wait()
        await self._stop_all()
        for keeper in keepers:
            keeper.cancel()
        await asyncio.gather(*keepers, return_exceptions=True)
        _log.info("processes.stopped", exit_code=self._exit_code)
        return self._exit_code

    async def _keep(self, slot: _Slot) -> None:
        """Start the slot's child and start it again whenever it dies, until stopping."""
        from prometheus_client.multiprocess import mark_process_dead

        while not self._stopping.is_set():
            slot.started = time.monotonic()
            slot.process = await asyncio.create_subprocess_exec(
                *self._argv, env=self._env(slot.index), preexec_fn=_die_with_parent
            )
            _log.info("processes.child_started", index=slot.index, pid=slot.process.pid)
            code = await slot.process.wait()
            mark_process_dead(slot.process.pid, str(self._dir / "metrics"))
            if self._stopping.is_set():
                return
            quick = time.monotonic() - slot.started < _QUICK_EXIT_S
            slot.quick_failures = slot.quick_failures + 1 if quick else 0
            if not quick:
                slot.backoff_s = 0.5
            _log.warning(
                "processes.child_exited",
                index=slot.index,
                pid=slot.process.pid,
                code=code,
                restart_in_s=slot.backoff_s,
            )
            if slot.quick_failures >= _QUICK_FAILURES:
                _log.error(
                    "processes.giving_up",
                    index=slot.index,
                    reason=f"the child failed {_QUICK_FAILURES} times within "
                    f"{_QUICK_EXIT_S:.0f}s of starting; see its log",
                )
                self._exit_code = code or 1
                self._stopping.set()
                return
            try:  # a stop during the backoff ends the wait
                await asyncio.wait_for(self._stopping.wait(), slot.backoff_s)
                return
            except TimeoutError:
                pass
            slot.backoff_s = min(_MAX_BACKOFF_S, slot.backoff_s * 2)

    async def _stop_all(self) -> None:
        live = [s for s in self._slots if s.process is not None and s.process.returncode is None]
        for slot in live:
            assert slot.process is not None
            try:
                slot.process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = self._runtime.drain_grace_s + 10.0
        try:
            await asyncio.wait_for(
                asyncio.gather(*(s.process.wait() for s in live if s.process)), deadline
            )
        except TimeoutError:
            for slot in live:
                if slot.process is not None and slot.process.returncode is None:
                    _log.error("processes.kill", index=slot.index, pid=slot.process.pid)
                    slot.process.kill()
                    await slot.process.wait()
