"""Envoy bootstrap rendered from the mesh spec, with typed `envoy-data-plane` messages.

One front listener serves native gRPC, gRPC-web and REST+JSON (via the gRPC-JSON transcoder) on
the same port; every service gets one HTTP/2 cluster with active gRPC health checks, circuit
breakers and outlier detection. The YAML Envoy reads is `render_yaml(spec)`; nothing is edited by
hand.

Routing (first match wins, so the order below is the order in the route table):

1. Per method, from the descriptor set: retry-safe unary methods (`idempotency_level`
   NO_SIDE_EFFECTS or IDEMPOTENT) get an exact `path` route with a retry policy; streaming
   methods get an exact route without a total timeout (a stream lives as long as the client's
   deadline allows) and without retries.
2. Per service: prefix `/<grpc_service>/` -> its cluster, with the service timeout and no
   retries. The transcoder rewrites REST paths to these gRPC paths and clears the route cache,
   so the same routes serve REST, gRPC and gRPC-web.
3. gRPC health (`/grpc.health.v1.Health/...`), see below.
3a. Server reflection (`/grpc.reflection.v1{,alpha}.ServerReflection/`), public: to the
   gateway's public view of the contracts (`gateway.reflection`), so `grpcurl list` and
   `buf curl` work against the front door. Envoy rewrites the path to the gateway's view and
   tells it which services the front door routes; none when the spec has no gateway.
4. `OPTIONS` on any path: a route the CORS filter can answer REST preflights on.
5. Anything else: a JSON 404 in the `google.rpc.Status` shape (code NOT_FOUND).

gRPC health routing: `/grpc.health.v1.Health/Check` is the same path for every service, and
the service being asked about is inside the protobuf body, which the router cannot see. So the
caller names the cluster with an `x-vod-service: <ServiceSpec.name>` header (grpc_health_probe:
`-rpc-header x-vod-service:catalog`); a check without the header goes to the first service of the
spec, so plain `grpc_health_probe -addr <front> -service vod.catalog.v1.CatalogService` works when
catalog is listed first. `Watch` streams, so it has no total timeout. Envoy's own view of upstream
health (its active gRPC health checks) is on the admin port (`/clusters`, `/ready`).
"""

from __future__ import annotations

import json
from datetime import timedelta
from ipaddress import ip_address
from typing import Any as TypingAny

import betterproto2
from envoy_data_plane.envoy.config.accesslog.v3 import AccessLog
from envoy_data_plane.envoy.config.bootstrap.v3 import Admin, Bootstrap, BootstrapStaticResources
from envoy_data_plane.envoy.config.cluster.v3 import (
    CircuitBreakers,
    CircuitBreakersThresholds,
    Cluster,
    ClusterDiscoveryType,
    ClusterDnsLookupFamily,
    ClusterLbPolicy,
    OutlierDetection,
)
from envoy_data_plane.envoy.config.core.v3 import (
    Address,
    DataSource,
    GrpcService,
    GrpcServiceEnvoyGrpc,
    HeaderValue,
    HeaderValueOption,
    HeaderValueOptionHeaderAppendAction,
    HealthCheck,
    HealthCheckGrpcHealthCheck,
    Http2ProtocolOptions,
    KeepaliveSettings,
    Node,
    RoutingPriority,
    SocketAddress,
    SubstitutionFormatString,
)
from envoy_data_plane.envoy.config.endpoint.v3 import (
    ClusterLoadAssignment,
    Endpoint,
    LbEndpoint,
    LocalityLbEndpoints,
)
from envoy_data_plane.envoy.config.listener.v3 import Filter, FilterChain, Listener
from envoy_data_plane.envoy.config.route.v3 import (
    DirectResponseAction,
    HeaderMatcher,
    RetryPolicy,
    RetryPolicyRetryBackOff,
    Route,
    RouteAction,
    RouteActionMaxStreamDuration,
    RouteConfiguration,
    RouteMatch,
    VirtualHost,
)
from envoy_data_plane.envoy.config.trace.v3 import OpenTelemetryConfig, TracingHttp
from envoy_data_plane.envoy.extensions.access_loggers.file.v3 import FileAccessLog
from envoy_data_plane.envoy.extensions.access_loggers.stream.v3 import StdoutAccessLog
from envoy_data_plane.envoy.extensions.filters.http.cors.v3 import Cors, CorsPolicy
from envoy_data_plane.envoy.extensions.filters.http.grpc_json_transcoder.v3 import (
    GrpcJsonTranscoder,
    GrpcJsonTranscoderPrintOptions,
    GrpcJsonTranscoderRequestValidationOptions,
)
from envoy_data_plane.envoy.extensions.filters.http.grpc_web.v3 import GrpcWeb
from envoy_data_plane.envoy.extensions.filters.http.router.v3 import Router
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpConnectionManager,
    HttpConnectionManagerCodecType,
    HttpConnectionManagerTracing,
    HttpFilter,
    RequestIdExtension,
)
from envoy_data_plane.envoy.extensions.request_id.uuid.v3 import UuidRequestIdConfig
from envoy_data_plane.envoy.extensions.upstreams.http.v3 import (
    HttpProtocolOptions,
    HttpProtocolOptionsExplicitHttpConfig,
)
from envoy_data_plane.envoy.type.matcher.v3 import RegexMatcher, StringMatcher
from envoy_data_plane.envoy.type.v3 import Percent
from envoy_data_plane.google.protobuf import Any, Struct

