"""Ways to make a real dependency hang or die under the gateway.

`FaultProxy`: a real gRPC server forwarding every unary call, as raw bytes, to a real service
(the way Envoy sits in front of one). It counts the calls that reach it, can hold them (`hang`,
as a stuck dependency would) and can be stopped and started again on the same port (a dead
dependency: connection refused). `SearchProcess`: the real search service as a subprocess
(`python -m services.search`), which the tests SIGSTOP, SIGCONT and SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import httpx
from prometheus_client.parser import text_string_to_metric_families

from mesh.embedded import free_port
from services.runtime.clients import wait_serving

_HOP_HEADERS = {"user-agent", "grpc-accept-encoding", "grpc-timeout", "te", "content-type"}


class FaultProxy:
    def __init__(self, name: str, target: str) -> None:
        self.name = name
        self.target = target
        self.port = free_port()
        self.calls: Counter[str] = Counter()
        self._released = asyncio.Event()
        self._released.set()
        self._server: grpc.aio.Server | None = None
        self._channel = grpc.aio.insecure_channel(target)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def hang(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    async def start(self) -> None:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers([_Forward(self)])
        if server.add_insecure_port(self.address) != self.port:
            raise OSError(f"could not bind {self.address}")
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.stop(0)

    async def close(self) -> None:
        self.release()
        await self.stop()
        await self._channel.close()

    async def forward(self, method: str, request: bytes, context: Any) -> bytes:
        self.calls[method.rsplit("/", 1)[-1]] += 1
        remaining = context.time_remaining()
        if not self._released.is_set():
            try:
                await asyncio.wait_for(self._released.wait(), remaining)
            except TimeoutError:
                # the caller's deadline has passed: it is gone, there is no one to answer
                raise asyncio.CancelledError() from None
            remaining = context.time_remaining()
        metadata = tuple(
            (k, v) for k, v in context.invocation_metadata() or () if k not in _HOP_HEADERS
        )
        call = self._channel.unary_unary(method)
        try:
            response: bytes = await call(request, timeout=remaining, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            await context.abort(
                exc.code(), exc.details() or "", tuple(exc.trailing_metadata() or ())
            )
            raise
        return response


class _Forward(grpc.GenericRpcHandler):
    def __init__(self, proxy: FaultProxy) -> None:
        self._proxy = proxy

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = details.method

        async def handle(request: bytes, context: Any) -> bytes:
            return await self._proxy.forward(method, request, context)

        return grpc.unary_unary_rpc_method_handler(handle)


class SearchProcess:
    """`python -m services.search` on fixed ports, restartable with the same data and consumer."""

    def __init__(self, root: Path, *, nats_url: str, catalog: str, data_dir: Path) -> None:
        self.port = free_port()
        self.metrics_port = free_port()
        self.log = root / "search.log"
        self.env = {
            **os.environ,
            "VOD_SEARCH_GRPC_ADDRESS": f"127.0.0.1:{self.port}",
            "VOD_SEARCH_METRICS_ADDRESS": f"127.0.0.1:{self.metrics_port}",
            "VOD_NATS_URL": nats_url,
            "VOD_CATALOG_ADDRESS": catalog,
            "VOD_SEARCH_DATA_DIR": str(data_dir),
            "VOD_SEARCH_DURABLE": f"gateway-tests-{self.port}",
            "VOD_SEARCH_MAINTENANCE_S": "0.2",
            "VOD_DRAIN_GRACE_S": "0.2",
            "VOD_LOG_LEVEL": "WARNING",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.root = Path(__file__).resolve().parents[2]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.search"],
                cwd=self.root,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        await self.wait_serving()

    async def wait_serving(self, timeout_s: float = 60.0) -> None:
        try:
            await wait_serving(
                self.address,
                timeout_s=timeout_s,
                alive=lambda: self.process is not None and self.process.poll() is None,
                what="search",
            )
        except RuntimeError as exc:
            raise AssertionError(f"{exc}; see {self.log}") from None

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    async def handled(self, *methods: str) -> int:
        """RPCs of `methods` the search process itself completed, from its /metrics."""
        async with httpx.AsyncClient(timeout=5) as client:
            text = (await client.get(f"http://127.0.0.1:{self.metrics_port}/metrics")).text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if (
                    sample.name == "grpc_server_handled_total"
                    and sample.labels.get("grpc_method") in methods
                ):
                    total += sample.value
        return int(total)
