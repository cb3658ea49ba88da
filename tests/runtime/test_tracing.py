"""Distributed tracing through the runtime: two real servers built with `build_server`, A calling
B through `open_channel` and publishing on NATS to a consumer, all in one trace; a client's
`traceparent` continued; the outbox relay publishing in the writing request's trace; the per-RPC
log line with `service`, `request_id` and the trace id; and `vod trace` reading the local span
files."""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import create_async_engine
from vod.catalog.v1 import catalog_pb2 as pb
from vod.catalog.v1 import catalog_pb2_grpc
from vod.common.v1 import event_pb2
from vod.events.v1 import catalog_events_pb2 as ev

from mesh import trace_cli
from services.runtime import tracing
from services.runtime.clients import open_channel
from services.runtime.db import async_url
from services.runtime.errors import NotFound
from services.runtime.events import EventBus, StreamSpec, new_meta
from services.runtime.logs import configure_logging
from services.runtime.outbox import OutboxRelay, outbox_table
from services.runtime.server import Registration, build_server, start
from services.runtime.tracing import REQUEST_ID_ATTRIBUTE, TracingSettings

SERVICE = "vod.catalog.v1.CatalogService"
GET_TITLE = f"{SERVICE}/GetTitle"
SERVER, CLIENT = trace.SpanKind.SERVER, trace.SpanKind.CLIENT
PRODUCER, CONSUMER = trace.SpanKind.PRODUCER, trace.SpanKind.CONSUMER


# -- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def spans() -> Any:
    """Tracing on, every span kept in memory; off again afterwards."""
    exporter = InMemorySpanExporter()
    tracing.configure_tracing("vod-test", TracingSettings(enabled=False), exporter=exporter)
    yield exporter
    tracing.configure_tracing("vod-test", TracingSettings(enabled=False))


