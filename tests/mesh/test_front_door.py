"""The front door enforces every RPC's access class, live: a real Envoy rendered from the mesh
spec (two regional listeners, jwt_authn against a JWKS served over HTTP, RBAC), in front of a
probe gRPC server that answers every method of every service in the descriptor and records the
headers it received.

Walks every RPC of the real descriptor set: over REST (each `google.api.http` binding) and over
native gRPC: no token gives 401 / UNAUTHENTICATED on viewer and admin routes, a viewer token on
an admin route 403 / PERMISSION_DENIED, internal RPCs 404 / UNIMPLEMENTED from outside, public
ones pass without a token. An RPC without an access class fails `test_every_rpc_declares_...`.
Tokens here are minted by the test with its own key (the accounts service's tokens are tested
against the same rules in tests/accounts), so this proves Envoy's checks, not our signer's.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2
from jwt.algorithms import ECAlgorithm
from vod.common.v1 import access_pb2

from mesh.embedded import EmbeddedEnvoy, free_port
from mesh.envoy_config import render_yaml
from mesh.spec import AuthSpec, MeshSpec, RegionalFront, ServiceSpec
from services.runtime.identity import TOKEN_AUDIENCE, TOKEN_ISSUER

REPO = Path(__file__).resolve().parents[2]
DESCRIPTOR = REPO / "gen" / "descriptor" / "vod.binpb"
_HTTP_VERBS = ("get", "put", "post", "delete", "patch")
_CLASS = {
    access_pb2.ACCESS_CLASS_PUBLIC: "public",
    access_pb2.ACCESS_CLASS_VIEWER: "viewer",
    access_pb2.ACCESS_CLASS_ADMIN: "admin",
    access_pb2.ACCESS_CLASS_INTERNAL: "internal",
}


@dataclass(frozen=True)
class Rpc:
    service: str
    method: str
    access: str
    client_streaming: bool
    server_streaming: bool
    http: tuple[tuple[str, str, str], ...]
    """(verb, path template, body) for each HTTP binding."""

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method}"


def _bindings(options: descriptor_pb2.MethodOptions) -> tuple[tuple[str, str, str], ...]:
    if not options.HasExtension(annotations_pb2.http):
        return ()
    rule = options.Extensions[annotations_pb2.http]
    out = []
    for r in (rule, *rule.additional_bindings):
        verb = r.WhichOneof("pattern")
        if verb in _HTTP_VERBS:
            out.append((verb.upper(), getattr(r, verb), r.body))
    return tuple(out)


def load_rpcs() -> list[Rpc]:
    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(DESCRIPTOR.read_bytes())
    rpcs = []
    for file in fds.file:
        if not file.package.startswith("vod."):
            continue
        for service in file.service:
            for method in service.method:
                rpcs.append(
                    Rpc(
                        service=f"{file.package}.{service.name}",
                        method=method.name,
                        access=_CLASS.get(method.options.Extensions[access_pb2.access], ""),
                        client_streaming=method.client_streaming,
                        server_streaming=method.server_streaming,
                        http=_bindings(method.options),
                    )
                )
    return rpcs


RPCS = load_rpcs()


def concrete_path(template: str) -> str:
    """`/v1/{name=titles/*}:x` -> `/v1/titles/p1:x`; plain `{name}` -> one segment."""

    def fill(match: re.Match[str]) -> str:
        pattern = match.group(2)
        if not pattern:
            return "p1"
        return pattern.replace("**", "p1/p2").replace("*", "p1")

    return re.sub(r"\{([^}=]+)(?:=([^}]+))?\}", fill, template)


# -- the probe upstream --------------------------------------------------------------------------


@dataclass
class Probe:
    """Answers every method with an empty message and records each call's headers."""

    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def last(self, method_path: str) -> dict[str, str]:
        for path, headers in reversed(self.calls):
            if path == method_path:
                return headers
        raise AssertionError(f"the probe never saw {method_path}")


