"""Playback process: settings, database, events, the dependencies' channels, the gRPC server,
the per-session manifest endpoint, the heartbeat flusher and the expiry sweeper."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from vod.accounts.v1 import accounts_pb2
from vod.catalog.v1 import catalog_pb2
from vod.playback.v1 import playback_pb2, playback_pb2_grpc
from vod.transcoding.v1 import transcoding_pb2

from services.playback.config import PlaybackSettings, load_settings
from services.playback.deps import (
    AccountsDirectory,
    GrpcAccounts,
    GrpcCatalog,
    GrpcMediaLibrary,
    HttpOrigin,
    MediaLibrary,
    OriginManifests,
    TitleCatalog,
)
from services.playback.domain import PlaybackDomain, PlaybackRepository
from services.playback.http import start_http
from services.playback.repository import PostgresPlaybackRepository
from services.playback.servicer import PlaybackServicer
from services.runtime import lifecycle
from services.runtime.clients import open_channel
from services.runtime.logs import get_logger
from services.runtime.metrics import RpcMetrics
from services.runtime.processes import sibling_versions
from services.runtime.server import Registration, ServerHandle, build_server

__all__ = [
    "MIGRATIONS",
    "SERVICE_NAME",
    "PlaybackDeps",
    "Running",
    "create_server",
    "main",
    "running",
]

SERVICE_NAME = playback_pb2.DESCRIPTOR.services_by_name["PlaybackService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"

_log = get_logger("playback.server")


@dataclass
class PlaybackDeps:
    repository: PlaybackRepository
    catalog: TitleCatalog
    media: MediaLibrary
    accounts: AccountsDirectory
    origin: OriginManifests
    edge_http: httpx.AsyncClient | None = None


@dataclass
class Running:
    """What `running` yields: the gRPC handle, the manifest endpoint's port, the domain."""

    handle: ServerHandle
    http_port: int
    domain: PlaybackDomain

    @property
    def port(self) -> int:
        return self.handle.port


def build_domain(settings: PlaybackSettings, deps: PlaybackDeps) -> PlaybackDomain:
    return PlaybackDomain(
        settings,
        deps.repository,
        catalog=deps.catalog,
        media=deps.media,
        accounts=deps.accounts,
        origin=deps.origin,
        edge_http=deps.edge_http,
        siblings=sibling_versions(),
    )


def create_server(
    settings: PlaybackSettings, *, deps: PlaybackDeps, domain: PlaybackDomain | None = None
) -> tuple[ServerHandle, int]:
    """The playback gRPC server bound to the configured address (not started)."""
    handle = build_server(
        settings.runtime.grpc_address,
        [
            Registration(
                SERVICE_NAME,
                playback_pb2_grpc.add_PlaybackServiceServicer_to_server,
                PlaybackServicer(domain or build_domain(settings, deps)),
            )
        ],
        metrics=RpcMetrics.create(),
    )
    return handle, handle.port


async def _sweep(domain: PlaybackDomain, every_s: float) -> None:
    while True:
        try:
            expired = await domain.sweep_once()
            if expired:
                _log.info("sessions.expired", count=expired)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database hiccuped: sweep again next round
            _log.warning("sweep.failed", error=str(exc))
        await asyncio.sleep(every_s)


def _channel(stack: AsyncExitStack, settings: PlaybackSettings, target: str, service: object):
    channel = open_channel(
        target,
        timeout_s=settings.runtime.outbound_timeout_s,
        services=[service],  # type: ignore[list-item]
    )
    stack.push_async_callback(channel.close)
    return channel


@asynccontextmanager
async def running(
    settings: PlaybackSettings,
    *,
    accounts: AccountsDirectory | None = None,
    serve_metrics: bool = True,
    handle_signals: bool = False,
) -> AsyncIterator[Running]:
    """Migrate and open the pool, NATS and the outbox relay, channels to catalog, transcoding
    and accounts (unless `accounts` is given), start the gRPC server, the manifest endpoint, the
    heartbeat flusher and the sweeper; close all on exit (the last heartbeats are flushed)."""
    runtime = settings.runtime
    async with AsyncExitStack() as stack:
        engine = await lifecycle.open_database(stack, runtime, settings.schema, MIGRATIONS)
        _bus, relay = await lifecycle.open_events(stack, runtime, "playback", engine)
        repository = PostgresPlaybackRepository(
            engine, on_commit=relay.notify if relay else lambda: None
        )
        catalog = GrpcCatalog(
            _channel(
                stack,
                settings,
                settings.catalog_address,
                catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"],
            )
        )
        media = GrpcMediaLibrary(
            _channel(
                stack,
                settings,
                settings.transcoding_address,
                transcoding_pb2.DESCRIPTOR.services_by_name["TranscodingService"],
            )
        )
        if accounts is None:
            accounts = GrpcAccounts(
                _channel(
                    stack,
                    settings,
                    settings.accounts_address,
                    accounts_pb2.DESCRIPTOR.services_by_name["AccountsService"],
                )
            )
        timeout = httpx.Timeout(runtime.outbound_timeout_s)
        origin_http = httpx.AsyncClient(timeout=timeout)
        stack.push_async_callback(origin_http.aclose)
        edge_http = httpx.AsyncClient(timeout=httpx.Timeout(30.0))
        stack.push_async_callback(edge_http.aclose)
        deps = PlaybackDeps(
            repository,
            catalog,
            media,
            accounts,
            HttpOrigin(settings.origin_url, origin_http),
            edge_http,
        )
        domain = build_domain(settings, deps)
        domain.start()
        stack.push_async_callback(domain.close)
        lifecycle.background(stack, "session-sweeper", _sweep(domain, settings.sweep_every_s))
        runner, http_port = await start_http(domain, settings.http_address)
        stack.push_async_callback(runner.cleanup)
        handle, _ = create_server(settings, deps=deps, domain=domain)
        await lifecycle.serve(
            stack, handle, runtime, serve_metrics=serve_metrics, handle_signals=handle_signals
        )
        yield Running(handle, http_port, domain)


def main() -> None:
    lifecycle.run_service("playback", load_settings, running)


if __name__ == "__main__":
    main()
