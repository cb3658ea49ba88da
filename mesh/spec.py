"""The mesh, described once: which gRPC services exist, where they listen, how Envoy fronts them.

`MeshSpec` is the single source the Envoy configuration (`mesh.envoy_config`) is rendered from.
Specs validate themselves on construction, so a bad spec fails with a `ValueError` that names the
offending field instead of as an Envoy start-up error.

What a method allows (retries, streaming) is read from the compiled contracts — the
`FileDescriptorSet` that `scripts/gen` writes for Envoy's gRPC-JSON transcoder — never from
hand-kept method lists.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2
from vod.common.v1 import access_pb2

__all__ = [
    "ACCESS_CLASSES",
    "AuthSpec",
    "HttpUpstreamSpec",
    "RegionalFront",
    "MeshSpec",
    "MethodInfo",
    "ServiceSpec",
    "TracingSpec",
    "describe_methods",
    "grpc_services",
    "idempotent_methods",
]

_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
# A fully-qualified protobuf service name: dotted identifiers, e.g. vod.catalog.v1.CatalogService.
_GRPC_SERVICE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")

ACCESS_CLASSES = ("public", "viewer", "admin", "internal")
"""Who may call a route from outside: see `vod.common.v1.AccessClass`."""

_ACCESS_NAMES = {
    access_pb2.ACCESS_CLASS_PUBLIC: "public",
    access_pb2.ACCESS_CLASS_VIEWER: "viewer",
    access_pb2.ACCESS_CLASS_ADMIN: "admin",
    access_pb2.ACCESS_CLASS_INTERNAL: "internal",
}

_RETRY_SAFE_LEVELS = frozenset(
    {
        descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
        descriptor_pb2.MethodOptions.IDEMPOTENT,
    }
)


def _check_port(field: str, port: int) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"{field} must be an integer port in 1..65535, got {port!r}")


def _check_host(field: str, host: str) -> None:
    if not isinstance(host, str) or not host or any(c.isspace() for c in host):
        raise ValueError(f"{field} must be a non-empty host name or IP address, got {host!r}")


def _check_positive(field: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{field} must be a positive, finite number, got {value!r}")


def _check_count(field: str, value: int, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{field} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One gRPC service in the mesh and the Envoy cluster in front of it.

    `name` is the short name used for the Envoy cluster, stats and logs (`catalog`);
    `grpc_service` is the fully-qualified protobuf service (`vod.catalog.v1.CatalogService`),
    which is also the name the service reports its gRPC health under.
    """

    name: str
    grpc_service: str
    host: str
    port: int
    timeout_s: float = 5.0
    """Route timeout for unary calls (and the cap on a client's `grpc-timeout`)."""
    connect_timeout_s: float = 1.0
    num_retries: int = 2
    """Retries of idempotent methods (from the descriptor); others are never retried."""
    per_try_timeout_s: float | None = None
    """Per-attempt timeout of retried calls; `None` splits `timeout_s` over all attempts."""
    # Circuit-breaker thresholds (Envoy's own defaults are 1024/1024/1024/3).
    max_connections: int = 1024
    max_pending: int = 1024
    max_requests: int = 1024
    max_retries: int = 3
    """Concurrent retries across the cluster, so a failing upstream is not hammered."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ValueError(
                f"service name must match {_NAME_RE.pattern} (e.g. 'catalog'), got {self.name!r}"
            )
        if not isinstance(self.grpc_service, str) or not _GRPC_SERVICE_RE.match(self.grpc_service):
            raise ValueError(
                f"service {self.name!r}: grpc_service must be a fully-qualified protobuf service "
                f"name such as 'vod.catalog.v1.CatalogService', got {self.grpc_service!r}"
            )
        _check_host(f"service {self.name!r}: host", self.host)
        _check_port(f"service {self.name!r}: port", self.port)
        _check_positive(f"service {self.name!r}: timeout_s", self.timeout_s)
        _check_positive(f"service {self.name!r}: connect_timeout_s", self.connect_timeout_s)
        _check_count(f"service {self.name!r}: num_retries", self.num_retries, minimum=0)
        if self.per_try_timeout_s is not None:
            _check_positive(f"service {self.name!r}: per_try_timeout_s", self.per_try_timeout_s)
            if self.per_try_timeout_s > self.timeout_s:
                raise ValueError(
                    f"service {self.name!r}: per_try_timeout_s ({self.per_try_timeout_s}) must "
                    f"not exceed timeout_s ({self.timeout_s})"
                )
        for field in ("max_connections", "max_pending", "max_requests"):
            _check_count(f"service {self.name!r}: {field}", getattr(self, field), minimum=1)
        _check_count(f"service {self.name!r}: max_retries", self.max_retries, minimum=0)

    @property
    def cluster_name(self) -> str:
        """The Envoy cluster serving this service."""
        return self.name

    @property
    def effective_per_try_timeout_s(self) -> float:
        """`per_try_timeout_s`, or `timeout_s` split evenly over the first try and the retries."""
        if self.per_try_timeout_s is not None:
            return self.per_try_timeout_s
        return self.timeout_s / (self.num_retries + 1)


@dataclass(frozen=True, slots=True)
class HttpUpstreamSpec:
    """A plain HTTP/1.1 upstream behind the front listener, e.g. the media origin or the upload
    endpoint: requests whose path starts with `prefix` go to host:port, with `prefix` replaced by
    `rewrite`. GET/HEAD are retried on connect failures; `timeout_s=0` disables the route
    timeout (long uploads)."""

    name: str
    prefix: str
    host: str
    port: int
    rewrite: str = "/"
    timeout_s: float = 30.0
    idle_timeout_s: float = 0.0
    """Longest silence (no request or response bytes) on a stream of this route; 0 = the
    connection manager's stream idle timeout (Envoy's default, 5 minutes)."""
    access: str = "public"
    """Access class at the front door: public, viewer or admin (internal ones are not routed)."""

    def __post_init__(self) -> None:
        if self.access not in ACCESS_CLASSES or self.access == "internal":
            raise ValueError(
                f"http upstream {self.name!r}: access must be public, viewer or admin, "
                f"got {self.access!r} (internal upstreams are simply not listed)"
            )
        if not _NAME_RE.fullmatch(self.name):
            raise ValueError(f"http upstream name {self.name!r} must match {_NAME_RE.pattern}")
        if not (self.prefix.startswith("/") and self.prefix.endswith("/")):
            raise ValueError(f"prefix {self.prefix!r} must start and end with '/'")
        if not self.rewrite.startswith("/"):
            raise ValueError(f"rewrite {self.rewrite!r} must start with '/'")
        _check_host("host", self.host)
        _check_port("port", self.port)
        if self.timeout_s < 0:
            raise ValueError(f"timeout_s must be >= 0, got {self.timeout_s}")
        if self.idle_timeout_s < 0:
            raise ValueError(f"idle_timeout_s must be >= 0, got {self.idle_timeout_s}")

    @property
    def cluster_name(self) -> str:
        return f"http_{self.name}"


@dataclass(frozen=True, slots=True)
class AuthSpec:
    """Token verification at the front door: Envoy's jwt_authn checks access tokens against the
    JWKS the accounts service publishes over plain HTTP at http://jwks_host:jwks_port/jwks_path
    (fetched and cached by Envoy; no Python call per request)."""

    jwks_host: str
    jwks_port: int
    issuer: str
    audiences: tuple[str, ...]
    jwks_path: str = "/.well-known/jwks.json"
    jwks_cache_s: float = 60.0
    """How long Envoy keeps fetched keys; a rotated-in key is picked up within this time (accounts
    publishes new keys before signing with them)."""

    def __post_init__(self) -> None:
        _check_host("auth.jwks_host", self.jwks_host)
        _check_port("auth.jwks_port", self.jwks_port)
        if not self.issuer:
            raise ValueError("auth.issuer must be set")
        if not isinstance(self.audiences, tuple):
            object.__setattr__(self, "audiences", tuple(self.audiences))
        if not self.audiences:
            raise ValueError("auth.audiences must name at least one audience")
        if not self.jwks_path.startswith("/"):
            raise ValueError(f"auth.jwks_path must start with '/', got {self.jwks_path!r}")
        _check_positive("auth.jwks_cache_s", self.jwks_cache_s)


_REGION_RE = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True, slots=True)
class RegionalFront:
    """A front listener standing in for GeoIP: requests arriving here are served in `region`
    (Envoy sets `x-vod-region`, overwriting anything the client sent)."""

    region: str
    host: str
    port: int

    def __post_init__(self) -> None:
        if not isinstance(self.region, str) or not _REGION_RE.match(self.region):
            raise ValueError(f"region must be an ISO 3166-1 alpha-2 code, got {self.region!r}")
        _check_host(f"front {self.region}: host", self.host)
        _check_port(f"front {self.region}: port", self.port)


@dataclass(frozen=True, slots=True)
class TracingSpec:
    """Envoy's spans go to an OpenTelemetry collector (OTLP over gRPC) at
    collector_host:collector_port. Without a `TracingSpec` Envoy still takes part in every trace:
    it continues a client's `traceparent` or starts one, and passes it to the services, but
    reports its own spans nowhere."""

    collector_host: str
    collector_port: int
    service_name: str = "vod-front"
    """`service.name` of Envoy's spans."""
    sampling_percent: float = 100.0
    """Share of requests *without* a sampled `traceparent` whose new trace is recorded."""

    def __post_init__(self) -> None:
        _check_host("tracing.collector_host", self.collector_host)
        _check_port("tracing.collector_port", self.collector_port)
        if not isinstance(self.service_name, str) or not _NAME_RE.match(self.service_name):
            raise ValueError(
                f"tracing.service_name must match {_NAME_RE.pattern}, got {self.service_name!r}"
            )
        if (
            isinstance(self.sampling_percent, bool)
            or not isinstance(self.sampling_percent, int | float)
            or not 0 <= self.sampling_percent <= 100
        ):
            raise ValueError(
                f"tracing.sampling_percent must be in 0..100, got {self.sampling_percent!r}"
            )