class _ProbeHandler(grpc.GenericRpcHandler):
    def __init__(self, probe: Probe) -> None:
        self._probe = probe
        self._rpcs = {rpc.path: rpc for rpc in RPCS}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = details.method
        if method == "/grpc.health.v1.Health/Check":
            serving = health_pb2.HealthCheckResponse(
                status=health_pb2.HealthCheckResponse.SERVING
            ).SerializeToString()

            async def check(request: bytes, context: Any) -> bytes:
                return serving

            return grpc.unary_unary_rpc_method_handler(check)
        rpc = self._rpcs.get(method)
        if rpc is None:
            return None
        probe = self._probe

        def record(context: Any) -> None:
            headers = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
            probe.calls.append((method, headers))

        if rpc.client_streaming:

            async def consume(requests: Any, context: Any) -> bytes:
                record(context)
                async for _ in requests:
                    pass
                return b""

            return grpc.stream_unary_rpc_method_handler(consume)
        if rpc.server_streaming:

            async def stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
                record(context)
                yield b""

            return grpc.unary_stream_rpc_method_handler(stream)

        async def unary(request: bytes, context: Any) -> bytes:
            record(context)
            return b""

        return grpc.unary_unary_rpc_method_handler(unary)


# -- tokens ----------------------------------------------------------------------------------------


@dataclass
class Keys:
    key: ec.EllipticCurvePrivateKey
    kid: str
    other: ec.EllipticCurvePrivateKey

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, use="sig", alg="ES256")
        return {"keys": [jwk]}

    def token(self, roles: str = "viewer", **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": TOKEN_ISSUER,
            "aud": TOKEN_AUDIENCE,
            "sub": "users/ada",
            "plan": "plans/standard",
            "roles": roles,
            "iat": now,
            "nbf": now - 5,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
        }
        key = overrides.pop("_key", self.key)
        claims_only = overrides.pop("_claims_only", False)
        genuine = jwt.encode(claims, key, algorithm="ES256", headers={"kid": self.kid})
        claims.update(overrides)
        forged = jwt.encode(claims, key, algorithm="ES256", headers={"kid": self.kid})
        if not claims_only:
            return forged
        # The payload of `forged` under the signature of `genuine`: a client editing its claims.
        head, _, sig = genuine.split(".")
        return f"{head}.{forged.split('.')[1]}.{sig}"


def tampered(token: str) -> str:
    """One character of the signature changed (in the middle, so base64 padding cannot hide it)."""
    head, payload, sig = token.split(".")
    middle = len(sig) // 2
    flipped = "A" if sig[middle] != "A" else "B"
    return f"{head}.{payload}.{sig[:middle]}{flipped}{sig[middle + 1 :]}"


def unsigned_token() -> str:
    """`alg: none`: a token with no signature at all."""
    now = int(time.time())
    claims = {"iss": TOKEN_ISSUER, "aud": TOKEN_AUDIENCE, "sub": "users/ada", "exp": now + 600}
    return jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]


# -- the live front door ---------------------------------------------------------------------------


@dataclass
class FrontDoor:
    us: str
    gb: str
    grpc_target: str
    probe: Probe
    keys: Keys


def _unique_name(grpc_service: str, all_services: list[str]) -> str:
    """The package's domain (`catalog`), or domain-service when a package holds several services
    (`vod.gateway.v1` serves GatewayService and QoeService)."""
    domain = grpc_service.split(".")[1]
    if sum(1 for other in all_services if other.split(".")[1] == domain) == 1:
        return domain
    return f"{domain}-{grpc_service.rsplit('.', 1)[1].lower()}"


