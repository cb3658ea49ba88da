"""Distributed tracing with OpenTelemetry: one tracer provider per process, W3C `traceparent`
propagation, and where finished spans go.

`configure_tracing(service, settings)` runs once per process (`configure_logging` calls it, the
one start-up step every service and worker already takes). With `VOD_OTLP_ENDPOINT` set, spans
are exported over OTLP/gRPC; without it they are appended, off the request path (a
`BatchSpanProcessor`), to `<VOD_HOME>/traces/<service>.jsonl`, one JSON object per span, where
`vod trace <request id>` finds them. Each file is capped: past `max_file_bytes` it is rotated to
`<service>.jsonl.1` (the previous one is dropped), so a service keeps at most twice the cap.

Spans are created by the runtime itself: the server interceptor (SERVER), `open_channel`
(CLIENT), `EventBus` publishes (PRODUCER) and consumers (CONSUMER). Every span started while a
request id is bound to the logs carries it as the `vod.request_id` attribute.

The provider can be replaced (tests configure an in-memory exporter through `exporter=`); code
asks `tracer()` at call time, so spans always go to the provider configured last. Until
`configure_tracing` runs, spans are non-recording but contexts still propagate: a service
without tracing passes its caller's `traceparent` on unchanged.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import structlog
from opentelemetry import propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.runtime.config import env_float, env_int, env_str

__all__ = [
    "REQUEST_ID_ATTRIBUTE",
    "JsonLinesSpanExporter",
    "TracingSettings",
    "configure_tracing",
    "current_trace_id",
    "extract",
    "force_flush",
    "inject",
    "load_tracing_settings",
    "remote_parent",
    "span_record",
    "tracer",
]

REQUEST_ID_ATTRIBUTE = "vod.request_id"
"""Span attribute holding the request id (Envoy's `x-request-id`) the span was started under."""

_DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024
_SCHEDULE_DELAY_MS = 1000  # `vod trace` sees a click's spans about a second later


@dataclass(frozen=True)
class TracingSettings:
    """Where a process's spans go."""

    enabled: bool = True
    otlp_endpoint: str = ""
    """OTLP/gRPC collector (`http://host:4317`, `https://...`, or `host:port` for plaintext);
    empty keeps spans in local files under `traces_dir`."""
    traces_dir: Path = Path("var") / "traces"
    max_file_bytes: int = _DEFAULT_MAX_FILE_BYTES
    sample_ratio: float = 1.0
    """Share of traces started here that are recorded (head sampling by trace id). A caller's
    decision is always followed: a request whose `traceparent` says sampled is recorded, one that
    says not sampled is not. 1.0 records every request (`vod trace` finds any click); recording a
    span costs more than the rest of a cached catalog read, so a busy deployment samples."""


def load_tracing_settings(env: Mapping[str, str] | None = None) -> TracingSettings:
    """Read `VOD_TRACING` (`off` disables recording; propagation stays), `VOD_OTLP_ENDPOINT`,
    `VOD_HOME` (local files go to `$VOD_HOME/traces`, default `./var/traces`),
    `VOD_TRACE_FILE_MAX_BYTES` (per-file cap before rotation, default 8 MiB) and
    `VOD_TRACE_SAMPLE_RATIO` (0 to 1, default 1: every trace started here is recorded)."""
    env = os.environ if env is None else env
    switch = env_str(env, "VOD_TRACING", "on").lower()
    if switch not in ("on", "off", "1", "0", "true", "false"):
        raise ValueError(f"VOD_TRACING must be on or off, got {switch!r}")
    max_bytes = env_int(env, "VOD_TRACE_FILE_MAX_BYTES", _DEFAULT_MAX_FILE_BYTES)
    if max_bytes < 1024:
        raise ValueError(f"VOD_TRACE_FILE_MAX_BYTES must be at least 1024, got {max_bytes}")
    ratio = env_float(env, "VOD_TRACE_SAMPLE_RATIO", 1.0)
    if not 0.0 <= ratio <= 1.0:  # NaN fails this too
        raise ValueError(f"VOD_TRACE_SAMPLE_RATIO must be between 0 and 1, got {ratio}")
    return TracingSettings(
        enabled=switch in ("on", "1", "true"),
        sample_ratio=ratio,
        otlp_endpoint=env_str(env, "VOD_OTLP_ENDPOINT", ""),
        traces_dir=Path(env_str(env, "VOD_HOME", "var")).resolve() / "traces",
        max_file_bytes=max_bytes,
    )


# -- the process's provider ----------------------------------------------------------------------


class _State:
    def __init__(self) -> None:
        self.provider: TracerProvider | None = None
        self.tracer: trace.Tracer = trace.NoOpTracer()
        self.global_set = False


_state = _State()
_lock = threading.Lock()


def configure_tracing(
    service: str, settings: TracingSettings, *, exporter: SpanExporter | None = None
) -> None:
    """Set up this process's tracing for `service` (replacing any earlier set-up, whose pending
    spans are flushed first). `exporter` replaces the configured destination (tests pass an
    in-memory exporter); it is used even when `settings.enabled` is false."""
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )
    with _lock:
        previous = _state.provider
        _state.provider = None
        _state.tracer = trace.NoOpTracer()
        if previous is not None:
            previous.shutdown()
        if exporter is None and not settings.enabled:
            return
        provider = TracerProvider(
            resource=Resource.create({"service.name": service}),
            sampler=ParentBased(
                ALWAYS_ON
                if settings.sample_ratio >= 1.0
                else TraceIdRatioBased(settings.sample_ratio)
            ),
        )
        provider.add_span_processor(_RequestIdStamp())
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter or _exporter(service, settings), schedule_delay_millis=_SCHEDULE_DELAY_MS
            )
        )
        _state.provider = provider
        _state.tracer = provider.get_tracer("vodmesh.runtime")
        if not _state.global_set:  # for any library that asks OpenTelemetry's global provider
            trace.set_tracer_provider(_RuntimeTracerProvider())
            _state.global_set = True