@dataclass(frozen=True, slots=True)
class MeshSpec:
    """The whole mesh: the front (gateway) listener, Envoy admin, and the services behind it.

    `services[0]` is the default target of gRPC health checks sent through the front listener
    without an `x-vod-service` header (see `mesh.envoy_config`).
    """

    front_host: str
    front_port: int
    admin_host: str
    admin_port: int
    services: tuple[ServiceSpec, ...]
    descriptor_path: Path
    access_log_path: str | None = None
    """File for JSON access logs; `None` logs to Envoy's stdout."""
    cors_allowed_origins: tuple[str, ...] = ("*",)
    http_upstreams: tuple[HttpUpstreamSpec, ...] = ()
    auth: AuthSpec | None = None
    """Token verification; without it every routed method is open (tests of the proxy alone)."""
    front_region: str = ""
    """The region the main front listener (front_host:front_port) serves; empty sets none."""
    regional_fronts: tuple[RegionalFront, ...] = ()
    """More front listeners, one per further simulated region."""
    tracing: TracingSpec | None = None
    """Where Envoy reports its spans; `None` propagates trace context without reporting."""

    def __post_init__(self) -> None:
        _check_host("front_host", self.front_host)
        _check_port("front_port", self.front_port)
        _check_host("admin_host", self.admin_host)
        _check_port("admin_port", self.admin_port)
        if self.front_port == self.admin_port and self.front_host == self.admin_host:
            raise ValueError(
                f"front and admin listeners cannot share {self.front_host}:{self.front_port}"
            )
        # Accept any iterable of services / origins but store tuples, so the spec stays hashable.
        if not isinstance(self.services, tuple):
            object.__setattr__(self, "services", tuple(self.services))
        if isinstance(self.cors_allowed_origins, str):
            raise ValueError("cors_allowed_origins must be a sequence of origins, not a string")
        if not isinstance(self.cors_allowed_origins, tuple):
            object.__setattr__(self, "cors_allowed_origins", tuple(self.cors_allowed_origins))
        if not isinstance(self.descriptor_path, Path):
            object.__setattr__(self, "descriptor_path", Path(self.descriptor_path))

        if not isinstance(self.http_upstreams, tuple):
            object.__setattr__(self, "http_upstreams", tuple(self.http_upstreams))
        names = [u.name for u in self.http_upstreams]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate http upstream names in {names}")
        if not self.services:
            raise ValueError("a mesh needs at least one service")
        for service in self.services:
            if not isinstance(service, ServiceSpec):
                raise ValueError(f"services must be ServiceSpec instances, got {service!r}")
        for field in ("name", "grpc_service"):
            seen: set[str] = set()
            for service in self.services:
                value = getattr(service, field)
                if value in seen:
                    raise ValueError(f"duplicate service {field} {value!r} in mesh spec")
                seen.add(value)
        if self.access_log_path is not None and not (
            isinstance(self.access_log_path, str) and self.access_log_path.strip()
        ):
            raise ValueError(
                "access_log_path must be a file path or None (stdout), "
                f"got {self.access_log_path!r}"
            )
        for origin in self.cors_allowed_origins:
            if not isinstance(origin, str) or not origin:
                raise ValueError(f"CORS origins must be non-empty strings, got {origin!r}")
        if self.front_region and not _REGION_RE.match(self.front_region):
            raise ValueError(
                f"front_region must be an ISO 3166-1 alpha-2 code or empty, got "
                f"{self.front_region!r}"
            )
        if not isinstance(self.regional_fronts, tuple):
            object.__setattr__(self, "regional_fronts", tuple(self.regional_fronts))
        listeners = [(self.front_host, self.front_port), (self.admin_host, self.admin_port)]
        regions = [self.front_region] if self.front_region else []
        for front in self.regional_fronts:
            if (front.host, front.port) in listeners:
                raise ValueError(f"front {front.region} reuses {front.host}:{front.port}")
            if front.region in regions:
                raise ValueError(f"region {front.region} has two front listeners")
            listeners.append((front.host, front.port))
            regions.append(front.region)
        if self.regional_fronts and not self.front_region:
            raise ValueError("regional_fronts need front_region for the main listener too")
        if self.tracing is not None and not isinstance(self.tracing, TracingSpec):
            raise ValueError(f"tracing must be a TracingSpec or None, got {self.tracing!r}")

    def service(self, name: str) -> ServiceSpec:
        """The service called `name`; raises `KeyError` if there is none."""
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class MethodInfo:
    """What the contract says about one RPC, as far as the proxy cares."""

    name: str
    retry_safe: bool
    """`idempotency_level` is NO_SIDE_EFFECTS or IDEMPOTENT."""
    client_streaming: bool
    server_streaming: bool
    access: str = ""
    """`(vod.common.v1.access)` as public/viewer/admin/internal; empty when undeclared."""

    @property
    def streaming(self) -> bool:
        return self.client_streaming or self.server_streaming

    def path(self, grpc_service: str) -> str:
        """The HTTP/2 `:path` of this method (`/pkg.Service/Method`)."""
        return f"/{grpc_service}/{self.name}"


