"""Outbound gRPC channels: created at start-up and injected, a deadline on every call, the
caller's trace context on every call (a CLIENT span, its `traceparent` in the metadata), and
retries only for idempotent methods (declared with `idempotency_level` in the protos)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from typing import Any

import grpc
import structlog
from google.protobuf import descriptor as _descriptor
from google.protobuf import descriptor_pb2
from opentelemetry import trace

from services.runtime import tracing

__all__ = ["idempotent_methods", "open_channel", "wait_serving"]


def idempotent_methods(service: _descriptor.ServiceDescriptor) -> list[str]:
    """Names of the methods of `service` that are safe to retry."""
    safe = (
        descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
        descriptor_pb2.MethodOptions.IDEMPOTENT,
    )
    return [m.name for m in service.methods if m.GetOptions().idempotency_level in safe]


class _CallDefaults:
    """Adds `metadata` (e.g. the caller's `authorization`) to every call, and `timeout_s` to
    unary calls made without their own deadline (a stream lives as long as its caller decides:
    `WatchJob` follows a job for minutes). One subclass per call type: `grpc.aio` files an
    interceptor under the first interceptor type it is an instance of only."""

    def __init__(self, timeout_s: float | None, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self._timeout_s = timeout_s
        self._metadata = metadata

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        timeout = details.timeout if details.timeout is not None else self._timeout_s
        if timeout == details.timeout and not self._metadata:
            return details
        metadata = details.metadata
        if self._metadata:
            merged = grpc.aio.Metadata(*(metadata or ()))
            for key, value in self._metadata:
                if key not in merged:
                    merged.add(key, value)
            metadata = merged
        return grpc.aio.ClientCallDetails(
            details.method, timeout, metadata, details.credentials, details.wait_for_ready
        )


class _UnaryUnaryDefaults(_CallDefaults, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _UnaryStreamDefaults(_CallDefaults, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _StreamUnaryDefaults(_CallDefaults, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


class _StreamStreamDefaults(_CallDefaults, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


class _TraceContext:
    """A CLIENT span per call, child of the caller's current span (or of a `traceparent` the
    caller put in the metadata itself), sent on as `traceparent`; the caller's request id goes
    along as `x-request-id` unless the call sets its own, so one id follows a request through
    every service's logs. The span ends when the call is done, with the call's status.

    Written here rather than taken from `opentelemetry-instrumentation-grpc`: its aio client
    interceptors hand streaming calls back as plain async generators, and this module already
    edits every call's metadata. One subclass per call type: `grpc.aio` files an interceptor
    under the first interceptor type it is an instance of only."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self._peer: dict[str, Any] = {"server.address": host or target}
        if port.isdigit():
            self._peer["server.port"] = int(port)

    def _start(self, details: grpc.aio.ClientCallDetails) -> tuple[trace.Span, Any]:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        service, _, name = method.lstrip("/").partition("/")
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        explicit = metadata.get("traceparent")
        parent = tracing.extract({"traceparent": str(explicit)}) if explicit else None
        span = tracing.tracer().start_span(
            f"{service}/{name}",
            context=parent,
            kind=trace.SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
            | self._peer,
        )
        carrier = tracing.inject({}, trace.set_span_in_context(span, parent))
        for key, value in carrier.items():
            if key in metadata:
                del metadata[key]
            metadata.add(key, value)
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        if request_id and "x-request-id" not in metadata:
            metadata.add("x-request-id", str(request_id))
        return span, grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def _call(self, continuation: Any, details: Any, request: Any, *, unary: bool) -> Any:
        span, details = self._start(details)
        try:
            call = await continuation(details, request)
        except BaseException as exc:
            _end(span, grpc.StatusCode.UNKNOWN, str(exc))
            raise
        if unary:  # the caller awaits the response anyway: finish the span before returning it
            await _finish(span, call)
        else:
            call.add_done_callback(lambda done: _finish_later(span, done))
        return call


class _TraceUnaryUnary(_TraceContext, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await self._call(continuation, details, request, unary=True)


class _TraceUnaryStream(_TraceContext, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await self._call(continuation, details, request, unary=False)


class _TraceStreamUnary(_TraceContext, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await self._call(continuation, details, requests, unary=False)


class _TraceStreamStream(_TraceContext, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await self._call(continuation, details, requests, unary=False)


_finishing: set[asyncio.Task[None]] = set()


def _finish_later(span: trace.Span, call: Any) -> None:
    # A done callback cannot await the (async) status getters: read them in a task.
    task = asyncio.get_running_loop().create_task(_finish(span, call))
    _finishing.add(task)
    task.add_done_callback(_finishing.discard)


async def _finish(span: trace.Span, call: Any) -> None:
    try:
        code, message = await call.code(), await call.details()
    except asyncio.CancelledError:
        _end(span, grpc.StatusCode.CANCELLED, "the call was cancelled")
        raise
    except Exception as exc:
        code, message = grpc.StatusCode.UNKNOWN, str(exc)
    _end(span, code, message)


def _end(span: trace.Span, code: grpc.StatusCode, message: str | None) -> None:
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code != grpc.StatusCode.OK:
        span.set_status(trace.StatusCode.ERROR, f"{code.name}: {message or ''}".rstrip(": "))
    span.end()


def open_channel(
    target: str,
    *,
    timeout_s: float,
    services: Iterable[_descriptor.ServiceDescriptor] = (),
    max_attempts: int = 3,
    metadata: tuple[tuple[str, str], ...] = (),
) -> grpc.aio.Channel:
    """An insecure channel to `target` with default deadlines and a retry policy (UNAVAILABLE
    only, exponential backoff) on the idempotent methods of `services`; `metadata` (such as
    `(("authorization", "Bearer ..."),)`) goes with every call, as does the caller's trace
    context (`traceparent`, see `_TraceContext`)."""
    names = [{"service": s.full_name, "method": m} for s in services for m in idempotent_methods(s)]
    options: list[tuple[str, Any]] = [("grpc.enable_retries", 1)]
    if names:
        config = {
            "methodConfig": [
                {
                    "name": names,
                    "retryPolicy": {
                        "maxAttempts": max_attempts,
                        "initialBackoff": "0.05s",
                        "maxBackoff": "1s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ]
        }
        options.append(("grpc.service_config", json.dumps(config)))
    return grpc.aio.insecure_channel(
        target,
        options=options,
        interceptors=[
            _UnaryUnaryDefaults(timeout_s, metadata),
            *(
                kind(None, metadata)
                for kind in (_UnaryStreamDefaults, _StreamUnaryDefaults, _StreamStreamDefaults)
            ),
            *(
                kind(target)
                for kind in (
                    _TraceUnaryUnary,
                    _TraceUnaryStream,
                    _TraceStreamUnary,
                    _TraceStreamStream,
                )
            ),
        ],
    )


async def wait_serving(
    target: str,
    *,
    timeout_s: float = 60.0,
    alive: Callable[[], bool] = lambda: True,
    what: str = "",
) -> None:
    """Wait until the gRPC server at `target` reports SERVING on its health service. Raises
    RuntimeError after `timeout_s`, or as soon as `alive()` says the process serving it died."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    async with grpc.aio.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            if not alive():
                raise RuntimeError(f"{what or target} exited before serving")
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if loop.time() > end:
                raise RuntimeError(f"{what or target} did not start within {timeout_s:.0f} s")
            await asyncio.sleep(0.05)