from gateway import reflection as public_reflection
from mesh import front_door
from mesh.spec import (
    ACCESS_CLASSES,
    HttpUpstreamSpec,
    MeshSpec,
    MethodInfo,
    ServiceSpec,
    TracingSpec,
    describe_methods,
)

__all__ = [
    "ACCESS_LOG_FORMAT",
    "FRONT_LISTENER_NAME",
    "HEALTH_SERVICE_HEADER",
    "HTTP_FILTERS",
    "OTEL_COLLECTOR_CLUSTER",
    "RETRY_ON",
    "render_bootstrap",
    "render_dict",
    "render_yaml",
]

FRONT_LISTENER_NAME = "front"
ROUTE_CONFIG_NAME = "vod_front"
HEALTH_SERVICE_HEADER = "x-vod-service"
"""Request header naming the service (`ServiceSpec.name`) a gRPC health call is meant for."""
GRPC_HEALTH_SERVICE = "grpc.health.v1.Health"

# gRPC statuses (read from grpc-status) plus transport failures that are safe to retry for
# idempotent methods: the request either never reached the service or was refused by it.
UPSTREAM_STREAMS_PER_CONNECTION = 16
"""Concurrent streams Envoy puts on one upstream HTTP/2 connection before opening another."""
RETRY_ON = "unavailable,resource-exhausted,reset,connect-failure,refused-stream"

HTTP_FILTERS = (
    "envoy.filters.http.header_mutation",
    "envoy.filters.http.grpc_web",
    "envoy.filters.http.grpc_json_transcoder",
    # After the transcoder, so a REST request is matched to its method's route (the CORS policy
    # applies only on routes with a cluster), and before jwt_authn/rbac, so their 401/403 local
    # replies carry the CORS headers too and browsers can read them.
    "envoy.filters.http.cors",
    "envoy.filters.http.jwt_authn",
    "envoy.filters.http.rbac",
    "envoy.filters.http.router",
)
"""The front listeners' filter chain in order (jwt_authn and rbac only when the spec has auth);
see `mesh.front_door` for why identity filters sit after the transcoder."""

# One JSON object per request. REST requests keep their original path in X-ENVOY-ORIGINAL-PATH
# (the transcoder rewrites :path to the gRPC method), so that is logged first.
ACCESS_LOG_FORMAT: dict[str, str] = {
    "start_time": "%START_TIME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "grpc_method": "%REQ(:PATH)%",
    "protocol": "%PROTOCOL%",
    "response_code": "%RESPONSE_CODE%",
    "grpc_status": "%GRPC_STATUS%",
    "response_flags": "%RESPONSE_FLAGS%",
    "duration_ms": "%DURATION%",
    "upstream_service_time_ms": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "upstream_cluster": "%UPSTREAM_CLUSTER%",
    "upstream_host": "%UPSTREAM_HOST%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "user_agent": "%REQ(USER-AGENT)%",
    "authority": "%REQ(:AUTHORITY)%",
    "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%",
}