def _exporter(service: str, settings: TracingSettings) -> SpanExporter:
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        endpoint = settings.otlp_endpoint
        insecure = not endpoint.startswith("https://")
        if "://" not in endpoint:
            endpoint = f"http://{endpoint}"
        return OTLPSpanExporter(endpoint=endpoint, insecure=insecure)
    return JsonLinesSpanExporter(settings.traces_dir, service, max_bytes=settings.max_file_bytes)


def tracer() -> trace.Tracer:
    """The tracer of the provider configured last (a no-op tracer before any)."""
    return _state.tracer


def force_flush(timeout_ms: int = 5000) -> bool:
    """Export every finished span now (tests, and the CLI before it exits)."""
    provider = _state.provider
    return True if provider is None else provider.force_flush(timeout_ms)


class _RuntimeTracerProvider(trace.TracerProvider):
    """OpenTelemetry's global provider can be set once per process; this one hands out tracers
    that follow whatever `configure_tracing` set up last."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _FollowingTracer(args, kwargs)


class _FollowingTracer(trace.Tracer):
    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._args = args
        self._kwargs = kwargs

    def _current(self) -> trace.Tracer:
        provider = _state.provider
        if provider is None:
            return trace.NoOpTracer()
        return provider.get_tracer(*self._args, **self._kwargs)

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._current().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._current().start_as_current_span(*args, **kwargs)


class _RequestIdStamp(SpanProcessor):
    """Stamps the request id bound to the logs (see `interceptor`) on every span started."""

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        if span.attributes and REQUEST_ID_ATTRIBUTE in span.attributes:
            return
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        if request_id:
            span.set_attribute(REQUEST_ID_ATTRIBUTE, str(request_id))


# -- propagation -------------------------------------------------------------------------------


def inject(carrier: dict[str, str], context: Context | None = None) -> dict[str, str]:
    """Add `traceparent` (and `baggage`) for `context` (default: the current one) to `carrier`."""
    propagate.inject(carrier, context=context)
    return carrier


def extract(carrier: Mapping[str, str] | Sequence[tuple[str, str | bytes]]) -> Context:
    """The context a `traceparent` in `carrier` (headers, or gRPC metadata pairs) continues."""
    if not isinstance(carrier, Mapping):
        carrier = {k.lower(): v for k, v in carrier if isinstance(v, str)}
    return propagate.extract(carrier)


def current_trace_id() -> str:
    """The current span's trace id as 32 hex digits, or "" outside any trace."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else ""