def _load_descriptor_set(descriptor_path: Path | str) -> descriptor_pb2.FileDescriptorSet:
    path = Path(descriptor_path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(
            f"descriptor set {path} does not exist; run scripts/gen to build it"
        ) from None
    fds = descriptor_pb2.FileDescriptorSet()
    try:
        fds.ParseFromString(data)
    except Exception as exc:  # protobuf raises DecodeError, an implementation detail
        raise ValueError(f"{path} is not a serialized FileDescriptorSet: {exc}") from exc
    return fds


def _services(
    fds: descriptor_pb2.FileDescriptorSet,
) -> dict[str, descriptor_pb2.ServiceDescriptorProto]:
    found: dict[str, descriptor_pb2.ServiceDescriptorProto] = {}
    for file in fds.file:
        prefix = f"{file.package}." if file.package else ""
        for service in file.service:
            found[prefix + service.name] = service
    return found


def grpc_services(descriptor_path: Path | str) -> tuple[str, ...]:
    """Fully-qualified names of every service in the descriptor set, sorted."""
    return tuple(sorted(_services(_load_descriptor_set(descriptor_path))))


def describe_methods(descriptor_path: Path | str, grpc_service: str) -> dict[str, MethodInfo]:
    """Method name -> `MethodInfo` for `grpc_service`, in declaration order.

    Raises `ValueError` if the descriptor set does not define the service.
    """
    services = _services(_load_descriptor_set(descriptor_path))
    try:
        service = services[grpc_service]
    except KeyError:
        known = ", ".join(sorted(services)) or "none"
        raise ValueError(
            f"service {grpc_service!r} is not in descriptor set {descriptor_path} "
            f"(it defines: {known})"
        ) from None
    return {
        method.name: MethodInfo(
            name=method.name,
            retry_safe=method.options.idempotency_level in _RETRY_SAFE_LEVELS,
            client_streaming=method.client_streaming,
            server_streaming=method.server_streaming,
            access=_ACCESS_NAMES.get(method.options.Extensions[access_pb2.access], ""),
        )
        for method in service.method
    }


def idempotent_methods(descriptor_path: Path | str, grpc_service: str) -> dict[str, bool]:
    """Method name -> whether it is safe to retry.

    Retry-safe means `idempotency_level` NO_SIDE_EFFECTS or IDEMPOTENT in the contract.
    """
    methods = describe_methods(descriptor_path, grpc_service)
    return {name: info.retry_safe for name, info in methods.items()}