_CORS_ALLOW_METHODS = "GET, PUT, DELETE, POST, PATCH, OPTIONS"
_CORS_ALLOW_HEADERS = ",".join(
    (
        "authorization",
        "content-type",
        "keep-alive",
        "user-agent",
        "cache-control",
        "content-transfer-encoding",
        "grpc-timeout",
        "x-accept-content-transfer-encoding",
        "x-accept-response-streaming",
        "x-grpc-web",
        "x-user-agent",
        "x-request-id",
        HEALTH_SERVICE_HEADER,
    )
)
_CORS_EXPOSE_HEADERS = "grpc-status,grpc-message,grpc-status-details-bin,x-request-id"
_CORS_MAX_AGE = "86400"

_NOT_FOUND_BODY = json.dumps({"code": 5, "message": "no such method or path", "details": []})

_HEALTH_CHECK_INTERVAL = timedelta(seconds=2)
_HEALTH_CHECK_TIMEOUT = timedelta(seconds=1)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _address(host: str, port: int) -> Address:
    return Address(socket_address=SocketAddress(address=host, port_value=port))


def _is_ip(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


def _access_log(spec: MeshSpec) -> AccessLog:
    log_format = SubstitutionFormatString(json_format=Struct.from_dict(ACCESS_LOG_FORMAT))
    if spec.access_log_path is None:
        return AccessLog(
            name="envoy.access_loggers.stdout",
            typed_config=Any.pack(StdoutAccessLog(log_format=log_format)),
        )
    return AccessLog(
        name="envoy.access_loggers.file",
        typed_config=Any.pack(FileAccessLog(path=spec.access_log_path, log_format=log_format)),
    )


def _origin_matcher(origin: str) -> StringMatcher:
    if origin == "*":
        return StringMatcher(safe_regex=RegexMatcher(regex=".*"))
    return StringMatcher(exact=origin)


def _cors_policy(spec: MeshSpec) -> CorsPolicy:
    return CorsPolicy(
        allow_origin_string_match=[_origin_matcher(o) for o in spec.cors_allowed_origins],
        allow_methods=_CORS_ALLOW_METHODS,
        allow_headers=_CORS_ALLOW_HEADERS,
        expose_headers=_CORS_EXPOSE_HEADERS,
        max_age=_CORS_MAX_AGE,
        forward_not_matching_preflights=False,
    )


def _transcoder(spec: MeshSpec) -> GrpcJsonTranscoder:
    return GrpcJsonTranscoder(
        proto_descriptor=str(spec.descriptor_path),
        services=[s.grpc_service for s in spec.services],
        print_options=GrpcJsonTranscoderPrintOptions(
            add_whitespace=False,
            always_print_primitive_fields=True,
            always_print_enums_as_ints=False,
            preserve_proto_field_names=False,
        ),
        auto_mapping=False,
        convert_grpc_status=True,
        # HTML forms and most HTTP clients encode spaces in query strings as "+".
        query_param_unescape_plus=True,
        request_validation_options=GrpcJsonTranscoderRequestValidationOptions(
            reject_unknown_method=False,
            reject_unknown_query_parameters=True,
        ),
    )


def _http_filters(spec: MeshSpec) -> list[HttpFilter]:
    configs: dict[str, betterproto2.Message] = {
        "envoy.filters.http.cors": Cors(),
        "envoy.filters.http.grpc_web": GrpcWeb(),
        "envoy.filters.http.grpc_json_transcoder": _transcoder(spec),
        "envoy.filters.http.router": Router(),
        **front_door.filter_configs(spec.auth),
    }
    return [
        HttpFilter(name=name, typed_config=Any.pack(configs[name]))
        for name in HTTP_FILTERS
        if name in configs
    ]


def _unary_action(service: ServiceSpec, *, retry: bool) -> RouteAction:
    timeout = _seconds(service.timeout_s)
    return RouteAction(
        cluster=service.cluster_name,
        timeout=timeout,
        # A client's grpc-timeout (its deadline) applies, capped at the service timeout.
        max_stream_duration=RouteActionMaxStreamDuration(grpc_timeout_header_max=timeout),
        retry_policy=_retry_policy(service) if retry else None,
    )


def _streaming_action(service: ServiceSpec) -> RouteAction:
    return RouteAction(
        cluster=service.cluster_name,
        timeout=timedelta(0),  # no total timeout: streams end with the client's deadline
        max_stream_duration=RouteActionMaxStreamDuration(grpc_timeout_header_max=timedelta(0)),
    )


def _retry_policy(service: ServiceSpec) -> RetryPolicy:
    return RetryPolicy(
        retry_on=RETRY_ON,
        num_retries=service.num_retries,
        per_try_timeout=_seconds(service.effective_per_try_timeout_s),
        retry_back_off=RetryPolicyRetryBackOff(
            base_interval=timedelta(milliseconds=25),
            max_interval=timedelta(milliseconds=250),
        ),
    )


def _method_routes(
    service: ServiceSpec, methods: dict[str, MethodInfo], *, auth: bool
) -> list[Route]:
    """One route per method the outside may call, carrying its access class; internal methods
    (and unknown ones) have no route and answer 404."""
    routes: list[Route] = []
    for method in methods.values():
        if method.access not in ACCESS_CLASSES:
            raise ValueError(
                f"{service.grpc_service}/{method.name} declares no access class: add "
                "`option (vod.common.v1.access) = ACCESS_CLASS_...;` to the RPC"
            )
        if method.access == "internal":
            continue
        if method.streaming:
            action = _streaming_action(service)
        else:
            action = _unary_action(service, retry=method.retry_safe and service.num_retries > 0)
        routes.append(
            Route(
                name=f"{service.name}.{method.name}",
                match=RouteMatch(path=method.path(service.grpc_service)),
                route=action,
                typed_per_filter_config=front_door.route_auth(method.access, enabled=auth),
            )
        )
    return routes


def _health_routes(spec: MeshSpec) -> list[Route]:
    check_path = f"/{GRPC_HEALTH_SERVICE}/Check"
    prefix = f"/{GRPC_HEALTH_SERVICE}/"
    routes: list[Route] = []
    targets: list[tuple[ServiceSpec, list[HeaderMatcher]]] = [
        (
            service,
            [
                HeaderMatcher(
                    name=HEALTH_SERVICE_HEADER, string_match=StringMatcher(exact=service.name)
                )
            ],
        )
        for service in spec.services
    ]
    targets.append((spec.services[0], []))  # no header: the first service answers
    for service, headers in targets:
        suffix = service.name if headers else "default"
        routes.append(
            Route(
                name=f"health.check.{suffix}",
                match=RouteMatch(path=check_path, headers=headers),
                route=_unary_action(service, retry=False),
            )
        )
        routes.append(
            Route(
                name=f"health.{suffix}",
                match=RouteMatch(prefix=prefix, headers=headers),
                route=_streaming_action(service),  # Watch streams
            )
        )
    return routes


def _routes(spec: MeshSpec) -> list[Route]:
    auth = spec.auth is not None
    per_method: list[Route] = []
    for service in spec.services:
        per_method += _method_routes(
            service, describe_methods(spec.descriptor_path, service.grpc_service), auth=auth
        )
    http = [_http_route(u, auth=auth) for u in spec.http_upstreams if u.prefix != "/"]
    # A catch-all upstream (the web app at "/") goes after every other route but the 404.
    catch_all = [_http_route(u, auth=auth) for u in spec.http_upstreams if u.prefix == "/"]
    tail = [_preflight_route(spec), *catch_all, _not_found_route()]
    reflection = _reflection_routes(spec, auth=auth)
    return per_method + http + _health_routes(spec) + reflection + tail


# Reflection is open to anyone: its streams (a client's session of questions) are capped.
_REFLECTION_STREAM_MAX = timedelta(minutes=5)
_GRPC_CONTENT_TYPE = HeaderMatcher(
    name="content-type", string_match=StringMatcher(prefix="application/grpc")
)


def _reflection_routes(spec: MeshSpec, *, auth: bool) -> list[Route]:
    host = next(
        (s for s in spec.services if s.grpc_service == public_reflection.HOST_SERVICE), None
    )
    if host is None:
        return []
    routed = HeaderValueOption(
        header=HeaderValue(
            key=public_reflection.ROUTED_SERVICES_HEADER,
            value=",".join(s.grpc_service for s in spec.services),
        ),
        append_action=HeaderValueOptionHeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
    )
    return [
        Route(
            name=f"reflection.{prefix.split('.')[2]}",
            # gRPC only (reflection streams both ways): a plain GET falls through to a 404.
            match=RouteMatch(prefix=prefix, headers=[_GRPC_CONTENT_TYPE]),
            route=RouteAction(
                cluster=host.cluster_name,
                prefix_rewrite=rewrite,
                timeout=timedelta(0),  # a stream: no total timeout, but no open-ended one either
                max_stream_duration=RouteActionMaxStreamDuration(
                    max_stream_duration=_REFLECTION_STREAM_MAX,
                    grpc_timeout_header_max=_REFLECTION_STREAM_MAX,
                ),
            ),
            request_headers_to_add=[routed],
            typed_per_filter_config=front_door.route_auth("public", enabled=auth),
        )
        for prefix, rewrite in public_reflection.FRONT_PATHS.items()
    ]


def _http_route(upstream: HttpUpstreamSpec, *, auth: bool) -> Route:
    return Route(
        name=upstream.name,
        match=RouteMatch(prefix=upstream.prefix),
        route=RouteAction(
            cluster=upstream.cluster_name,
            prefix_rewrite=upstream.rewrite,
            timeout=_seconds(upstream.timeout_s),
            idle_timeout=_seconds(upstream.idle_timeout_s) if upstream.idle_timeout_s else None,
            retry_policy=RetryPolicy(
                retry_on="connect-failure,refused-stream,reset", num_retries=2
            ),
        ),
        typed_per_filter_config=front_door.route_auth(upstream.access, enabled=auth),
    )


def _http_cluster(upstream: HttpUpstreamSpec) -> Cluster:
    return Cluster(
        name=upstream.cluster_name,
        type=ClusterDiscoveryType.STATIC
        if _is_ip(upstream.host)
        else ClusterDiscoveryType.STRICT_DNS,
        dns_lookup_family=ClusterDnsLookupFamily.V4_PREFERRED,
        connect_timeout=_seconds(1.0),
        lb_policy=ClusterLbPolicy.ROUND_ROBIN,
        load_assignment=ClusterLoadAssignment(
            cluster_name=upstream.cluster_name,
            endpoints=[
                LocalityLbEndpoints(
                    lb_endpoints=[
                        LbEndpoint(
                            endpoint=Endpoint(address=_address(upstream.host, upstream.port))
                        )
                    ]
                )
            ],
        ),
    )


def _preflight_route(spec: MeshSpec) -> Route:
    # Browsers preflight REST paths (`OPTIONS /v1/titles`), which match no transcoder binding and
    # so no gRPC route, and Envoy's CORS filter only answers on a route with a cluster. This route
    # gives them one; the CORS filter answers every preflight itself (non-matching ones too, see
    # `forward_not_matching_preflights`), so only a non-CORS OPTIONS ever reaches the upstream.
    first = spec.services[0]
    return Route(
        name="cors_preflight",
        match=RouteMatch(
            prefix="/",
            headers=[HeaderMatcher(name=":method", string_match=StringMatcher(exact="OPTIONS"))],
        ),
        route=RouteAction(cluster=first.cluster_name, timeout=_seconds(first.timeout_s)),
    )


def _not_found_route() -> Route:
    # Ends the table: an unknown path gets the JSON error shape transcoded calls use.
    return Route(
        name="not_found",
        match=RouteMatch(prefix="/"),
        direct_response=DirectResponseAction(
            status=404,
            body=DataSource(inline_string=_NOT_FOUND_BODY),
            body_format=SubstitutionFormatString(
                text_format_source=DataSource(inline_string="%LOCAL_REPLY_BODY%"),
                content_type="application/json",
            ),
        ),
    )


# -- tracing ---------------------------------------------------------------------------------------
#
# With `MeshSpec.tracing`, every front listener runs Envoy's OpenTelemetry tracer: per request it
# continues the client's W3C `traceparent` (same trace id, Envoy's span as the new parent) or
# starts a trace when there is none, passes `traceparent` on to the service, and exports its own
# span over OTLP/gRPC to the collector.
#
# Without a collector there is no tracer: Envoy 1.40 refuses an OpenTelemetry tracer that has no
# exporter ("OpenTelemetry Tracer must have exactly one of gRPC, HTTP, or custom exporter
# configured", although the proto says the exporter may be left out), and a tracer exporting into
# a dead cluster would only trade a failed export per batch for a parent span nobody records.
# `traceparent` is then an ordinary header, forwarded untouched, and a request without one gets
# its trace from the first service (its SERVER span is the root).

OTEL_COLLECTOR_CLUSTER = "otel_collector"


def _tracing(spec: MeshSpec) -> HttpConnectionManagerTracing | None:
    if spec.tracing is None:
        return None
    otel = OpenTelemetryConfig(
        service_name=spec.tracing.service_name,
        grpc_service=GrpcService(
            envoy_grpc=GrpcServiceEnvoyGrpc(cluster_name=OTEL_COLLECTOR_CLUSTER),
            timeout=_seconds(1.0),
        ),
    )
    return HttpConnectionManagerTracing(
        provider=TracingHttp(name="envoy.tracers.opentelemetry", typed_config=Any.pack(otel)),
        random_sampling=Percent(value=spec.tracing.sampling_percent),
    )


def _collector_cluster(tracing: TracingSpec) -> Cluster:
    http2 = HttpProtocolOptions(
        explicit_http_config=HttpProtocolOptionsExplicitHttpConfig(
            http2_protocol_options=Http2ProtocolOptions()
        )
    )
    return Cluster(
        name=OTEL_COLLECTOR_CLUSTER,
        type=ClusterDiscoveryType.STATIC
        if _is_ip(tracing.collector_host)
        else ClusterDiscoveryType.STRICT_DNS,
        dns_lookup_family=ClusterDnsLookupFamily.V4_PREFERRED,
        connect_timeout=_seconds(1.0),
        lb_policy=ClusterLbPolicy.ROUND_ROBIN,
        load_assignment=ClusterLoadAssignment(
            cluster_name=OTEL_COLLECTOR_CLUSTER,
            endpoints=[
                LocalityLbEndpoints(
                    lb_endpoints=[
                        LbEndpoint(
                            endpoint=Endpoint(
                                address=_address(tracing.collector_host, tracing.collector_port)
                            )
                        )
                    ]
                )
            ],
        ),
        typed_extension_protocol_options={
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": Any.pack(http2),
        },
    )


def _front_listener(
    spec: MeshSpec, name: str, host: str, port: int, region: str, routes: list[Route]
) -> Listener:
    hcm = HttpConnectionManager(
        stat_prefix=name,
        codec_type=HttpConnectionManagerCodecType.AUTO,  # HTTP/1.1 REST + HTTP/2 gRPC
        generate_request_id=True,
        always_set_request_id_in_response=True,
        # Keep a caller's x-request-id so one id follows a request from the client through the
        # services' logs. (Since Envoy 1.3x no address counts as internal unless configured, so
        # without this Envoy would replace every caller's id.)
        preserve_external_request_id=True,
        # ...and keep it byte for byte: by default Envoy rewrites one nibble of UUID ids to
        # carry its trace decision, which breaks grepping logs for the id a client sent.
        # Tracing: sample on a random number, not on the request id, which a client may set to
        # anything (Envoy leaves a trace it starts for a non-UUID id unsampled otherwise).
        request_id_extension=RequestIdExtension(
            typed_config=Any.pack(
                UuidRequestIdConfig(
                    pack_trace_reason=False, use_request_id_for_trace_sampling=False
                )
            )
        ),
        use_remote_address=True,
        tracing=_tracing(spec),
        access_log=[_access_log(spec)],
        route_config=RouteConfiguration(
            name=ROUTE_CONFIG_NAME,
            virtual_hosts=[
                VirtualHost(
                    name="vod",
                    domains=["*"],
                    routes=routes,
                    typed_per_filter_config={
                        "envoy.filters.http.cors": Any.pack(_cors_policy(spec)),
                    },
                    request_headers_to_add=front_door.region_headers(region),
                )
            ],
        ),
        http_filters=_http_filters(spec),
    )
    return Listener(
        name=name,
        address=_address(host, port),
        filter_chains=[
            FilterChain(
                filters=[
                    Filter(
                        name="envoy.filters.network.http_connection_manager",
                        typed_config=Any.pack(hcm),
                    )
                ]
            )
        ],
    )


def _cluster(service: ServiceSpec) -> Cluster:
    http2 = HttpProtocolOptions(
        explicit_http_config=HttpProtocolOptionsExplicitHttpConfig(
            http2_protocol_options=Http2ProtocolOptions(
                connection_keepalive=KeepaliveSettings(
                    interval=timedelta(seconds=30), timeout=timedelta(seconds=5)
                ),
                # Envoy opens another connection when one carries this many streams: under
                # load a service gets several connections, which the kernel spreads over its
                # processes when it runs more than one on its port (VOD_<SERVICE>_PROCESSES);
                # with the default (2^31) everything would ride one connection per Envoy worker.
                max_concurrent_streams=UPSTREAM_STREAMS_PER_CONNECTION,
            )
        )
    )
    static = _is_ip(service.host)
    return Cluster(
        name=service.cluster_name,
        type=ClusterDiscoveryType.STATIC if static else ClusterDiscoveryType.STRICT_DNS,
        dns_lookup_family=ClusterDnsLookupFamily.V4_PREFERRED,  # used by STRICT_DNS only
        connect_timeout=_seconds(service.connect_timeout_s),
        lb_policy=ClusterLbPolicy.ROUND_ROBIN,
        load_assignment=ClusterLoadAssignment(
            cluster_name=service.cluster_name,
            endpoints=[
                LocalityLbEndpoints(
                    lb_endpoints=[
                        LbEndpoint(endpoint=Endpoint(address=_address(service.host, service.port)))
                    ]
                )
            ],
        ),
        typed_extension_protocol_options={
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": Any.pack(http2),
        },
        circuit_breakers=CircuitBreakers(
            thresholds=[
                CircuitBreakersThresholds(
                    priority=RoutingPriority.DEFAULT,
                    max_connections=service.max_connections,
                    max_pending_requests=service.max_pending,
                    max_requests=service.max_requests,
                    max_retries=service.max_retries,
                    track_remaining=True,
                )
            ]
        ),
        outlier_detection=OutlierDetection(
            consecutive_5xx=5,
            consecutive_gateway_failure=5,
            enforcing_consecutive_gateway_failure=100,
            interval=timedelta(seconds=10),
            base_ejection_time=timedelta(seconds=30),
            max_ejection_percent=50,
        ),
        health_checks=[
            HealthCheck(
                timeout=_HEALTH_CHECK_TIMEOUT,
                interval=_HEALTH_CHECK_INTERVAL,
                # Without traffic Envoy would back off to 60s; checks are cheap, keep them live.
                no_traffic_interval=_HEALTH_CHECK_INTERVAL,
                unhealthy_threshold=2,
                healthy_threshold=1,
                grpc_health_check=HealthCheckGrpcHealthCheck(service_name=service.grpc_service),
            )
        ],
        # With DNS discovery a host that leaves DNS is dropped even if it still passes checks.
        ignore_health_on_host_removal=True,
    )


def render_bootstrap(spec: MeshSpec) -> Bootstrap:
    """The complete Envoy bootstrap for `spec` (static listeners and clusters, admin).

    Raises `ValueError` if a service is missing from `spec.descriptor_path`.
    """
    routes = _routes(spec)
    listeners = [
        _front_listener(
            spec, FRONT_LISTENER_NAME, spec.front_host, spec.front_port, spec.front_region, routes
        )
    ]
    listeners += [
        _front_listener(
            spec, f"{FRONT_LISTENER_NAME}_{f.region.lower()}", f.host, f.port, f.region, routes
        )
        for f in spec.regional_fronts
    ]
    clusters = [_cluster(service) for service in spec.services]
    clusters += [_http_cluster(upstream) for upstream in spec.http_upstreams]
    if spec.auth is not None:
        clusters.append(front_door.jwks_cluster(spec.auth, static=_is_ip(spec.auth.jwks_host)))
    if spec.tracing is not None:
        clusters.append(_collector_cluster(spec.tracing))
    return Bootstrap(
        node=Node(id="vod-front", cluster="vodmesh"),
        admin=Admin(address=_address(spec.admin_host, spec.admin_port)),
        static_resources=BootstrapStaticResources(listeners=listeners, clusters=clusters),
    )


def _proto_field_name(python_name: str) -> str:
    # envoy-data-plane names Python fields after the proto fields (snake_case), but betterproto2's
    # SNAKE and CAMEL casings re-split digits: `consecutive_5xx` becomes `consecutive_5_xx` or
    # `consecutive5Xx`, which Envoy rejects. Keeping the field name as is gives the proto name
    # (to_dict strips the `_` suffix of fields renamed around Python keywords).
    return python_name


def render_dict(spec: MeshSpec) -> dict[str, TypingAny]:
    """The bootstrap as a proto-JSON dict with Envoy's own (snake_case) field names."""
    return render_bootstrap(spec).to_dict(casing=_proto_field_name)  # type: ignore[arg-type]


def render_yaml(spec: MeshSpec) -> str:
    """The bootstrap as YAML for `envoy -c` (JSON, which is YAML; PyYAML is not a dependency)."""
    return json.dumps(render_dict(spec), indent=2) + "\n"
