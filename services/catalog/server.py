"""Catalog process: wiring of settings, database, events and the gRPC server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import Counter
from vod.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from services.catalog import media_events
from services.catalog.config import CatalogSettings, load_settings
from services.catalog.domain import CatalogDomain, TitleRepository
from services.catalog.read_cache import CachedTitleRepository
from services.catalog.repository import PostgresTitleRepository
from services.catalog.servicer import CatalogServicer
from services.runtime import lifecycle
from services.runtime.follow import follow_subjects
from services.runtime.metrics import RpcMetrics
from services.runtime.outbox import OutboxRelay
from services.runtime.processes import sibling_versions
from services.runtime.server import (
    Registration,
    ServerHandle,
    build_server,
)
from services.runtime.title_cache import REMOVED_SUBJECT, UPDATED_SUBJECT, TitleCache

__all__ = ["MIGRATIONS", "SERVICE_NAME", "CatalogDeps", "create_server", "main", "running"]

SERVICE_NAME = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class CatalogDeps:
    repository: TitleRepository
    relay: OutboxRelay | None
    metrics: RpcMetrics | None = None


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
        metrics=deps.metrics or RpcMetrics.create(),
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
        stored = PostgresTitleRepository(engine, on_commit=relay.notify if relay else lambda: None)
        metrics = RpcMetrics.create()
        repository = await _with_read_cache(stack, settings, stored, metrics)
        if bus is not None:
            bus.consume(
                stream="VOD_MEDIA",
                durable=media_events.DURABLE,
                subject=media_events.SUBJECT,
                decode=media_events.decode,
                handler=media_events.handler(CatalogDomain(repository)),
            )
        handle, _ = create_server(settings, deps=CatalogDeps(repository, relay, metrics))
        await lifecycle.serve(
            stack, handle, runtime, serve_metrics=serve_metrics, handle_signals=handle_signals
        )
        yield handle


async def _with_read_cache(
    stack: AsyncExitStack,
    settings: CatalogSettings,
    stored: PostgresTitleRepository,
    metrics: RpcMetrics,
) -> TitleRepository:
    """`stored` behind the read cache, when it is on and the catalog's events can be followed
    (another catalog process's writes reach this one only through them)."""
    if settings.cache_ttl_s <= 0 or not settings.runtime.nats_url:
        return stored
    cache = TitleCache(
        settings.cache_ttl_s,
        settings.cache_size,
        Counter(
            "catalog_title_cache_lookups_total",
            "Titles looked up in the catalog's read cache, by result: hit, miss (read from "
            "PostgreSQL).",
            ["result"],
            registry=metrics.registry,
        ),
        Counter(
            "catalog_title_cache_invalidations_total",
            "Read cache drops by reason: written (by this process), updated, removed (events "
            "of any catalog process), reconnect or undecodable (everything dropped).",
            ["reason"],
            registry=metrics.registry,
        ),
        siblings=sibling_versions(),
    )
    close = await follow_subjects(
        settings.runtime.nats_url,
        {UPDATED_SUBJECT: cache.on_updated, REMOVED_SUBJECT: cache.on_removed},
        on_reconnect=cache.clear,
        name="catalog",
        connect_timeout_s=settings.runtime.outbound_timeout_s,
    )
    if close is None:
        return stored
    stack.push_async_callback(close)
    return CachedTitleRepository(stored, cache)


def main() -> None:
    lifecycle.run_service("catalog", load_settings, running)


if __name__ == "__main__":
    main()