def remote_parent(trace_id: str, seed: str) -> Context | None:
    """A context continuing trace `trace_id` (32 hex digits) when only the trace id is known,
    e.g. from an event's `EventMeta.trace_id`. The parent span id is not known, so a stable
    one is derived from `seed` (the event id): the span started under it joins the right trace
    with a parent no exporter recorded. None when `trace_id` is not a W3C trace id."""
    try:
        value = int(trace_id, 16) if len(trace_id) == 32 else 0
    except ValueError:
        value = 0
    if not value:
        return None
    span_id = int.from_bytes(hashlib.blake2b(seed.encode(), digest_size=8).digest(), "big") or 1
    parent = SpanContext(value, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(parent))


# -- local span files ------------------------------------------------------------------------------


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """One finished span as the JSON object `vod trace` reads."""
    context = span.get_span_context()
    attributes = {
        k: list(v) if isinstance(v, tuple) else v for k, v in (span.attributes or {}).items()
    }
    return {
        "trace_id": trace.format_trace_id(context.trace_id) if context else "",
        "span_id": trace.format_span_id(context.span_id) if context else "",
        "parent_span_id": trace.format_span_id(span.parent.span_id) if span.parent else "",
        "name": span.name,
        "kind": span.kind.name,
        "service": str(span.resource.attributes.get("service.name", "")),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "status_message": span.status.description or "",
        "request_id": str(attributes.get(REQUEST_ID_ATTRIBUTE, "")),
        "attributes": attributes,
        "links": [
            {
                "trace_id": trace.format_trace_id(link.context.trace_id),
                "span_id": trace.format_span_id(link.context.span_id),
            }
            for link in span.links
        ],
    }


class JsonLinesSpanExporter(SpanExporter):
    """Appends finished spans to `<directory>/<service>.jsonl`, rotating at `max_bytes`.

    Several processes may share a file (transcoding workers share a service name): each batch
    is one `write` under an exclusive `flock`, and a writer that finds its file rotated away
    reopens the new one."""

    def __init__(self, directory: Path, service: str, *, max_bytes: int) -> None:
        self._directory = Path(directory)
        self._path = self._directory / f"{service}.jsonl"
        self._rotated = self._directory / f"{service}.jsonl.1"
        self._max_bytes = max_bytes

    @property
    def path(self) -> Path:
        return self._path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        data = "".join(
            json.dumps(span_record(s), separators=(",", ":"), default=str) + "\n" for s in spans
        ).encode()
        try:
            self._append(data)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def _append(self, data: bytes) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            with self._locked() as file:
                if file is None:  # rotated between open and lock: open the new file
                    continue
                file.write(data)
                file.flush()
                if file.tell() >= self._max_bytes:
                    os.replace(self._path, self._rotated)
                return

    @contextmanager
    def _locked(self) -> Iterator[BinaryIO | None]:
        """The file, opened for appending and locked; None if it was rotated meanwhile."""
        with self._path.open("ab") as file:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX)
            try:
                same = os.fstat(file.fileno()).st_ino == os.stat(self._path).st_ino
            except FileNotFoundError:
                same = False
            try:
                yield file if same else None
            finally:
                fcntl.flock(file.fileno(), fcntl.LOCK_UN)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
