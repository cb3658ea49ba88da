"""Envoy's part in tracing, rendered from `MeshSpec.tracing`: the config's shape, `envoy --mode
validate`, and a live Envoy between a client and a runtime server (`build_server`), with and
without an OTLP collector (a real gRPC TraceService in the test)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from vod.catalog.v1 import catalog_pb2 as pb
from vod.catalog.v1 import catalog_pb2_grpc

from mesh.embedded import EmbeddedEnvoy, envoy_binary, free_port
from mesh.envoy_config import OTEL_COLLECTOR_CLUSTER, render_dict, render_yaml
from mesh.spec import MeshSpec, ServiceSpec, TracingSpec
from services.runtime import tracing
from services.runtime.server import Registration, build_server, start
from services.runtime.tracing import TracingSettings

REPO = Path(__file__).resolve().parents[2]
DESCRIPTOR = REPO / "gen" / "descriptor" / "vod.binpb"
CATALOG = "vod.catalog.v1.CatalogService"
CLIENT_TRACE, CLIENT_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
CLIENT_TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


def spec_for(port: int, tracing_spec: TracingSpec | None = None) -> MeshSpec:
    return MeshSpec(
        front_host="127.0.0.1",
        front_port=free_port(),
        admin_host="127.0.0.1",
        admin_port=free_port(),
        services=(ServiceSpec("catalog", CATALOG, "127.0.0.1", port),),
        descriptor_path=DESCRIPTOR,
        tracing=tracing_spec,
    )


def front_hcm(config: dict[str, Any]) -> dict[str, Any]:
    (listener,) = config["static_resources"]["listeners"]
    (network_filter,) = listener["filter_chains"][0]["filters"]
    return network_filter["typed_config"]


# -- rendered config ---------------------------------------------------------------------------


def test_without_a_collector_envoy_runs_no_tracer() -> None:
    config = render_dict(spec_for(50051))
    manager = front_hcm(config)
    assert "tracing" not in manager
    assert manager["request_id_extension"]["typed_config"] == {
        "@type": "type.googleapis.com/envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig",
        "pack_trace_reason": False,
        "use_request_id_for_trace_sampling": False,
    }
    assert OTEL_COLLECTOR_CLUSTER not in {c["name"] for c in config["static_resources"]["clusters"]}


def test_a_collector_renders_the_opentelemetry_tracer_and_its_cluster() -> None:
    spec = spec_for(50051, TracingSpec("127.0.0.1", 4317, sampling_percent=25.0))
    config = render_dict(spec)
    assert front_hcm(config)["tracing"] == {
        "random_sampling": {"value": 25.0},
        "provider": {
            "name": "envoy.tracers.opentelemetry",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
                "grpc_service": {
                    "envoy_grpc": {"cluster_name": OTEL_COLLECTOR_CLUSTER},
                    "timeout": "1s",
                },
                "service_name": "vod-front",
            },
        },
    }
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    collector = clusters[OTEL_COLLECTOR_CLUSTER]
    assert collector["type"] == "STATIC"
    options = collector["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert "http2_protocol_options" in options["explicit_http_config"]
    endpoint = collector["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 4317}
    dns = render_dict(replace(spec, tracing=TracingSpec("otel-collector.internal", 4317)))
    by_name = {c["name"]: c for c in dns["static_resources"]["clusters"]}
    assert by_name[OTEL_COLLECTOR_CLUSTER]["type"] == "STRICT_DNS"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"collector_port": 0}, "tracing.collector_port must be an integer port"),
        ({"collector_host": ""}, "tracing.collector_host must be a non-empty host"),
        ({"sampling_percent": 101}, r"tracing.sampling_percent must be in 0\.\.100"),
        ({"service_name": "Front Door"}, "tracing.service_name must match"),
    ],
)
def test_invalid_tracing_specs_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"collector_host": "127.0.0.1", "collector_port": 4317, **kwargs}
    with pytest.raises(ValueError, match=message):
        TracingSpec(**fields)
    with pytest.raises(ValueError, match="tracing must be a TracingSpec"):
        replace(spec_for(50051), tracing="127.0.0.1:4317")  # type: ignore[arg-type]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_config_with_tracing_passes_envoy_validate(tmp_path: Path, host: str) -> None:
    config = tmp_path / "envoy.json"
    config.write_text(render_yaml(spec_for(50051, TracingSpec(host, 4317))))
    result = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(config), "--log-level", "warn"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout + result.stderr


# -- a live Envoy ---------------------------------------------------------------------------------


class Recorder(catalog_pb2_grpc.CatalogServiceServicer):
    """The upstream service: records the metadata each GetTitle arrived with, by title name."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, str]] = {}

    async def GetTitle(self, request, context):  # type: ignore[no-untyped-def]
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        self.seen[request.name] = metadata
        return pb.GetTitleResponse(title=pb.Title(name=request.name))


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP trace collector: keeps every span it is sent, with its resource's service name."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Any]] = []

    async def Export(self, request, context):  # type: ignore[no-untyped-def]
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope in resource_spans.scope_spans:
                self.spans += [(service, span) for span in scope.spans]
        return trace_service_pb2.ExportTraceServiceResponse()

    def find(self, trace_id: str) -> list[tuple[str, Any]]:
        return [(s, span) for s, span in self.spans if span.trace_id.hex() == trace_id]