def _ours(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """The finished spans, without the background work of other tests' session-scoped services
    sharing this process (a playback sweeper expiring an old session publishes
    `vod.playback.stopped` from no request: a root PRODUCER span of a `vod.*` subject). These
    tests publish `vod.*` subjects only inside a request, so they never make such a span."""
    spans = list(exporter.get_finished_spans())
    stray = {
        s.context.trace_id
        for s in spans
        if s.parent is None and s.kind == PRODUCER and s.name.startswith("publish vod.")
    }
    return [s for s in spans if s.context.trace_id not in stray]  # their consumers' spans too


async def finished(exporter: InMemorySpanExporter, count: int) -> list[ReadableSpan]:
    """Wait until `count` spans have finished (no more may follow), then return them."""
    for _ in range(200):
        tracing.force_flush()
        got = _ours(exporter)
        if len(got) >= count:
            await asyncio.sleep(0.2)
            tracing.force_flush()
            got = _ours(exporter)
            assert len(got) == count, [s.name for s in got]
            return got
        await asyncio.sleep(0.05)
    pytest.fail(f"{count} spans expected, got {[s.name for s in _ours(exporter)]}")


def hex_trace(span: ReadableSpan) -> str:
    return trace.format_trace_id(span.context.trace_id)


def hex_span(span: ReadableSpan) -> str:
    return trace.format_span_id(span.context.span_id)


def only(spans: Sequence[ReadableSpan], kind: trace.SpanKind) -> ReadableSpan:
    (found,) = [s for s in spans if s.kind == kind]
    return found


@dataclass
class Events:
    bus: EventBus
    stream: str
    subject: str
    consumed: list[tuple[str, trace.SpanContext]] = field(default_factory=list)

    def consume(self) -> None:
        async def handler(event: ev.TitleRemoved) -> None:
            self.consumed.append((event.name, trace.get_current_span().get_span_context()))

        self.bus.consume(
            stream=self.stream,
            durable=f"tracing-{uuid.uuid4().hex[:8]}",
            subject=self.subject,
            decode=lambda subject, data: ev.TitleRemoved.FromString(data),
            handler=handler,
        )


@pytest.fixture
async def events(nats_server: Any) -> AsyncIterator[Events]:
    suffix = uuid.uuid4().hex[:8]
    bus = await EventBus.connect(nats_server.url, name="tracing-test")
    stream = f"TEST_TRACING_{suffix.upper()}"
    subject = f"test.tracing.{suffix}"
    try:
        await bus.ensure_streams([StreamSpec(stream, (f"{subject}.>", subject))])
        yield Events(bus, stream, subject)
    finally:
        await bus.close()


class Downstream(catalog_pb2_grpc.CatalogServiceServicer):
    """Service B: answers GetTitle, records the metadata it was called with."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []

    async def GetTitle(self, request, context):  # type: ignore[no-untyped-def]
        self.metadata.append({k: v for k, v in context.invocation_metadata() if isinstance(v, str)})
        if request.name == "titles/missing":
            raise NotFound(message="no such title", reason="TITLE_NOT_FOUND")
        return pb.GetTitleResponse(title=pb.Title(name=request.name))


class Upstream(catalog_pb2_grpc.CatalogServiceServicer):
    """Service A: calls B with the same name, then publishes an event about it."""

    def __init__(self, downstream: catalog_pb2_grpc.CatalogServiceStub, events: Events) -> None:
        self._downstream = downstream
        self._events = events

    async def GetTitle(self, request, context):  # type: ignore[no-untyped-def]
        response = await self._downstream.GetTitle(pb.GetTitleRequest(name=request.name))
        event = ev.TitleRemoved(meta=new_meta("upstream"), name=request.name)
        await self._events.bus.publish_raw(
            self._events.subject, event.SerializeToString(), event.meta.event_id
        )
        return response


@asynccontextmanager
async def running_pair(events: Events) -> AsyncIterator[tuple[str, Downstream]]:
    """B, then A (holding a channel to B made with `open_channel`); yields A's address."""
    downstream = Downstream()
    b = build_server(
        "127.0.0.1:0",
        [Registration(SERVICE, catalog_pb2_grpc.add_CatalogServiceServicer_to_server, downstream)],
    )
    await start(b)
    channel = open_channel(f"127.0.0.1:{b.port}", timeout_s=5.0)
    upstream = Upstream(catalog_pb2_grpc.CatalogServiceStub(channel), events)
    a = build_server(
        "127.0.0.1:0",
        [Registration(SERVICE, catalog_pb2_grpc.add_CatalogServiceServicer_to_server, upstream)],
    )
    await start(a)
    try:
        yield f"127.0.0.1:{a.port}", downstream
    finally:
        await a.server.stop(0)
        await channel.close()
        await b.server.stop(0)


async def call_a(target: str, name: str, metadata: tuple[tuple[str, str], ...]) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        await catalog_pb2_grpc.CatalogServiceStub(channel).GetTitle(
            pb.GetTitleRequest(name=name), metadata=metadata
        )


# -- one trace across gRPC and NATS ------------------------------------------------------------


async def test_one_request_is_one_trace_across_grpc_and_nats(spans, events) -> None:
    events.consume()
    async with running_pair(events) as (target, downstream):
        await call_a(target, "titles/a", (("x-request-id", "req-one-trace"),))
        got = await finished(spans, 5)

    a_server = next(s for s in got if s.kind == SERVER and s.parent is None)
    (b_server,) = [s for s in got if s.kind == SERVER and s is not a_server]
    a_client, producer, consumer = only(got, CLIENT), only(got, PRODUCER), only(got, CONSUMER)
    assert {s.context.trace_id for s in got} == {a_server.context.trace_id}
    # A server -> A client -> B server, and A server -> publish -> process.
    assert a_client.parent.span_id == a_server.context.span_id
    assert b_server.parent.span_id == a_client.context.span_id and b_server.parent.is_remote
    assert producer.parent.span_id == a_server.context.span_id
    assert consumer.parent.span_id == producer.context.span_id and consumer.parent.is_remote
    assert [a_server.name, a_client.name, b_server.name] == [GET_TITLE] * 3
    assert (producer.name, consumer.name) == (
        f"publish {events.subject}",
        f"process {events.subject}",
    )
    # The handler ran inside the consumer span.
    assert events.consumed == [("titles/a", consumer.context)]
    # What went over the wire to B: the client span as parent, and the caller's request id.
    (sent,) = downstream.metadata
    flags = a_client.context.trace_flags  # sampled (and W3C level 2's "random trace id" bit)
    assert flags.sampled
    assert sent["traceparent"] == f"00-{hex_trace(a_client)}-{hex_span(a_client)}-{flags:02x}"
    assert sent["x-request-id"] == "req-one-trace"
    assert {s.attributes[REQUEST_ID_ATTRIBUTE] for s in got} == {"req-one-trace"}
    assert dict(a_server.attributes) == {
        "rpc.system": "grpc",
        "rpc.service": SERVICE,
        "rpc.method": "GetTitle",
        REQUEST_ID_ATTRIBUTE: "req-one-trace",
        "rpc.grpc.status_code": 0,
    }
    assert a_client.attributes["server.address"] == "127.0.0.1"
    assert consumer.attributes["messaging.destination.name"] == events.subject
    assert consumer.attributes["messaging.system"] == "nats"


async def test_a_client_traceparent_is_continued(spans, events) -> None:
    client_trace, client_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    async with running_pair(events) as (target, downstream):
        await call_a(target, "titles/a", (("traceparent", f"00-{client_trace}-{client_span}-01"),))
        got = await finished(spans, 4)  # no consumer running: A server, client, B server, publish
    a_server = next(s for s in got if s.kind == SERVER and s.parent.span_id == int(client_span, 16))
    assert a_server.parent.is_remote
    assert {hex_trace(s) for s in got} == {client_trace}
    assert downstream.metadata[0]["traceparent"].startswith(f"00-{client_trace}-")


async def test_failures_mark_spans_with_their_grpc_status(spans, events) -> None:
    async with running_pair(events) as (target, _):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call_a(target, "titles/missing", (("x-request-id", "req-missing"),))
        assert err.value.code() == grpc.StatusCode.INTERNAL
        got = await finished(spans, 3)  # nothing published after the failed call
    a_server = next(s for s in got if s.kind == SERVER and s.parent is None)
    (b_server,) = [s for s in got if s.kind == SERVER and s is not a_server]
    a_client = only(got, CLIENT)
    # B's NOT_FOUND is the caller's problem, not B's; A turned the surprise into INTERNAL.
    assert (b_server.attributes["rpc.grpc.status_code"], b_server.status.status_code.name) == (
        5,
        "UNSET",
    )
    assert (a_client.attributes["rpc.grpc.status_code"], a_client.status.status_code.name) == (
        5,
        "ERROR",
    )
    assert a_client.status.description == "NOT_FOUND: no such title"
    assert (a_server.attributes["rpc.grpc.status_code"], a_server.status.status_code.name) == (
        13,
        "ERROR",
    )


async def test_streaming_calls_through_open_channel_are_traced_too(spans) -> None:
    """`grpc.aio` files an interceptor under one call type only: every type needs its own."""
    message = pb.GetTitleRequest(name="titles/s")
    decode, encode = pb.GetTitleRequest.FromString, pb.GetTitleRequest.SerializeToString

    async def server_stream(request, context):  # type: ignore[no-untyped-def]
        yield request

    async def client_stream(requests, context):  # type: ignore[no-untyped-def]
        return [r async for r in requests][-1]

    async def bidi(requests, context):  # type: ignore[no-untyped-def]
        async for request in requests:
            yield request

    def add(_: object, server: grpc.aio.Server) -> None:
        handlers = {
            "Down": grpc.unary_stream_rpc_method_handler(server_stream, decode, encode),
            "Up": grpc.stream_unary_rpc_method_handler(client_stream, decode, encode),
            "Both": grpc.stream_stream_rpc_method_handler(bidi, decode, encode),
        }
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.S", handlers)])

    async def requests() -> AsyncIterator[pb.GetTitleRequest]:
        yield message

    handle = build_server("127.0.0.1:0", [Registration("t.S", add, None)])
    await start(handle)
    channel = open_channel(f"127.0.0.1:{handle.port}", timeout_s=5.0)
    try:
        with tracing.tracer().start_as_current_span("caller") as caller:
            assert [r async for r in channel.unary_stream("/t.S/Down", encode, decode)(message)]
            assert await channel.stream_unary("/t.S/Up", encode, decode)(requests())
            assert [r async for r in channel.stream_stream("/t.S/Both", encode, decode)(requests())]
        got = await finished(spans, 7)
    finally:
        await channel.close()
        await handle.server.stop(0)
    clients = {s.name: s for s in got if s.kind == CLIENT}
    servers = {s.name: s for s in got if s.kind == SERVER}
    assert set(clients) == set(servers) == {"t.S/Down", "t.S/Up", "t.S/Both"}
    for name, client in clients.items():
        assert client.parent.span_id == caller.get_span_context().span_id
        assert servers[name].parent.span_id == client.context.span_id
        assert client.attributes["rpc.grpc.status_code"] == 0


async def test_without_tracing_the_callers_traceparent_still_passes_through(events) -> None:
    tracing.configure_tracing("vod-test", TracingSettings(enabled=False))
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with running_pair(events) as (target, downstream):
        await call_a(target, "titles/a", (("traceparent", traceparent),))
    assert downstream.metadata[0]["traceparent"] == traceparent


# -- the outbox relay ----------------------------------------------------------------------------


async def test_outbox_relay_publishes_in_the_trace_of_the_writing_request(
    spans, events, fresh_database
) -> None:
    """The relay publishes from its own task, after the request is over: the event joins the
    request's trace through the span `new_meta` remembered, or, when this process never saw
    the request (another replica, a restart), through `EventMeta.trace_id` alone."""
    events.consume()
    engine = create_async_engine(async_url(fresh_database))
    table = outbox_table(sa.MetaData())
    async with engine.begin() as conn:
        await conn.run_sync(table.create)

    async def write(meta: event_pb2.EventMeta, name: str) -> None:
        event = ev.TitleRemoved(meta=meta, name=name)
        async with engine.begin() as conn:
            await conn.execute(
                table.insert().values(
                    id=meta.event_id,
                    subject=events.subject,
                    payload=event.SerializeToString(),
                    created_at=datetime.now(UTC),
                )
            )

    try:
        with tracing.tracer().start_as_current_span("request", kind=SERVER) as request:
            await write(new_meta("test"), "titles/seen-here")
            elsewhere = event_pb2.EventMeta(
                event_id=str(uuid.uuid4()),
                trace_id=trace.format_trace_id(request.get_span_context().trace_id),
            )
        await write(elsewhere, "titles/written-elsewhere")
        relay = OutboxRelay(engine, events.bus)
        published = await asyncio.create_task(relay.drain_once(), context=contextvars.Context())
        assert published == 2
        got = await finished(spans, 5)  # the request, two publishes, two consumers
    finally:
        await engine.dispose()

    request_span = next(s for s in got if s.name == "request")
    producers = sorted((s for s in got if s.kind == PRODUCER), key=lambda s: s.start_time)
    consumers = {s.parent.span_id: s for s in got if s.kind == CONSUMER}
    assert {s.context.trace_id for s in got} == {request_span.context.trace_id}
    remembered, rebuilt = producers
    assert remembered.parent.span_id == request_span.context.span_id
    assert "vod.parent_rebuilt" not in remembered.attributes
    assert rebuilt.parent.span_id != request_span.context.span_id and rebuilt.parent.is_remote
    assert rebuilt.attributes["vod.parent_rebuilt"] is True
    assert set(consumers) == {remembered.context.span_id, rebuilt.context.span_id}
    assert sorted(name for name, _ in events.consumed) == [
        "titles/seen-here",
        "titles/written-elsewhere",
    ]


# -- the per-RPC log line --------------------------------------------------------------------------


async def test_the_per_rpc_log_line_keeps_service_and_carries_the_ids(events, capsys) -> None:
    configure_logging("svc-under-test", tracing=TracingSettings(enabled=False))
    exporter = InMemorySpanExporter()  # configure_logging replaced the tracing set-up
    tracing.configure_tracing("svc-under-test", TracingSettings(enabled=False), exporter=exporter)
    try:
        capsys.readouterr()
        async with running_pair(events) as (target, _):
            await call_a(target, "titles/a", (("x-request-id", "req-logged"),))
            got = await finished(exporter, 4)
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    finally:
        tracing.configure_tracing("vod-test", TracingSettings(enabled=False))
    a_server = next(s for s in got if s.kind == SERVER and s.parent is None)
    rpc_lines = [line for line in lines if line["event"] == "rpc"]
    assert len(rpc_lines) == 2  # B's line, then A's
    for line in rpc_lines:
        assert line["service"] == "svc-under-test"
        assert line["request_id"] == "req-logged"
        assert line["trace_id"] == hex_trace(a_server)
        assert (line["method"], line["code"]) == (f"/{GET_TITLE}", "OK")


# -- local span files and `vod trace` --------------------------------------------------------------

T0 = 1_700_000_000_000_000_000
MS = 1_000_000


def test_vod_trace_prints_the_span_tree_from_local_files(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    settings = TracingSettings(traces_dir=home / "traces")
    try:
        tracing.configure_tracing("gateway", settings)
        t = tracing.tracer()
        root = t.start_span(
            "vod.gateway.v1.GatewayService/GetHome",
            kind=SERVER,
            start_time=T0,
            attributes={REQUEST_ID_ATTRIBUTE: "req-cli", "rpc.grpc.status_code": 0},
        )
        under_root = trace.set_span_in_context(root)
        call = t.start_span(
            "vod.catalog.v1.CatalogService/ListTitles",
            context=under_root,
            kind=CLIENT,
            start_time=T0 + 1 * MS,
            attributes={REQUEST_ID_ATTRIBUTE: "req-cli", "rpc.grpc.status_code": 5},
        )
        publish = t.start_span(
            "publish vod.playback.stopped",
            context=under_root,
            kind=PRODUCER,
            start_time=T0 + 8 * MS,
        )
        other = t.start_span("vod.gateway.v1.GatewayService/GetHome", start_time=T0 + 50 * MS)
        other.set_attribute(REQUEST_ID_ATTRIBUTE, "req-other")
        call.end(end_time=T0 + 4 * MS + 500_000)
        publish.end(end_time=T0 + 8 * MS + 250_000)
        root.end(end_time=T0 + 12 * MS)
        other.end(end_time=T0 + 51 * MS)

        tracing.configure_tracing("catalog", settings)
        served = tracing.tracer().start_span(
            "vod.catalog.v1.CatalogService/ListTitles",
            context=trace.set_span_in_context(call),
            kind=SERVER,
            start_time=T0 + 1 * MS + 500_000,
            attributes={"rpc.grpc.status_code": 5},
        )
        served.end(end_time=T0 + 4 * MS)

        tracing.configure_tracing("recommendations", settings)
        process = tracing.tracer().start_span(
            "process vod.playback.stopped",
            context=trace.set_span_in_context(publish),
            kind=CONSUMER,
            start_time=T0 + 9 * MS,
        )
        process.set_status(trace.StatusCode.ERROR, "boom")
        process.end(end_time=T0 + 11 * MS + 250_000)
    finally:
        tracing.configure_tracing("vod-test", TracingSettings(enabled=False))  # flushes the files

    assert sorted(p.name for p in (home / "traces").iterdir()) == [
        "catalog.jsonl",
        "gateway.jsonl",
        "recommendations.jsonl",
    ]
    trace_id = trace.format_trace_id(root.get_span_context().trace_id)
    expected = [
        f"trace {trace_id} · 5 spans · 12.000 ms",
        "gateway  vod.gateway.v1.GatewayService/GetHome  12.000 ms  OK",
        "  gateway  vod.catalog.v1.CatalogService/ListTitles  3.500 ms  NOT_FOUND",
        "    catalog  vod.catalog.v1.CatalogService/ListTitles  2.500 ms  NOT_FOUND",
        "  gateway  publish vod.playback.stopped  0.250 ms  OK",
        "    recommendations  process vod.playback.stopped  2.250 ms  ERROR",
    ]
    for wanted in ("req-cli", trace_id):  # by request id, or by trace id
        code = trace_cli.cmd_trace(argparse.Namespace(id=wanted, home=str(home)))
        assert code == 0
        assert capsys.readouterr().out.splitlines() == expected

    assert trace_cli.cmd_trace(argparse.Namespace(id="req-nobody", home=str(home))) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"no spans for req-nobody in {home / 'traces'};")


def test_vod_trace_marks_spans_whose_parent_was_not_recorded(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    envoy_span = trace.set_span_in_context(
        trace.NonRecordingSpan(
            trace.SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=trace.TraceFlags(1))
        )
    )
    try:
        tracing.configure_tracing("gateway", TracingSettings(traces_dir=home / "traces"))
        span = tracing.tracer().start_span(
            "vod.gateway.v1.GatewayService/GetHome", context=envoy_span, start_time=T0
        )
        span.set_attribute(REQUEST_ID_ATTRIBUTE, "req-behind-envoy")
        span.end(end_time=T0 + 2 * MS)
    finally:
        tracing.configure_tracing("vod-test", TracingSettings(enabled=False))
    assert trace_cli.cmd_trace(argparse.Namespace(id="req-behind-envoy", home=str(home))) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"trace {0xABC:032x} · 1 span · 2.000 ms",
        "gateway  vod.gateway.v1.GatewayService/GetHome  2.000 ms  OK  (remote parent)",
    ]


