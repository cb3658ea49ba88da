"""A service started as `python -m <module>` with `VOD_<SERVICE>_PROCESSES` copies on one port
(services/runtime/processes.py), and ways to reach each copy: the kernel picks the copy of every
new connection, so connections are opened until each copy holds one."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
import psutil
from prometheus_client.parser import text_string_to_metric_families

from mesh.embedded import free_port

ROOT = Path(__file__).resolve().parents[1]
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]
"""Channels of one process share connections unless told not to (gRPC's global subchannel pool)."""

T = TypeVar("T")


@dataclass
class Supervised:
    process: subprocess.Popen[bytes]
    address: str
    metrics_url: str
    port: int
    log: Path

    def children(self) -> list[int]:
        return sorted(c.pid for c in psutil.Process(self.process.pid).children())

    def peers_of(self, pid: int, port: int | None = None) -> set[int]:
        """Client-side ports of the connections child `pid` has accepted on `port` (default: the
        service's gRPC port)."""
        port = self.port if port is None else port
        return {
            c.raddr.port
            for c in psutil.Process(pid).net_connections(kind="tcp")
            if c.laddr and c.laddr.port == port and c.raddr
        }

    def handled(self, method: str) -> float:
        """grpc_server_handled_total{grpc_method=method, grpc_code=OK} on the supervisor's
        /metrics (the sum over the children)."""
        text = urllib.request.urlopen(self.metrics_url, timeout=5).read().decode()
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if (
                    sample.name == "grpc_server_handled_total"
                    and sample.labels.get("grpc_method") == method
                    and sample.labels.get("grpc_code") == "OK"
                ):
                    total += sample.value
        return total


@contextmanager
def supervised(
    module: str, service: str, env: Mapping[str, str], log: Path, processes: int = 2
) -> Iterator[Supervised]:
    """`python -m module` with `processes` copies on a free port; killed (with any copy left)
    on exit."""
    port, metrics_port = free_port(), free_port()
    key = service.upper()
    full = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'gen' / 'python'}",
        f"VOD_{key}_GRPC_ADDRESS": f"127.0.0.1:{port}",
        f"VOD_{key}_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",
        f"VOD_{key}_PROCESSES": str(processes),
        "VOD_DRAIN_GRACE_S": "0.5",
        **env,
    }
    full.pop("VOD_PROCESS_INDEX", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", module], env=full, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )
    try:
        yield Supervised(
            process, f"127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics", port, log
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        for child in psutil.Process().children(recursive=True):
            if child.pid != process.pid and module in " ".join(child.cmdline()):
                child.kill()


async def until(condition: Callable[[], Awaitable[bool] | bool], timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = condition()
        if await result if asyncio.iscoroutine(result) else result:
            return
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def stub_on_each_child(
    stack: AsyncExitStack,
    service: Supervised,
    make_stub: Callable[[grpc.aio.Channel], T],
    first_call: Callable[[T], Awaitable[object]],
) -> dict[int, T]:
    """One stub per child, by pid: a new connection per try (`first_call` opens it) until every
    child has accepted one."""
    found: dict[int, T] = {}
    children = service.children()
    for _ in range(60):
        seen = {pid: service.peers_of(pid) for pid in children}
        channel = await stack.enter_async_context(
            grpc.aio.insecure_channel(service.address, options=OWN_CONNECTION)
        )
        stub = make_stub(channel)
        await first_call(stub)
        for pid in children:
            if service.peers_of(pid) - seen[pid] and pid not in found:
                found[pid] = stub
        if len(found) == len(children):
            return found
    raise AssertionError(f"60 connections never reached every child of {children}")
