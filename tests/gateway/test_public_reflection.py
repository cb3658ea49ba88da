"""The front door's reflection view (`gateway.reflection`): which services and methods the
descriptor set reveals, checked against the access classes read independently through
`mesh.spec.describe_methods`, and the view served by a real gRPC server on the paths Envoy
rewrites the standard reflection paths to."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2

from gateway import reflection
from mesh.envoy_config import render_dict
from mesh.spec import MeshSpec, ServiceSpec, describe_methods, grpc_services

DESCRIPTOR = Path(__file__).resolve().parents[2] / "gen" / "descriptor" / "vod.binpb"


@pytest.fixture(autouse=True)
def _healthy_dependencies() -> Iterator[None]:
    """Overrides the package's autouse fixture: these tests need no gateway mesh."""
    yield


def _expected_public() -> list[str]:
    """Services with a public or viewer method, from the descriptor's access options."""
    return sorted(
        service
        for service in grpc_services(DESCRIPTOR)
        if any(
            m.access in ("public", "viewer") for m in describe_methods(DESCRIPTOR, service).values()
        )
    )


def _routed_methods(service: str) -> list[str]:
    return [
        m.name for m in describe_methods(DESCRIPTOR, service).values() if m.access != "internal"
    ]


@pytest.fixture(scope="module")
def fds() -> descriptor_pb2.FileDescriptorSet:
    return reflection.load_descriptor_set(DESCRIPTOR)


def test_public_services_are_the_ones_with_public_or_viewer_methods(
    fds: descriptor_pb2.FileDescriptorSet,
) -> None:
    expected = _expected_public()
    assert list(reflection.public_services(fds)) == expected
    assert expected == [
        "vod.accounts.v1.AccountsService",
        "vod.catalog.v1.CatalogService",
        "vod.gateway.v1.GatewayService",
        "vod.gateway.v1.QoeService",
        "vod.licensing.v1.LicensingService",
        "vod.playback.v1.PlaybackService",
        "vod.recommendations.v1.RecommendationsService",
        "vod.search.v1.SearchService",
    ]
    hidden = sorted(set(grpc_services(DESCRIPTOR)) - set(expected))
    assert hidden == [
        "vod.experiments.v1.ExperimentsService",
        "vod.transcoding.v1.TranscodingService",
    ]


def test_pool_holds_public_services_without_internal_methods(
    fds: descriptor_pb2.FileDescriptorSet,
) -> None:
    view = reflection.PublicView(fds)
    assert list(view.service_names) == _expected_public()
    for name in view.service_names:
        methods = [m.name for m in view.pool.FindServiceByName(name).methods]
        assert methods == _routed_methods(name), name
    # Internal methods of revealed services are gone...
    playback = view.pool.FindServiceByName("vod.playback.v1.PlaybackService")
    assert "GetSession" not in playback.methods_by_name
    licensing = view.pool.FindServiceByName("vod.licensing.v1.LicensingService")
    assert [m.name for m in licensing.methods] == [
        "AcquireClearKeyLicense",
        "GetHlsKey",
        "ListLicenseAudits",
    ]
    # ...and so are services without a public or viewer method, and their files.
    for hidden in (
        "vod.transcoding.v1.TranscodingService",
        "vod.experiments.v1.ExperimentsService",
    ):
        with pytest.raises(KeyError):
            view.pool.FindFileContainingSymbol(hidden)
    for file in ("vod/transcoding/v1/transcoding.proto", "vod/experiments/v1/experiments.proto"):
        with pytest.raises(KeyError):
            view.pool.FindFileByName(file)
    # Messages and options of the revealed files resolve (their imports are in the pool).
    catalog = view.pool.FindServiceByName("vod.catalog.v1.CatalogService")
    assert catalog.methods_by_name["ListTitles"].input_type.full_name == (
        "vod.catalog.v1.ListTitlesRequest"
    )


def test_routed_services_narrow_the_view_and_never_widen_it(
    fds: descriptor_pb2.FileDescriptorSet,
) -> None:
    view = reflection.PublicView(
        fds,
        ["vod.catalog.v1.CatalogService", "vod.transcoding.v1.TranscodingService", "vod.nope.v1.X"],
    )
    assert view.service_names == ("vod.catalog.v1.CatalogService",)
    with pytest.raises(KeyError):
        view.pool.FindFileContainingSymbol("vod.search.v1.SearchService")


# -- served ------------------------------------------------------------------------------------


@pytest.fixture
async def served() -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server()
    assert reflection.add_to_server(server, DESCRIPTOR)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)


