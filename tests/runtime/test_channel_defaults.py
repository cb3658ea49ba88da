"""`open_channel` adds the caller's metadata to calls of every kind, a default deadline to unary
calls only (streams live as long as their caller decides), and never overrides what a call sets."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from services.runtime.clients import open_channel


class _Recorder(grpc.GenericRpcHandler):
    def __init__(self) -> None:
        self.seen: dict[str, tuple[dict[str, str], float | None]] = {}

    def _record(self, name: str, context: Any) -> None:
        headers = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        remaining = context.time_remaining()
        self.seen[name] = (headers, remaining)

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        name = details.method.rsplit("/", 1)[-1]

        async def unary(request: bytes, context: Any) -> bytes:
            self._record(name, context)
            return b""

        async def server_stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
            self._record(name, context)
            yield b""

        async def client_stream(requests: Any, context: Any) -> bytes:
            self._record(name, context)
            async for _ in requests:
                pass
            return b""

        return {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "UnaryOwn": grpc.unary_unary_rpc_method_handler(unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
            "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        }.get(name)


async def test_metadata_on_every_call_kind_and_deadline_on_unary_only() -> None:
    recorder = _Recorder()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([recorder])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    auth = (("authorization", "Bearer abc"),)
    try:
        async with open_channel(f"127.0.0.1:{port}", timeout_s=7.0, metadata=auth) as channel:
            await channel.unary_unary("/t.S/Unary")(b"")
            async for _ in channel.unary_stream("/t.S/ServerStream")(b""):
                pass

            async def one() -> AsyncIterator[bytes]:
                yield b""

            await channel.stream_unary("/t.S/ClientStream")(one())
            # A call's own metadata and deadline win.
            started = time.monotonic()
            await channel.unary_unary("/t.S/UnaryOwn")(
                b"", metadata=(("authorization", "Bearer mine"),), timeout=30
            )
            assert time.monotonic() - started < 5
    finally:
        await server.stop(None)
    headers, remaining = recorder.seen["ServerStream"]
    assert headers["authorization"] == "Bearer abc" and remaining is None
    headers, remaining = recorder.seen["ClientStream"]
    assert headers["authorization"] == "Bearer abc" and remaining is None
    headers, remaining = recorder.seen["Unary"]
    assert headers["authorization"] == "Bearer abc"
    assert remaining is not None and 5 < remaining < 7.5  # the channel's default deadline
    headers, remaining = recorder.seen["UnaryOwn"]
    assert headers["authorization"] == "Bearer mine"
    assert remaining is not None and 20 < remaining < 30.5
