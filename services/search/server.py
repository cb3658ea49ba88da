"""Search process: wiring of settings, engine, event feeds and the gRPC server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import nats
from vod.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from vod.search.v1 import search_pb2, search_pb2_grpc

from services.runtime.clients import open_channel
from services.runtime.errors import Unavailable
from services.runtime.events import EventBus
from services.runtime.logs import configure_logging, get_logger
from services.runtime.metrics import RpcMetrics, start_metrics_server
from services.runtime.server import (
    Registration,
    ServerHandle,
    build_server,
    drain_on_signal,
    start,
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
    "serve",
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


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass


def _supervised(name: str, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    async def run() -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("search.task_failed", task=name)
            raise

    return asyncio.create_task(run(), name=name)


@asynccontextmanager
async def running(
    settings: SearchSettings, *, serve_metrics: bool = True
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
        tasks: list[asyncio.Task[None]] = []
        if runtime.nats_url:
            nc = await nats.connect(
                runtime.nats_url,
                name="search",
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=runtime.outbound_timeout_s,
            )
            js = nc.jetstream(timeout=runtime.outbound_timeout_s)
            stack.push_async_callback(nc.close)  # not drain: the pull requests would hold it
            await EventBus(nc, js, timeout_s=runtime.outbound_timeout_s).ensure_streams()
            tasks.append(
                _supervised(
                    "catalog-feed", CatalogFeed(js, indexer, durable=settings.durable).run()
                )
            )
            tasks.append(_supervised("activity-feed", ActivityFeed(js, activity).run()))
        else:
            _log.warning(
                "search.no_nats",
                detail="VOD_NATS_URL is not set; the index will not follow the catalog",
            )
        tasks.append(_supervised("maintenance", indexer.maintain(settings.maintenance_interval_s)))
        stack.push_async_callback(_cancel, tasks)
        handle, _ = create_server(settings, deps=SearchDeps(domain))
        if serve_metrics:
            host, port = runtime.metrics_host_port
            start_metrics_server(handle.metrics, host, port)
        await start(handle)
        stack.push_async_callback(handle.server.stop, runtime.drain_grace_s)
        _log.info("search.ready", engine=engine.name, documents=await run(engine.count))
        yield handle


async def serve(settings: SearchSettings) -> None:
    async with running(settings) as handle:
        await drain_on_signal(handle, settings.runtime.drain_grace_s)


def main() -> None:
    settings = load_settings()
    configure_logging("search", settings.runtime.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