async def _ask(
    channel: grpc.aio.Channel,
    prefix: str,
    request: reflection_pb2.ServerReflectionRequest,
    metadata: tuple[tuple[str, str], ...] = (),
) -> reflection_pb2.ServerReflectionResponse:
    call = channel.stream_stream(
        f"{prefix}ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )(metadata=metadata)
    await call.write(request)
    await call.done_writing()
    responses = [r async for r in call]
    assert len(responses) == 1
    return responses[0]


@pytest.mark.parametrize("prefix", sorted(reflection.FRONT_PATHS.values()))
async def test_served_view_lists_and_describes_public_services_only(
    served: grpc.aio.Channel, prefix: str
) -> None:
    listed = await _ask(served, prefix, reflection_pb2.ServerReflectionRequest(list_services=""))
    assert [s.name for s in listed.list_services_response.service] == _expected_public()

    found = await _ask(
        served,
        prefix,
        reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="vod.playback.v1.PlaybackService"
        ),
    )
    files = {}
    for raw in found.file_descriptor_response.file_descriptor_proto:
        file = descriptor_pb2.FileDescriptorProto.FromString(raw)
        files[file.name] = file
    (playback,) = files["vod/playback/v1/playback.proto"].service
    assert [m.name for m in playback.method] == _routed_methods("vod.playback.v1.PlaybackService")
    assert "vod/common/v1/access.proto" in files

    hidden = await _ask(
        served,
        prefix,
        reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="vod.transcoding.v1.TranscodingService"
        ),
    )
    assert hidden.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


async def test_routed_services_header_narrows_the_served_view(served: grpc.aio.Channel) -> None:
    prefix = reflection.FRONT_PATHS["/grpc.reflection.v1.ServerReflection/"]
    listed = await _ask(
        served,
        prefix,
        reflection_pb2.ServerReflectionRequest(list_services=""),
        (
            (
                reflection.ROUTED_SERVICES_HEADER,
                "vod.search.v1.SearchService,vod.transcoding.v1.TranscodingService",
            ),
        ),
    )
    assert [s.name for s in listed.list_services_response.service] == [
        "vod.search.v1.SearchService"
    ]


async def test_a_missing_descriptor_set_leaves_reflection_off(tmp_path: Path) -> None:
    server = grpc.aio.server()  # a grpc.aio server needs a running loop: an async test
    assert reflection.add_to_server(server, tmp_path / "missing.binpb") is False


# -- the front door's routes -------------------------------------------------------------------


def _spec(*services: tuple[str, str]) -> MeshSpec:
    return MeshSpec(
        front_host="127.0.0.1",
        front_port=8080,
        admin_host="127.0.0.1",
        admin_port=9901,
        services=tuple(
            ServiceSpec(name=name, grpc_service=grpc_service, host="127.0.0.1", port=50051 + i)
            for i, (name, grpc_service) in enumerate(services)
        ),
        descriptor_path=DESCRIPTOR,
    )


def _routes(spec: MeshSpec) -> list[dict[str, Any]]:
    (listener,) = render_dict(spec)["static_resources"]["listeners"]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    routes: list[dict[str, Any]] = manager["route_config"]["virtual_hosts"][0]["routes"]
    return routes


def test_envoy_routes_reflection_to_the_gateway_before_the_not_found() -> None:
    spec = _spec(
        ("catalog", "vod.catalog.v1.CatalogService"),
        ("gateway", "vod.gateway.v1.GatewayService"),
    )
    routes = _routes(spec)
    names = [r["name"] for r in routes]
    assert names[-1] == "not_found"
    reflection_routes = [r for r in routes if r["name"].startswith("reflection.")]
    assert [r["name"] for r in reflection_routes] == ["reflection.v1", "reflection.v1alpha"]
    assert names.index("reflection.v1alpha") < names.index("cors_preflight")
    for route, (prefix, rewrite) in zip(
        reflection_routes, reflection.FRONT_PATHS.items(), strict=True
    ):
        assert route["match"] == {
            "prefix": prefix,
            "headers": [{"name": "content-type", "string_match": {"prefix": "application/grpc"}}],
        }
        assert route["route"]["cluster"] == "gateway"
        assert route["route"]["prefix_rewrite"] == rewrite
        assert route["route"]["timeout"] == "0s"
        assert route["route"]["max_stream_duration"] == {
            "max_stream_duration": "300s",
            "grpc_timeout_header_max": "300s",
        }
        assert route["request_headers_to_add"] == [
            {
                "header": {
                    "key": reflection.ROUTED_SERVICES_HEADER,
                    "value": "vod.catalog.v1.CatalogService,vod.gateway.v1.GatewayService",
                },
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ]
        assert "typed_per_filter_config" not in route  # no auth in this spec: nothing required


def test_no_reflection_route_without_a_gateway() -> None:
    routes = _routes(_spec(("catalog", "vod.catalog.v1.CatalogService")))
    assert [r["name"] for r in routes if r["name"].startswith("reflection.")] == []
