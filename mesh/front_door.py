"""Who gets in at the front door: identity, access classes and region, as typed Envoy config.

Filter chain of every front listener (see `mesh.envoy_config.HTTP_FILTERS`):

1. `header_mutation` strips every platform header a client sent (`x-vod-user`, `x-vod-roles`,
   `x-vod-region`, ... — `services.runtime.identity.IDENTITY_HEADERS`), so identity can only come
   from the steps below.
2. `grpc_web` and the gRPC-JSON transcoder turn REST and gRPC-web into gRPC; the transcoder clears
   the route cache, so the filters after it see the gRPC method's own route.
3. `jwt_authn` verifies the bearer token (ES256, issuer, audience, expiry) against the JWKS the
   accounts service publishes, fetched and cached by Envoy (no Python call per request), and
   copies the verified claims into the `x-vod-*` headers (`identity.CLAIM_HEADERS`). Which routes
   need a token is per route (`PerRouteConfig.requirement_name`): viewer and admin routes
   require one (401 without or with a bad one); public routes accept a request without a token
   and still forward claims when a valid one is sent (sign-up by an admin sets roles).
4. `rbac`: admin routes additionally require `admin` among the token's `roles` claim (403).
5. The router. The listener's virtual host sets `x-vod-region` to the listener's region,
   overwriting anything else: the front door a request came through stands in for GeoIP.

Internal RPCs get no route at all, so they answer 404 from outside.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any as TypingAny

import betterproto2
from envoy_data_plane.envoy.config.cluster.v3 import (
    Cluster,
    ClusterDiscoveryType,
    ClusterDnsLookupFamily,
    ClusterLbPolicy,
)
from envoy_data_plane.envoy.config.common.mutation_rules.v3 import HeaderMutation
from envoy_data_plane.envoy.config.core.v3 import (
    Address,
    HeaderValue,
    HeaderValueOption,
    HeaderValueOptionHeaderAppendAction,
    HttpUri,
    SocketAddress,
)
from envoy_data_plane.envoy.config.endpoint.v3 import (
    ClusterLoadAssignment,
    Endpoint,
    LbEndpoint,
    LocalityLbEndpoints,
)
from envoy_data_plane.envoy.config.rbac.v3 import (
    MetadataSource,
    Permission,
    Policy,
    Principal,
    SourcedMetadata,
)
from envoy_data_plane.envoy.config.rbac.v3 import Rbac as RbacRules
from envoy_data_plane.envoy.config.rbac.v3 import RbacAction as RbacRulesAction
from envoy_data_plane.envoy.extensions.filters.http.header_mutation.v3 import (
    HeaderMutation as HeaderMutationFilter,
)
from envoy_data_plane.envoy.extensions.filters.http.header_mutation.v3 import Mutations
from envoy_data_plane.envoy.extensions.filters.http.jwt_authn.v3 import (
    JwksAsyncFetch,
    JwtAuthentication,
    JwtClaimToHeader,
    JwtProvider,
    JwtRequirement,
    JwtRequirementOrList,
    PerRouteConfig,
    RemoteJwks,
)
from envoy_data_plane.envoy.extensions.filters.http.rbac.v3 import Rbac, RbacPerRoute
from envoy_data_plane.envoy.type.matcher.v3 import (
    MetadataMatcher,
    MetadataMatcherPathSegment,
    RegexMatcher,
    StringMatcher,
    ValueMatcher,
)
from envoy_data_plane.google.protobuf import Any, Empty

from mesh.spec import AuthSpec
from services.runtime.identity import CLAIM_HEADERS, HEADER_REGION, IDENTITY_HEADERS

__all__ = [
    "JWKS_CLUSTER",
    "JWT_FILTER",
    "RBAC_FILTER",
    "jwks_cluster",
    "jwt_filter_config",
    "rbac_filter_config",
    "region_headers",
    "route_auth",
    "strip_identity_config",
]

JWT_FILTER = "envoy.filters.http.jwt_authn"
RBAC_FILTER = "envoy.filters.http.rbac"
JWKS_CLUSTER = "accounts_jwks"
_PROVIDER = "vod"
_PAYLOAD_KEY = "jwt_payload"
_REQUIRE_TOKEN = "token"
_TOKEN_IF_PRESENT = "token_if_present"
# `roles` is a space-separated string claim ("viewer admin"); match the word.
_ADMIN_ROLE_REGEX = r"(.* )?admin( .*)?"


def strip_identity_config() -> HeaderMutationFilter:
    """Removes client-sent copies of every platform header before anything reads them."""
    return HeaderMutationFilter(
        mutations=Mutations(request_mutations=[HeaderMutation(remove=h) for h in IDENTITY_HEADERS])
    )


def jwt_filter_config(auth: AuthSpec) -> JwtAuthentication:
    provider = JwtProvider(
        issuer=auth.issuer,
        audiences=list(auth.audiences),
        require_expiration=True,
        remote_jwks=RemoteJwks(
            http_uri=HttpUri(
                uri=f"http://{auth.jwks_host}:{auth.jwks_port}{auth.jwks_path}",
                cluster=JWKS_CLUSTER,
                timeout=timedelta(seconds=2),
            ),
            cache_duration=timedelta(seconds=auth.jwks_cache_s),
            # Fetch at start-up and refresh in the background, so no request waits on it.
            async_fetch=JwksAsyncFetch(),
        ),
        forward=False,  # services get claims in headers, never the raw token
        payload_in_metadata=_PAYLOAD_KEY,
        claim_to_headers=[
            JwtClaimToHeader(header_name=header, claim_name=claim)
            for claim, header in CLAIM_HEADERS.items()
        ],
        clock_skew_seconds=30,
    )
    return JwtAuthentication(
        providers={_PROVIDER: provider},
        requirement_map={
            _REQUIRE_TOKEN: JwtRequirement(provider_name=_PROVIDER),
            _TOKEN_IF_PRESENT: JwtRequirement(
                requires_any=JwtRequirementOrList(
                    requirements=[
                        JwtRequirement(provider_name=_PROVIDER),
                        JwtRequirement(allow_missing_or_failed=Empty()),
                    ]
                )
            ),
        },
    )


def rbac_filter_config() -> Rbac:
    """The listener-wide RBAC filter enforces nothing; admin routes override it per route."""
    return Rbac()


def _admin_rules() -> RbacRules:
    roles = MetadataMatcher(
        filter=JWT_FILTER,
        path=[
            MetadataMatcherPathSegment(key=_PAYLOAD_KEY),
            MetadataMatcherPathSegment(key="roles"),
        ],
        value=ValueMatcher(
            string_match=StringMatcher(safe_regex=RegexMatcher(regex=_ADMIN_ROLE_REGEX))
        ),
    )
    return RbacRules(
        action=RbacRulesAction.ALLOW,
        policies={
            "admins": Policy(
                permissions=[Permission(any=True)],
                principals=[
                    Principal(
                        sourced_metadata=SourcedMetadata(
                            metadata_matcher=roles, metadata_source=MetadataSource.DYNAMIC
                        )
                    )
                ],
            )
        },
    )


def route_auth(access: str, *, enabled: bool) -> dict[str, Any]:
    """`typed_per_filter_config` entries for a route of access class `access`."""
    if not enabled:
        return {}
    if access == "public":
        return {JWT_FILTER: Any.pack(PerRouteConfig(requirement_name=_TOKEN_IF_PRESENT))}
    if access == "viewer":
        return {JWT_FILTER: Any.pack(PerRouteConfig(requirement_name=_REQUIRE_TOKEN))}
    if access == "admin":
        return {
            JWT_FILTER: Any.pack(PerRouteConfig(requirement_name=_REQUIRE_TOKEN)),
            RBAC_FILTER: Any.pack(RbacPerRoute(rbac=Rbac(rules=_admin_rules()))),
        }
    raise ValueError(f"access class {access!r} has no route at the front door")


def region_headers(region: str) -> list[HeaderValueOption]:
    """Sets the listener's region on every request, overwriting any other value."""
    if not region:
        return []
    return [
        HeaderValueOption(
            header=HeaderValue(key=HEADER_REGION, value=region),
            append_action=HeaderValueOptionHeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
        )
    ]


