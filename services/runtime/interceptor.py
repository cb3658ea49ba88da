"""The one server interceptor every service runs.

Per RPC it: starts a SERVER span continuing the caller's `traceparent` (OpenTelemetry), binds
request id / trace id / method / peer to the logs, validates each request message against the
proto rules, maps domain errors to google.rpc.Status with details, turns any unexpected exception
into a bare INTERNAL (logged with its stack, never sent to the client), records Prometheus
metrics and writes one log line with code and latency.

The span is made here rather than by `opentelemetry-instrumentation-grpc`'s server interceptor:
the status this interceptor settles (domain errors mapped, handler aborts, cancellations) is the
one the span, the metrics and the log line must agree on, and a second interceptor would wrap
every handler again only to guess that status from exceptions.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import structlog
from grpc_status import rpc_status
from opentelemetry import context as otel_context
from opentelemetry import trace
from sqlalchemy.exc import DBAPIError, OperationalError

from services.runtime import tracing, validation
from services.runtime.errors import DomainError, InvalidArgument, Unavailable, internal_status
from services.runtime.logs import get_logger
from services.runtime.metrics import RpcMetrics

__all__ = ["RejectedHook", "ServiceInterceptor", "request_context"]

_log = get_logger("rpc")

# Methods the interceptor leaves alone: they have their own semantics and would flood the logs.
_QUIET_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def request_context(metadata: tuple[tuple[str, str | bytes], ...] | None) -> dict[str, str]:
    """Request id (Envoy's x-request-id, or a new one) and W3C trace id from call metadata (the
    trace id used when no span is recording; see `_Call`)."""
    values = {k: v for k, v in (metadata or ()) if isinstance(v, str)}
    request_id = values.get("x-request-id") or uuid.uuid4().hex
    trace_id = ""
    traceparent = values.get("traceparent", "")
    parts = traceparent.split("-")
    if len(parts) == 4 and len(parts[1]) == 32:
        trace_id = parts[1]
    elif values.get("x-b3-traceid"):
        trace_id = values["x-b3-traceid"]
    return {"request_id": request_id, "trace_id": trace_id or request_id}


RejectedHook = Callable[[str, Any, InvalidArgument], Awaitable[None]]
"""Called with (method, request, error) when a request fails validation before its servicer."""


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self, metrics: RpcMetrics, on_rejected: dict[str, RejectedHook] | None = None
    ) -> None:
        self._metrics = metrics
        self._on_rejected = dict(on_rejected or {})

    async def _check(self, method: str, request: Any) -> None:
        try:
            _check(request)
        except InvalidArgument as exc:
            hook = self._on_rejected.get(method.lstrip("/").partition("/")[0])
            if hook is not None:
                try:
                    await hook(method, request, exc)
                except Exception:  # the refusal stands whatever the hook does
                    _log.exception("rpc.rejected_hook_failed", method=method)
            raise

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(_QUIET_PREFIXES):
            return handler
        metadata = tuple(handler_call_details.invocation_metadata or ())
        deserialize = _tolerant(handler.request_deserializer)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, metadata),
                request_deserializer=deserialize,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_unary_stream(handler.unary_stream, method, metadata),
                request_deserializer=deserialize,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_stream_unary(handler.stream_unary, method, metadata),
                request_deserializer=deserialize,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream_stream(handler.stream_stream, method, metadata),
            request_deserializer=deserialize,
            response_serializer=handler.response_serializer,
        )

    # -- wrappers per cardinality ------------------------------------------------------------

    def _wrap_unary(self, fn: Any, method: str, metadata: Any) -> Any:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with _Call(self._metrics, method, metadata, context) as call:
                await self._check(method, request)
                response = await fn(request, context)
                call.ok()
                return response

        return wrapper

    def _wrap_unary_stream(self, fn: Any, method: str, metadata: Any) -> Any:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async with _Call(self._metrics, method, metadata, context) as call:
                await self._check(method, request)
                async for response in fn(request, context):
                    yield response
                call.ok()

        return wrapper

    def _wrap_stream_unary(self, fn: Any, method: str, metadata: Any) -> Any:
        async def wrapper(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            async with _Call(self._metrics, method, metadata, context) as call:
                response = await fn(_validated(requests), context)
                call.ok()
                return response

        return wrapper

    def _wrap_stream_stream(self, fn: Any, method: str, metadata: Any) -> Any:
        async def wrapper(requests: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async with _Call(self._metrics, method, metadata, context) as call:
                async for response in fn(_validated(requests), context):
                    yield response
                call.ok()

        return wrapper


class _Undecodable:
    """Stands in for a request whose bytes are not a valid message, so the RPC can answer
    INVALID_ARGUMENT instead of grpc's UNKNOWN with a parser exception in the message."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def wrapper(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:
            owner = getattr(deserialize, "__self__", None)
            return _Undecodable(getattr(getattr(owner, "DESCRIPTOR", None), "full_name", "request"))

    return wrapper