@asynccontextmanager
async def mesh(
    tmp_path: Path, *, collector: bool
) -> AsyncIterator[tuple[catalog_pb2_grpc.CatalogServiceStub, Recorder, Collector]]:
    """The runtime server behind a live Envoy (with a collector, or without); yields a stub
    talking to Envoy's front listener once a call gets through."""
    recorder, sink = Recorder(), Collector()
    handle = build_server(
        "127.0.0.1:0",
        [Registration(CATALOG, catalog_pb2_grpc.add_CatalogServiceServicer_to_server, recorder)],
    )
    await start(handle)
    collector_server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, collector_server)
    collector_port = collector_server.add_insecure_port("127.0.0.1:0")
    await collector_server.start()
    spec = spec_for(handle.port, TracingSpec("127.0.0.1", collector_port) if collector else None)
    config = tmp_path / "envoy.json"
    config.write_text(render_yaml(spec))
    envoy = EmbeddedEnvoy(
        config, f"http://127.0.0.1:{spec.admin_port}", log_path=tmp_path / "envoy.log"
    )
    await asyncio.to_thread(envoy.start)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{spec.front_port}") as channel:
            stub = catalog_pb2_grpc.CatalogServiceStub(channel)
            for _ in range(200):  # until Envoy's health checks have found the upstream
                try:
                    await stub.GetTitle(pb.GetTitleRequest(name="titles/warm-up"), timeout=1.0)
                    break
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.1)
            yield stub, recorder, sink
    finally:
        await asyncio.to_thread(envoy.stop)
        await collector_server.stop(None)
        await handle.server.stop(None)


@pytest.fixture
def spans() -> Any:
    exporter = InMemorySpanExporter()
    tracing.configure_tracing("catalog", TracingSettings(enabled=False), exporter=exporter)
    yield exporter
    tracing.configure_tracing("catalog", TracingSettings(enabled=False))


def server_span(exporter: InMemorySpanExporter, request_id: str) -> ReadableSpan:
    tracing.force_flush()
    (span,) = [
        s
        for s in exporter.get_finished_spans()
        if s.attributes.get(tracing.REQUEST_ID_ATTRIBUTE) == request_id
    ]
    return span


async def collected(sink: Collector, trace_id: str) -> list[tuple[str, Any]]:
    for _ in range(300):  # Envoy flushes its spans every 5 s
        if sink.find(trace_id):
            return sink.find(trace_id)
        await asyncio.sleep(0.1)
    pytest.fail(f"the collector never received a span of trace {trace_id}")


async def test_envoy_with_a_collector_joins_the_trace_and_reports_its_span(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    async with mesh(tmp_path, collector=True) as (stub, recorder, sink):
        await stub.GetTitle(
            pb.GetTitleRequest(name="titles/continued"),
            metadata=(("traceparent", CLIENT_TRACEPARENT), ("x-request-id", "req-continued")),
        )
        # No traceparent, and a request id that is not a UUID: Envoy starts a sampled trace.
        await stub.GetTitle(
            pb.GetTitleRequest(name="titles/started"), metadata=(("x-request-id", "my-req"),)
        )
        continued = await collected(sink, CLIENT_TRACE)
        started_traceparent = recorder.seen["titles/started"]["traceparent"]
        started_trace = started_traceparent.split("-")[1]
        started = await collected(sink, started_trace)

    # The client's trace, continued by Envoy: its span is the parent the service continues.
    version, trace_id, envoy_span, flags = recorder.seen["titles/continued"]["traceparent"].split(
        "-"
    )
    assert (version, trace_id, flags) == ("00", CLIENT_TRACE, "01")
    assert envoy_span != CLIENT_SPAN
    [(service, span)] = continued
    assert service == "vod-front"
    assert (span.span_id.hex(), span.parent_span_id.hex()) == (envoy_span, CLIENT_SPAN)
    served = server_span(spans, "req-continued")
    assert trace.format_trace_id(served.context.trace_id) == CLIENT_TRACE
    assert trace.format_span_id(served.parent.span_id) == envoy_span

    # A trace Envoy started: sampled, reported, and continued by the service.
    assert started_traceparent.endswith("-01")
    [(_, span)] = started
    assert span.parent_span_id == b""
    served = server_span(spans, "my-req")
    assert trace.format_trace_id(served.context.trace_id) == started_trace
    assert trace.format_span_id(served.parent.span_id) == span.span_id.hex()


async def test_envoy_without_a_collector_forwards_the_client_traceparent(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    async with mesh(tmp_path, collector=False) as (stub, recorder, _):
        await stub.GetTitle(
            pb.GetTitleRequest(name="titles/continued"),
            metadata=(("traceparent", CLIENT_TRACEPARENT), ("x-request-id", "req-continued")),
        )
        await stub.GetTitle(
            pb.GetTitleRequest(name="titles/started"), metadata=(("x-request-id", "req-new"),)
        )
    # Byte for byte: the client's span is the service span's parent.
    assert recorder.seen["titles/continued"]["traceparent"] == CLIENT_TRACEPARENT
    served = server_span(spans, "req-continued")
    assert trace.format_trace_id(served.context.trace_id) == CLIENT_TRACE
    assert trace.format_span_id(served.parent.span_id) == CLIENT_SPAN
    # Without one, Envoy adds none and the service's span starts the trace.
    assert "traceparent" not in recorder.seen["titles/started"]
    assert server_span(spans, "req-new").parent is None