@pytest.fixture(scope="module")
async def front(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FrontDoor]:
    tmp = tmp_path_factory.mktemp("front")
    probe = Probe()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([_ProbeHandler(probe)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()

    keys = Keys(
        ec.generate_private_key(ec.SECP256R1()), "k1", ec.generate_private_key(ec.SECP256R1())
    )
    app = web.Application()

    async def jwks(_: web.Request) -> web.Response:
        return web.json_response(keys.jwks())

    app.router.add_get("/.well-known/jwks.json", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    jwks_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", jwks_port).start()

    services = sorted({rpc.service for rpc in RPCS})
    spec = MeshSpec(
        front_host="127.0.0.1",
        front_port=free_port(),
        admin_host="127.0.0.1",
        admin_port=free_port(),
        services=tuple(
            ServiceSpec(
                name=_unique_name(name, services), grpc_service=name, host="127.0.0.1", port=port
            )
            for name in services
        ),
        descriptor_path=DESCRIPTOR,
        access_log_path=str(tmp / "access.log"),
        auth=AuthSpec("127.0.0.1", jwks_port, TOKEN_ISSUER, (TOKEN_AUDIENCE,), jwks_cache_s=300),
        front_region="US",
        regional_fronts=(RegionalFront("GB", "127.0.0.1", free_port()),),
    )
    config = tmp / "envoy.json"
    config.write_text(render_yaml(spec))
    envoy = EmbeddedEnvoy(config, f"http://127.0.0.1:{spec.admin_port}", log_path=tmp / "envoy.log")
    envoy.start()
    door = FrontDoor(
        us=f"http://127.0.0.1:{spec.front_port}",
        gb=f"http://127.0.0.1:{spec.regional_fronts[0].port}",
        grpc_target=f"127.0.0.1:{spec.front_port}",
        probe=probe,
        keys=keys,
    )
    try:
        await _wait_for_keys(door)
        yield door
    finally:
        envoy.stop()
        await runner.cleanup()
        await server.stop(None)


async def _wait_for_keys(door: FrontDoor, timeout_s: float = 20.0) -> None:
    """Envoy fetches the JWKS asynchronously at start-up: wait until a good token passes."""
    deadline = time.monotonic() + timeout_s
    token = door.keys.token()
    async with httpx.AsyncClient() as client:
        while True:
            r = await client.get(
                f"{door.us}/v1/titles/p1", headers={"authorization": f"Bearer {token}"}
            )
            if r.status_code == 200:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"front door never accepted a good token: {r.status_code}")
            await asyncio.sleep(0.1)


async def _rest(
    door: FrontDoor, verb: str, template: str, body: str, token: str | None
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    content = b"{}" if body else None
    if content is not None:
        headers["content-type"] = "application/json"
    async with httpx.AsyncClient() as client:
        return await client.request(
            verb, door.us + concrete_path(template), headers=headers, content=content
        )


# -- tests -----------------------------------------------------------------------------------------


def test_every_rpc_declares_an_access_class() -> None:
    undeclared = [rpc.path for rpc in RPCS if not rpc.access]
    assert undeclared == [], f"RPCs without (vod.common.v1.access): {undeclared}"
    # The classes the issue names, on the RPCs it names.
    by_path = {rpc.path: rpc.access for rpc in RPCS}
    assert by_path["/vod.accounts.v1.AccountsService/Login"] == "public"
    assert by_path["/vod.accounts.v1.AccountsService/GetJwks"] == "public"
    assert by_path["/vod.catalog.v1.CatalogService/DeleteTitle"] == "admin"
    assert by_path["/vod.transcoding.v1.TranscodingService/CreateJob"] == "admin"
    assert by_path["/vod.search.v1.SearchService/Reindex"] == "admin"
    assert by_path["/vod.licensing.v1.LicensingService/GetContentKeys"] == "internal"
    assert by_path["/vod.transcoding.v1.TranscodingService/GetMediaAsset"] == "internal"


HTTP_CASES = [
    pytest.param(rpc, binding, id=f"{rpc.method}:{binding[0]} {binding[1]}")
    for rpc in RPCS
    for binding in rpc.http
]


@pytest.mark.parametrize(("rpc", "binding"), HTTP_CASES)
async def test_rest_route_enforces_its_access_class(
    front: FrontDoor, rpc: Rpc, binding: tuple[str, str, str]
) -> None:
    verb, template, body = binding
    viewer, admin = front.keys.token("viewer"), front.keys.token("viewer admin")
    anonymous = await _rest(front, verb, template, body, None)
    as_viewer = await _rest(front, verb, template, body, viewer)
    as_admin = await _rest(front, verb, template, body, admin)
    codes = (anonymous.status_code, as_viewer.status_code, as_admin.status_code)
    expected = {
        "public": (200, 200, 200),
        "viewer": (401, 200, 200),
        "admin": (401, 403, 200),
        "internal": (404, 404, 404),
    }[rpc.access]
    assert codes == expected, f"{verb} {template}: {codes}"


GRPC_CASES = [pytest.param(rpc, id=rpc.path) for rpc in RPCS]


async def _grpc(door: FrontDoor, rpc: Rpc, token: str | None) -> grpc.StatusCode:
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    async with grpc.aio.insecure_channel(door.grpc_target) as channel:
        try:
            if rpc.client_streaming:
                call = channel.stream_unary(rpc.path)

                async def one() -> AsyncIterator[bytes]:
                    yield b""

                await call(one(), metadata=metadata, timeout=5)
            elif rpc.server_streaming:
                async for _ in channel.unary_stream(rpc.path)(b"", metadata=metadata, timeout=5):
                    pass
            else:
                await channel.unary_unary(rpc.path)(b"", metadata=metadata, timeout=5)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("rpc", GRPC_CASES)
async def test_grpc_route_enforces_its_access_class(front: FrontDoor, rpc: Rpc) -> None:
    anonymous = await _grpc(front, rpc, None)
    as_viewer = await _grpc(front, rpc, front.keys.token("viewer"))
    as_admin = await _grpc(front, rpc, front.keys.token("viewer admin"))
    ok, unauth, denied, missing = (
        grpc.StatusCode.OK,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNIMPLEMENTED,
    )
    expected = {
        "public": (ok, ok, ok),
        "viewer": (unauth, ok, ok),
        "admin": (unauth, denied, ok),
        "internal": (missing, missing, missing),
    }[rpc.access]
    assert (anonymous, as_viewer, as_admin) == expected


@pytest.mark.parametrize(
    ("make_token", "status"),
    [
        pytest.param(lambda k: k.token(exp=int(time.time()) - 120), 401, id="expired"),
        pytest.param(lambda k: k.token(_key=k.other), 401, id="wrong-key"),
        pytest.param(lambda k: unsigned_token(), 401, id="alg-none"),
        pytest.param(lambda k: k.token(iss="https://evil.example"), 401, id="wrong-issuer"),
        pytest.param(lambda k: tampered(k.token()), 401, id="tampered-signature"),
        pytest.param(
            lambda k: k.token(sub="users/eve", _claims_only=True), 401, id="swapped-payload"
        ),
        pytest.param(lambda k: "not-a-jwt", 401, id="garbage"),
        # Envoy answers a genuine token minted for another audience with 403: authenticated,
        # but not for this platform.
        pytest.param(lambda k: k.token(aud="someone-else"), 403, id="wrong-audience"),
    ],
)
async def test_bad_tokens_are_refused(front: FrontDoor, make_token: Any, status: int) -> None:
    r = await _rest(front, "GET", "/v1/{name=titles/*}", "", make_token(front.keys))
    assert r.status_code == status
    code = await _grpc(front, _rpc("CatalogService", "GetTitle"), make_token(front.keys))
    assert code == (
        grpc.StatusCode.UNAUTHENTICATED if status == 401 else grpc.StatusCode.PERMISSION_DENIED
    )
    # On public routes a bad token is ignored: the caller is served as anonymous.
    public = await _rest(front, "GET", "/v1/plans", "", make_token(front.keys))
    assert public.status_code == 200


def _rpc(service: str, method: str) -> Rpc:
    return next(r for r in RPCS if r.service.endswith("." + service) and r.method == method)


async def test_verified_claims_reach_services_and_client_copies_do_not(front: FrontDoor) -> None:
    spoof = {
        "x-vod-user": "users/mallory",
        "x-vod-roles": "viewer admin",
        "x-vod-region": "FR",
        "x-vod-profile": "users/mallory/profiles/main",
    }
    token = front.keys.token(
        "viewer", profile="users/ada/profiles/kids", mat="MATURITY_LIMIT_LITTLE_KIDS"
    )
    async with httpx.AsyncClient() as client:
        r = await client.get(
            f"{front.us}/v1/titles/p1", headers={**spoof, "authorization": f"Bearer {token}"}
        )
    assert r.status_code == 200
    seen = front.probe.last("/vod.catalog.v1.CatalogService/GetTitle")
    assert seen["x-vod-user"] == "users/ada"
    assert seen["x-vod-roles"] == "viewer"
    assert seen["x-vod-profile"] == "users/ada/profiles/kids"
    assert seen["x-vod-maturity"] == "MATURITY_LIMIT_LITTLE_KIDS"
    assert seen["x-vod-plan"] == "plans/standard"
    assert seen["x-vod-region"] == "US"
    assert "authorization" not in seen  # the raw token is not forwarded

    # A public route without a token: the spoofed identity is stripped, not forwarded.
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{front.gb}/v1/plans", headers=spoof)
    assert r.status_code == 200
    seen = front.probe.last("/vod.accounts.v1.AccountsService/ListPlans")
    assert "x-vod-user" not in seen and "x-vod-roles" not in seen and "x-vod-profile" not in seen
    assert seen["x-vod-region"] == "GB"  # decided by the listener, not the client


async def test_region_comes_from_the_listener_over_grpc(front: FrontDoor) -> None:
    rpc = _rpc("SearchService", "Search")
    for base, region in ((front.us, "US"), (front.gb, "GB")):
        target = base.removeprefix("http://")
        async with grpc.aio.insecure_channel(target) as channel:
            await channel.unary_unary(rpc.path)(
                b"",
                metadata=(
                    ("authorization", f"Bearer {front.keys.token()}"),
                    ("x-vod-region", "JP"),
                ),
                timeout=5,
            )
        assert front.probe.last(rpc.path)["x-vod-region"] == region


async def test_browsers_can_read_every_answer(front: FrontDoor) -> None:
    """CORS headers on REST answers of every kind (success, 401, 403, 4xx from a service), so a
    web app on another origin sees them; and on preflights."""
    origin = {"origin": "http://localhost:5173"}
    viewer = {"authorization": f"Bearer {front.keys.token()}", **origin}
    async with httpx.AsyncClient() as client:
        answers = {
            "public 200": await client.get(f"{front.us}/v1/plans", headers=origin),
            "viewer 200": await client.get(f"{front.us}/v1/titles/p1", headers=viewer),
            "no token 401": await client.get(f"{front.us}/v1/titles/p1", headers=origin),
            "viewer on admin 403": await client.delete(f"{front.us}/v1/titles/p1", headers=viewer),
        }
        preflight = await client.options(
            f"{front.us}/v1/titles/p1",
            headers={**origin, "access-control-request-method": "DELETE",
                     "access-control-request-headers": "authorization"},
        )  # fmt: skip
    codes = {name: r.status_code for name, r in answers.items()}
    assert codes == {
        "public 200": 200,
        "viewer 200": 200,
        "no token 401": 401,
        "viewer on admin 403": 403,
    }
    for name, response in answers.items():
        assert response.headers.get("access-control-allow-origin") in ("*", origin["origin"]), name
    assert preflight.status_code == 200
    assert "DELETE" in preflight.headers["access-control-allow-methods"]
