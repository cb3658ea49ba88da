"""Transcoding process: settings, database, events, object store, the gRPC server, the origin
and the HTTP upload front. Workers run separately (`services.transcoding.worker`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from vod.transcoding.v1 import transcoding_pb2, transcoding_pb2_grpc

from services.runtime import lifecycle
from services.runtime.clients import open_channel
from services.runtime.metrics import RpcMetrics
from services.runtime.server import (
    Registration,
    ServerHandle,
    build_server,
)
from services.transcoding.config import TranscodingSettings, load_settings
from services.transcoding.deps import ensure_jobs_stream, open_store
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
    settings: TranscodingSettings, *, serve_metrics: bool = True, handle_signals: bool = False
) -> AsyncIterator[Running]:
    """Migrate, open the pool, NATS (outbox relay, work-queue stream) and the store, start the
    gRPC server, the origin and the upload front; close all on exit."""
    runtime = settings.runtime
    async with AsyncExitStack() as stack:
        engine = await lifecycle.open_database(stack, runtime, settings.schema, MIGRATIONS)
        bus, relay = await lifecycle.open_events(stack, runtime, "transcoding", engine)
        if bus is not None:
            await ensure_jobs_stream(bus.jetstream, settings)
        repository = Repository(engine, on_commit=relay.notify if relay else lambda: None)
        store = await asyncio.to_thread(open_store, settings)
        deps = TranscodingDeps(repository, store, await _catalog_checker(settings, stack))
        handle, _ = create_server(settings, deps=deps)
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
        await lifecycle.serve(
            stack, handle, runtime, serve_metrics=serve_metrics, handle_signals=handle_signals
        )
        yield Running(handle, origin.port, front.port, store, repository)


def main() -> None:
    lifecycle.run_service("transcoding", load_settings, running)


if __name__ == "__main__":
    main()
