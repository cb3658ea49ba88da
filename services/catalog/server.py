"""Catalog process: wiring of settings, database, events and the gRPC server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from vod.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from services.catalog import media_events
from services.catalog.config import CatalogSettings, load_settings
from services.catalog.domain import CatalogDomain
from services.catalog.repository import PostgresTitleRepository
from services.catalog.servicer import CatalogServicer
from services.runtime import lifecycle
from services.runtime.metrics import RpcMetrics
from services.runtime.outbox import OutboxRelay
from services.runtime.server import (
    Registration,
    ServerHandle,
    build_server,
)

__all__ = ["MIGRATIONS", "SERVICE_NAME", "CatalogDeps", "create_server", "main", "running"]

SERVICE_NAME = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class CatalogDeps:
    repository: PostgresTitleRepository
    relay: OutboxRelay | None


def create_server(settings: CatalogSettings, *, deps: CatalogDeps) -> tuple[ServerHandle, int]:
    """The catalog gRPC server bound to the configured address (not started)."""
    domain = CatalogDomain(deps.repository)
    handle = build_server(
        settings.runtime.grpc_address,
        [
            Registration(
                SERVICE_NAME,
                catalog_pb2_grpc.add_CatalogServiceServicer_to_server,
                CatalogServicer(domain),
            )
        ],
        metrics=RpcMetrics.create(),
    )
    return handle, handle.port


@asynccontextmanager
async def running(
    settings: CatalogSettings, *, serve_metrics: bool = True, handle_signals: bool = False
) -> AsyncIterator[ServerHandle]:
    """Open the pool, NATS and the outbox relay, start the server; close all on exit."""
    runtime = settings.runtime
    async with AsyncExitStack() as stack:
        engine = await lifecycle.open_database(stack, runtime, settings.schema, MIGRATIONS)
        bus, relay = await lifecycle.open_events(stack, runtime, "catalog", engine)
        repository = PostgresTitleRepository(
            engine, on_commit=relay.notify if relay else lambda: None
        )
        if bus is not None:
            bus.consume(
                stream="VOD_MEDIA",
                durable=media_events.DURABLE,
                subject=media_events.SUBJECT,
                decode=media_events.decode,
                handler=media_events.handler(CatalogDomain(repository)),
            )
        handle, _ = create_server(settings, deps=CatalogDeps(repository, relay))
        await lifecycle.serve(
            stack, handle, runtime, serve_metrics=serve_metrics, handle_signals=handle_signals
        )
        yield handle


def main() -> None:
    lifecycle.run_service("catalog", load_settings, running)


if __name__ == "__main__":
    main()