def _check(request: Any) -> None:
    if isinstance(request, _Undecodable):
        raise InvalidArgument.for_field(
            "", f"the request body is not a valid {request.type_name} message"
        )
    validation.check(request)


async def _validated(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        _check(request)
        yield request


# gRPC codes that make a SERVER span an error (OpenTelemetry's RPC conventions): the others
# (NOT_FOUND, INVALID_ARGUMENT, ...) are the caller's problem, not the server's.
_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


class _Call:
    """Context of one RPC: its span, logging context, error mapping, metrics and the access log
    line."""

    def __init__(
        self, metrics: RpcMetrics, method: str, metadata: Any, context: grpc.aio.ServicerContext
    ) -> None:
        self._metrics = metrics
        self._method = method
        self._metadata = metadata
        self._context = context
        self._ctx = request_context(metadata)
        self._code = "UNKNOWN"
        self._start = 0.0
        self._span: trace.Span = trace.INVALID_SPAN
        self._otel_token: object = None
        self._log_tokens: Any = {}

    def ok(self) -> None:
        self._code = "OK"

    async def __aenter__(self) -> _Call:
        self._start = time.perf_counter()
        service, _, name = self._method.lstrip("/").partition("/")
        parent = tracing.extract(self._metadata)
        self._span = tracing.tracer().start_span(
            f"{service}/{name}",
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes={
                "rpc.system": "grpc",
                "rpc.service": service,
                "rpc.method": name,
                tracing.REQUEST_ID_ATTRIBUTE: self._ctx["request_id"],
            },
        )
        self._otel_token = otel_context.attach(trace.set_span_in_context(self._span, parent))
        span_context = self._span.get_span_context()
        if span_context.is_valid:
            self._ctx["trace_id"] = trace.format_trace_id(span_context.trace_id)
        # Bind on top of what the process bound at start-up (`service`), and put it back after:
        # clearing the context here would drop those fields from every per-RPC line.
        self._log_tokens = structlog.contextvars.bind_contextvars(
            method=self._method, peer=self._context.peer(), **self._ctx
        )
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        elapsed = time.perf_counter() - self._start
        status = None
        if isinstance(exc, DomainError):
            status = exc.to_status()
        elif isinstance(exc, grpc.aio.AbortError | grpc.aio.UsageError):
            self._code = _context_code(self._context)
        elif _database_unavailable(exc):
            # PostgreSQL restarting or unreachable: retryable, so UNAVAILABLE + RetryInfo, not
            # a bare INTERNAL (found by scripts/chaos: SIGKILLed postgres gave 500s)
            _log.warning("rpc.database_unavailable", error=str(getattr(exc, "orig", exc))[:200])
            status = Unavailable(
                "the database is unavailable; retry shortly", reason="DATABASE_UNAVAILABLE"
            ).to_status()
        elif exc is not None and not isinstance(exc, GeneratorExit | _Cancelled):
            _log.error("rpc.unhandled", exc_info=exc)
            self._span.record_exception(exc)
            status = internal_status(self._ctx["request_id"])
        elif exc is not None:
            self._code = "CANCELLED"
        if status is not None:
            self._code = grpc.StatusCode(_code_tuple(status.code)).name
        self._metrics.observe(self._method, self._code, elapsed)
        log = _log.warning if self._code in ("INTERNAL", "UNKNOWN") else _log.info
        log("rpc", code=self._code, latency_ms=round(elapsed * 1000, 3))
        self._end_span()
        if status is not None:
            converted = rpc_status.to_status(status)
            await self._context.abort(
                converted.code, converted.details, converted.trailing_metadata
            )
        return False

    def _end_span(self) -> None:
        code = grpc.StatusCode.__members__.get(self._code, grpc.StatusCode.UNKNOWN)
        self._span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code in _SERVER_ERRORS:
            self._span.set_status(trace.StatusCode.ERROR, self._code)
        self._span.end()
        try:
            otel_context.detach(self._otel_token)  # type: ignore[arg-type]
            structlog.contextvars.reset_contextvars(**self._log_tokens)
        except ValueError:  # a generator finalised in another context: nothing left to reset
            pass


try:  # asyncio.CancelledError is a BaseException; keep it out of INTERNAL.
    from asyncio import CancelledError as _Cancelled
except ImportError:  # pragma: no cover
    _Cancelled = BaseException  # type: ignore[misc,assignment]


def _database_unavailable(exc: BaseException | None) -> bool:
    """A lost or refused database connection (server down, restarting, shutting down)."""
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def _code_tuple(code: int) -> tuple[int, str]:
    for status_code in grpc.StatusCode:
        if status_code.value[0] == code:
            return status_code.value  # type: ignore[no-any-return]
    return grpc.StatusCode.UNKNOWN.value  # type: ignore[no-any-return]


def _context_code(context: grpc.aio.ServicerContext) -> str:
    code = context.code() if hasattr(context, "code") else None
    return code.name if isinstance(code, grpc.StatusCode) else "ABORTED_BY_HANDLER"
