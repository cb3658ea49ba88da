"""The services that exist, in one place: how the launcher starts them, where their gRPC and
metrics ports sit relative to the base ports, and what they migrate.

Adding a service to the mesh is adding a line here (the Envoy routes, health checks and `vod up`
follow from it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.runtime import ports

__all__ = ["SERVICES", "HttpExport", "ServiceEntry"]

_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class HttpExport:
    """A plain-HTTP listener a service opens besides gRPC, published on the gateway."""

    name: str
    env_var: str
    """The service reads its listen address (host:port) from this variable."""
    prefix: str
    """Gateway path prefix routed to it..."""
    rewrite: str
    """...and what that prefix becomes upstream."""
    timeout_s: float = 30.0
    """0 disables the route timeout (long uploads)."""
    idle_timeout_s: float = 0.0
    """Longest silence on one request at the gateway; 0 = Envoy's stream idle timeout (5 min)."""
    access: str = "public"
    """Access class at the front door (public, viewer, admin); "internal" is not routed there."""

    @property
    def port_offset(self) -> int:
        """Port = the HTTP base port + offset, from `services.runtime.ports` (the one table)."""
        return ports.HTTP_OFFSETS[self.name]


@dataclass(frozen=True)
class ServiceEntry:
    name: str
    """Short name: the env prefix (VOD_<NAME>_...), the log file and the Envoy cluster."""
    module: str
    """`python -m <module>` runs the service."""
    grpc_service: str
    schema: str | None = None
    """Postgres schema the service owns (migrated by the launcher before it starts)."""
    workers: tuple[str, ...] = ()
    """Modules run as background worker processes (`python -m <module>`), one process each."""
    http: tuple[HttpExport, ...] = ()
    secrets: tuple[str, ...] = ()
    """Environment variables the launcher fills with per-deployment secrets (generated once into
    `<VOD_HOME>/secrets/`); only the services listed get them."""

    @property
    def port_offset(self) -> int:
        """gRPC port = base + offset, metrics port = base + offset, from `services.runtime.ports`
        (the one table: a service's own defaults agree with the mesh's layout)."""
        return ports.SERVICE_OFFSETS[self.name]

    @property
    def migrations(self) -> Path | None:
        if self.schema is None:
            return None
        return _ROOT.joinpath(*self.module.split(".")) / "migrations"


# Catalog first: un-addressed gRPC health checks through Envoy go to the first service.
SERVICES: tuple[ServiceEntry, ...] = (
    ServiceEntry(
        "catalog",
        "services.catalog",
        "vod.catalog.v1.CatalogService",
        schema="catalog",
        secrets=("VOD_PAGE_TOKEN_SECRET",),
    ),
    ServiceEntry(
        "transcoding",
        "services.transcoding",
        "vod.transcoding.v1.TranscodingService",
        schema="transcoding",
        workers=("services.transcoding.worker",),
        secrets=("VOD_PACKAGER_SECRET", "VOD_PAGE_TOKEN_SECRET"),
        http=(
            # Published media, read-only: /origin/titles/<title>/manifests/<media>/master.m3u8.
            # Edges pull from it directly; through the gateway only operators may preview.
            HttpExport("origin", "VOD_ORIGIN_ADDRESS", "/origin/", "/", access="admin"),
            # Uploads: PUT /upload/v1/uploads/<id> with Content-Range chunks (operators only).
            # One PUT may take up to an hour; a body that stalls for 60 s is cut at the gateway
            # (the service's own read timeout, VOD_HTTP_READ_TIMEOUT_S = 30 s, answers first
            # with its JSON 408, so Envoy's idle timeout only catches a stalled response).
            HttpExport(
                "upload",
                "VOD_UPLOAD_HTTP_ADDRESS",
                "/upload/",
                "/upload/",
                timeout_s=3600,
                access="admin",
                idle_timeout_s=60,
            ),
        ),
    ),
    ServiceEntry(
        "licensing",
        "services.licensing",
        "vod.licensing.v1.LicensingService",
        schema="licensing",
        secrets=(
            "VOD_LICENSING_MASTER_KEYS",
            "VOD_PLAYBACK_SECRET",
            "VOD_PACKAGER_SECRET",
            "VOD_PAGE_TOKEN_SECRET",
        ),
    ),
    ServiceEntry(
        "playback",
        "services.playback",
        "vod.playback.v1.PlaybackService",
        schema="playback",
        secrets=("VOD_PLAYBACK_SECRET", "VOD_EDGE_SECRET", "VOD_PAGE_TOKEN_SECRET"),
        http=(
            # Per-session manifests, authorised by the session token in their query string.
            HttpExport("play", "VOD_PLAYBACK_HTTP_ADDRESS", "/play/", "/play/"),
        ),
    ),
    ServiceEntry(
        "accounts",
        "services.accounts",
        "vod.accounts.v1.AccountsService",
        schema="accounts",
        secrets=("VOD_PAGE_TOKEN_SECRET",),
        http=(
            # The JWKS over plain HTTP for Envoy's jwt_authn (clients read it through GetJwks'
            # REST binding, /.well-known/jwks.json, at the gateway).
            HttpExport("jwks", "VOD_ACCOUNTS_HTTP_ADDRESS", "/jwks/", "/", access="internal"),
        ),
    ),
    ServiceEntry(
        "recommendations",
        "services.recommendations",
        "vod.recommendations.v1.RecommendationsService",
        schema="recommendations",
        secrets=("VOD_PAGE_TOKEN_SECRET",),
    ),
    ServiceEntry(
        "search",
        "services.search",
        "vod.search.v1.SearchService",
        secrets=("VOD_PAGE_TOKEN_SECRET",),
    ),
    # A/B tests of the client surfaces: assignments, exposures, the read-out.
    ServiceEntry(
        "experiments",
        "services.experiments",
        "vod.experiments.v1.ExperimentsService",
        schema="experiments",
    ),
    # The home feed (a backend-for-frontend over playback, recommendations, search, catalog).
    ServiceEntry(
        "gateway",
        "gateway.home",
        "vod.gateway.v1.GatewayService",
        http=(
            # The web app (gateway/web.py): the front door's catch-all, routed after every API,
            # media and health route (mesh/envoy_config.py puts "/" prefixes last).
            HttpExport("web", "VOD_GATEWAY_HTTP_ADDRESS", "/", "/", access="public"),
        ),
    ),
    # Viewer QoE: players' batches (checked against playback), their aggregates, the ops page.
    ServiceEntry("qoe", "gateway.qoe", "vod.gateway.v1.QoeService", schema="qoe"),
)