def test_span_files_are_capped_by_rotation(tmp_path: Path) -> None:
    exporter = tracing.JsonLinesSpanExporter(tmp_path, "catalog", max_bytes=2048)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    t = provider.get_tracer("test")
    for index in range(40):
        with t.start_as_current_span(f"span-{index}", attributes={REQUEST_ID_ATTRIBUTE: "req-r"}):
            pass
    provider.shutdown()
    current, rotated = tmp_path / "catalog.jsonl", tmp_path / "catalog.jsonl.1"
    one_line = max(len(line) + 1 for line in rotated.read_text().splitlines())
    assert current.stat().st_size < 2048
    assert 2048 <= rotated.stat().st_size < 2048 + one_line
    # What the files still hold is readable, the newest spans included.
    names = {span.name for span in trace_cli.read_spans(tmp_path)}
    assert "span-39" in names and "span-0" not in names


def test_spans_go_to_the_otlp_endpoint_when_one_is_set() -> None:
    from concurrent import futures

    from opentelemetry.proto.collector.trace.v1 import (
        trace_service_pb2,
        trace_service_pb2_grpc,
    )

    received: list[Any] = []

    class Collector(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):  # type: ignore[no-untyped-def]
            received.extend(request.resource_spans)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Collector(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        settings = tracing.load_tracing_settings({"VOD_OTLP_ENDPOINT": f"127.0.0.1:{port}"})
        tracing.configure_tracing("catalog", settings)
        with tracing.tracer().start_as_current_span("exported") as span:
            pass
        assert tracing.force_flush()
    finally:
        tracing.configure_tracing("vod-test", TracingSettings(enabled=False))
        server.stop(None)
    (resource_spans,) = received
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service["service.name"] == "catalog"
    (exported,) = resource_spans.scope_spans[0].spans
    assert (exported.name, exported.span_id) == (
        "exported",
        span.get_span_context().span_id.to_bytes(8, "big"),
    )


def test_tracing_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = tracing.load_tracing_settings(
        {"VOD_HOME": str(tmp_path), "VOD_OTLP_ENDPOINT": "http://collector:4317"}
    )
    assert settings == TracingSettings(
        enabled=True,
        otlp_endpoint="http://collector:4317",
        traces_dir=tmp_path / "traces",
        max_file_bytes=8 * 1024 * 1024,
        sample_ratio=1.0,
    )
    assert tracing.load_tracing_settings({"VOD_TRACE_SAMPLE_RATIO": "0.05"}).sample_ratio == 0.05
    for bad in ("1.5", "-0.1", "nan", "lots"):
        with pytest.raises(ValueError, match="VOD_TRACE_SAMPLE_RATIO"):
            tracing.load_tracing_settings({"VOD_TRACE_SAMPLE_RATIO": bad})
    assert tracing.load_tracing_settings({"VOD_TRACING": "off"}).enabled is False
    with pytest.raises(ValueError, match="VOD_TRACING must be on or off"):
        tracing.load_tracing_settings({"VOD_TRACING": "maybe"})
    with pytest.raises(ValueError, match="VOD_TRACE_FILE_MAX_BYTES"):
        tracing.load_tracing_settings({"VOD_TRACE_FILE_MAX_BYTES": "10"})


def test_a_sample_ratio_records_a_share_of_new_traces_and_follows_the_caller() -> None:
    exporter = InMemorySpanExporter()
    tracing.configure_tracing(
        "vod-test", TracingSettings(enabled=False, sample_ratio=0.25), exporter=exporter
    )
    try:
        roots = [tracing.tracer().start_span("root") for _ in range(2000)]
        for span in roots:
            span.end()
        sampled = sum(1 for s in roots if s.get_span_context().trace_flags.sampled)
        tracing.force_flush()
        assert len(exporter.get_finished_spans()) == sampled
        assert 400 <= sampled <= 600, sampled  # 25% of 2000, far outside chance either way
        # A caller that sampled its trace is always continued, one that did not never is.
        for flag, expected in (("01", 1), ("00", 0)):
            exporter.clear()
            parent = tracing.extract((("traceparent", f"00-{'ab' * 16}-{'cd' * 8}-{flag}"),))
            tracing.tracer().start_span("child", context=parent).end()
            tracing.force_flush()
            assert len(exporter.get_finished_spans()) == expected
    finally:
        tracing.configure_tracing("vod-test", TracingSettings(enabled=False))
