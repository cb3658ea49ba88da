"""Transcoding process: settings, database, events, object store, the gRPC server, the origin
and the HTTP upload front. Workers run separately (`services.transcoding.worker`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from vod.transcoding.v1 import transcoding_pb2, transcoding_pb2_grpc

from services.runtime.clients import open_channel
from services.runtime.db import create_service_engine, migrate
from services.runtime.events import EventBus
from services.runtime.logs import configure_logging
from services.runtime.metrics import RpcMetrics, start_metrics_server
from services.runtime.outbox import OutboxRelay
from services.runtime.server import (
    Registration,
    ServerHandle,
    build_server,
    drain_on_signal,
    start,
)
from services.transcoding.config import TranscodingSettings, load_settings
from services.transcoding.deps import connect_jobs, open_store
from services.transcoding.jobs import JobDomain
from services.transcoding.media import ffmpeg_exe
from services.transcoding.repository import Repository
from services.transcoding.servicer import TranscodingServicer
from services.transcoding.store import ObjectStore
from services.transcoding.uploads import TitleChecker, UploadDomain
from services.transcoding.web import HttpListener, origin_server, published_check, upload_server

__all__ = [
    "MIGRATIONS",
    "SERVICE_NAME",
    "Running",
    "TranscodingDeps",
    "create_server",
    "main",
    "running",
    "serve",
]

SERVICE_NAME = transcoding_pb2.DESCRIPTOR.services_by_name["TranscodingService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class TranscodingDeps:
    repository: Repository
    store: ObjectStore
    title_exists: TitleChecker | None = None


@dataclass
class Running:
    """What `running` yields: the gRPC handle and the bound HTTP ports."""

    handle: ServerHandle
    origin_port: int
    upload_port: int
    store: ObjectStore
    repository: Repository

    @property
    def port(self) -> int:
        return self.handle.port


def create_server(
    settings: TranscodingSettings, *, deps: TranscodingDeps
) -> tuple[ServerHandle, int]:
    """The transcoding gRPC server bound to the configured address (not started)."""
    servicer = TranscodingServicer(
        _uploads(settings, deps), JobDomain(deps.repository, watch_poll_s=settings.watch_poll_s)
    )
    handle = build_server(
        settings.runtime.grpc_address,
        [
            Registration(
                SERVICE_NAME,
                transcoding_pb2_grpc.add_TranscodingServiceServicer_to_server,
                servicer,
            )
        ],
        metrics=RpcMetrics.create(),
    )
    return handle, handle.port


def _uploads(settings: TranscodingSettings, deps: TranscodingDeps) -> UploadDomain:
    return UploadDomain(
        deps.repository,
        deps.store,
        ffmpeg=ffmpeg_exe(settings.ffmpeg),
        ttl_s=settings.upload_ttl_s,
        title_exists=deps.title_exists,
    )


async def _catalog_checker(
    settings: TranscodingSettings, stack: AsyncExitStack
) -> TitleChecker | None:
    if not settings.catalog_address:
        return None
    import grpc
    from vod.catalog.v1 import catalog_pb2, catalog_pb2_grpc

    channel = open_channel(
        settings.catalog_address,
        timeout_s=settings.runtime.outbound_timeout_s,
        services=[catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"]],
    )
    stack.push_async_callback(channel.close)
    stub = catalog_pb2_grpc.CatalogServiceStub(channel)

    async def exists(title: str) -> bool:
        try:
            await stub.GetTitle(catalog_pb2.GetTitleRequest(name=title))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise
        return True

    return exists


@asynccontextmanager
async def running(
    settings: TranscodingSettings, *, serve_metrics: bool = True
) -> AsyncIterator[Running]:
    """Migrate, open the pool, NATS (outbox relay, work-queue stream) and the store, start the
    gRPC server, the origin and the upload front; close all on exit."""
    runtime = settings.runtime
    if not runtime.database_url:
        raise SystemExit("VOD_DATABASE_URL is not set; `vod up` sets it, or point it at PostgreSQL")
    async with AsyncExitStack() as stack:
        await asyncio.to_thread(migrate, runtime.database_url, settings.schema, MIGRATIONS)
        engine = create_service_engine(runtime.database_url, settings.schema)
        stack.push_async_callback(engine.dispose)
        relay = None
        if runtime.nats_url:
            bus = await EventBus.connect(
                runtime.nats_url, name="transcoding", timeout_s=runtime.outbound_timeout_s
            )
            stack.push_async_callback(bus.close)
            await bus.ensure_streams()
            nc, _js = await connect_jobs(settings, "transcoding-queue")  # the stream must exist
            stack.push_async_callback(nc.close)
            relay = OutboxRelay(engine, bus, retention_s=settings.runtime.outbox_retention_s)
            relay.start()
            stack.push_async_callback(relay.stop)
        repository = Repository(engine, on_commit=relay.notify if relay else lambda: None)
        store = await asyncio.to_thread(open_store, settings)
        deps = TranscodingDeps(repository, store, await _catalog_checker(settings, stack))
        handle, _ = create_server(settings, deps=deps)
        if serve_metrics:
            host, port = runtime.metrics_host_port
            start_metrics_server(handle.metrics, host, port)
        origin: HttpListener = await origin_server(
            settings.origin_address, store, published_check(repository.get_media)
        ).start()
        stack.push_async_callback(origin.stop)
        front = await upload_server(
            settings.upload_http_address,
            _uploads(settings, deps),
            read_timeout_s=settings.http_read_timeout_s,
        ).start()
        stack.push_async_callback(front.stop)
        await start(handle)
        stack.push_async_callback(handle.server.stop, runtime.drain_grace_s)
        yield Running(handle, origin.port, front.port, store, repository)


async def serve(settings: TranscodingSettings) -> None:
    async with running(settings) as run:
        await drain_on_signal(run.handle, settings.runtime.drain_grace_s)


def main() -> None:
    settings = load_settings()
    configure_logging("transcoding", settings.runtime.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