def jwks_cluster(auth: AuthSpec, *, static: bool) -> Cluster:
    return Cluster(
        name=JWKS_CLUSTER,
        type=ClusterDiscoveryType.STATIC if static else ClusterDiscoveryType.STRICT_DNS,
        dns_lookup_family=ClusterDnsLookupFamily.V4_PREFERRED,
        connect_timeout=timedelta(seconds=1),
        lb_policy=ClusterLbPolicy.ROUND_ROBIN,
        load_assignment=ClusterLoadAssignment(
            cluster_name=JWKS_CLUSTER,
            endpoints=[
                LocalityLbEndpoints(
                    lb_endpoints=[
                        LbEndpoint(
                            endpoint=Endpoint(
                                address=Address(
                                    socket_address=SocketAddress(
                                        address=auth.jwks_host, port_value=auth.jwks_port
                                    )
                                )
                            )
                        )
                    ]
                )
            ],
        ),
    )


def filter_configs(auth: AuthSpec | None) -> dict[str, betterproto2.Message]:
    """Filter name -> listener-level config of the front-door filters (none without auth)."""
    configs: dict[str, TypingAny] = {"envoy.filters.http.header_mutation": strip_identity_config()}
    if auth is not None:
        configs[JWT_FILTER] = jwt_filter_config(auth)
        configs[RBAC_FILTER] = rbac_filter_config()
    return configs
