"""Search process: wiring of settings, engine, event feeds and the gRPC server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import grpc
from vod.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from vod.search.v1 import search_pb2, search_pb2_grpc

from services.runtime import lifecycle
from services.runtime.clients import open_channel
from services.runtime.errors import Unavailable
from services.runtime.logs import get_logger
from services.runtime.metrics import RpcMetrics
from services.runtime.server import (
    Registration,
    ServerHandle,
    build_server,
)
from services.search.activity import Activity
from services.search.config import SearchSettings, load_settings
from services.search.domain import SearchDomain, TitlePages
from services.search.engine import SearchEngine
from services.search.indexer import ActivityFeed, CatalogFeed, EngineRunner, Indexer
from services.search.ledger import Ledger
from services.search.servicer import SearchServicer

__all__ = [
    "SERVICE_NAME",
    "SearchDeps",
    "create_engine",
    "create_server",
    "main",
    "running",
]

SERVICE_NAME = search_pb2.DESCRIPTOR.services_by_name["SearchService"].full_name
_log = get_logger("search")


@dataclass
class SearchDeps:
    domain: SearchDomain


def create_engine(settings: SearchSettings) -> SearchEngine:
    """Meilisearch when `VOD_MEILI_URL` is set, else the embedded Tantivy index."""
    if settings.meili.url:
        from services.search.meili_engine import MeiliEngine

        return MeiliEngine(settings.meili)
    from services.search.tantivy_engine import TantivyEngine

    return TantivyEngine(settings.data_dir / "tantivy")


def create_server(settings: SearchSettings, *, deps: SearchDeps) -> tuple[ServerHandle, int]:
    """The search gRPC server bound to the configured address (not started)."""
    handle = build_server(
        settings.runtime.grpc_address,
        [
            Registration(
                SERVICE_NAME,
                search_pb2_grpc.add_SearchServiceServicer_to_server,
                SearchServicer(deps.domain),
            )
        ],
        metrics=RpcMetrics.create(),
    )
    return handle, handle.port


def catalog_pages(stub: catalog_pb2_grpc.CatalogServiceStub, timeout_s: float) -> TitlePages:
    async def pages() -> AsyncIterator[Sequence[catalog_pb2.Title]]:
        token = ""
        while True:
            try:
                response = await stub.ListTitles(
                    catalog_pb2.ListTitlesRequest(page_size=1000, page_token=token),
                    timeout=max(timeout_s, 30.0),
                )
            except grpc.aio.AioRpcError as exc:
                raise Unavailable(
                    message=f"the catalog is unavailable ({exc.code().name}); retry",
                    reason="CATALOG_UNAVAILABLE",
                ) from exc
            yield response.titles
            token = response.next_page_token
            if not token:
                return

    return pages


@asynccontextmanager
async def running(
    settings: SearchSettings, *, serve_metrics: bool = True, handle_signals: bool = False
) -> AsyncIterator[ServerHandle]:
    """Open the engine, follow the catalog and activity streams, start the server; close all on
    exit."""
    runtime = settings.runtime
    async with AsyncExitStack() as stack:
        engine = await asyncio.to_thread(create_engine, settings)
        stack.callback(engine.close)
        run = EngineRunner(engine)
        stack.callback(run.close)
        ledger = Ledger(settings.data_dir / "ledger.sqlite3")
        stack.callback(ledger.close)
        activity = Activity()
        indexer = Indexer(run, ledger, activity)
        await indexer.start()
        channel = open_channel(
            settings.catalog_target,
            timeout_s=runtime.outbound_timeout_s,
            services=[catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"]],
        )
        stack.push_async_callback(channel.close)
        domain = SearchDomain(
            run,
            indexer,
            activity,
            default_region=settings.default_region,
            catalog_pages=catalog_pages(
                catalog_pb2_grpc.CatalogServiceStub(channel), runtime.outbound_timeout_s
            ),
        )
        bus, _ = await lifecycle.open_events(stack, runtime, "search", None)
        if bus is not None:
            feed = CatalogFeed(bus.jetstream, indexer, durable=settings.durable)
            lifecycle.background(stack, "catalog-feed", feed.run())
            lifecycle.background(
                stack, "activity-feed", ActivityFeed(bus.jetstream, activity).run()
            )
        else:
            _log.warning(
                "search.no_nats",
                detail="VOD_NATS_URL is not set; the index will not follow the catalog",
            )
        lifecycle.background(
            stack, "maintenance", indexer.maintain(settings.maintenance_interval_s)
        )
        handle, _ = create_server(settings, deps=SearchDeps(domain))
        await lifecycle.serve(
            stack, handle, runtime, serve_metrics=serve_metrics, handle_signals=handle_signals
        )
        _log.info("search.ready", engine=engine.name, documents=await run(engine.count))
        yield handle


def main() -> None:
    lifecycle.run_service("search", load_settings, running)


if __name__ == "__main__":
    main()
