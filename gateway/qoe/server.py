"""QoE process: settings, database (schema `qoe`, migrated at start), events (the outbox relay
publishing accepted batches, the durable VOD_QOE consumer folding them into aggregates), the
playback channel that says whose a session is, the gRPC server and its metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from vod.catalog.v1 import catalog_pb2
from vod.gateway.v1 import qoe_pb2, qoe_pb2_grpc
from vod.playback.v1 import playback_pb2
from vod.transcoding.v1 import transcoding_pb2

from gateway.qoe.config import QoeSettings, load_settings
from gateway.qoe.domain import QoeDomain
from gateway.qoe.edges import EdgeLogs, parse_pairs
from gateway.qoe.ladders import EncodedMedia, GrpcEncodedMedia, NoEncodedMedia
from gateway.qoe.metrics import QoeMetrics
from gateway.qoe.repository import PostgresQoeRepository
from gateway.qoe.servicer import QoeServicer
from gateway.qoe.sessions import PlaybackSessions
from services.runtime import lifecycle
from services.runtime.clients import open_channel
from services.runtime.logs import get_logger
from services.runtime.metrics import RpcMetrics
from services.runtime.server import Registration, ServerHandle, build_server

__all__ = ["MIGRATIONS", "SERVICE_NAME", "QoeRuntime", "main", "running", "started"]

SERVICE_NAME = qoe_pb2.DESCRIPTOR.services_by_name["QoeService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"
_log = get_logger("qoe.server")


@dataclass
class QoeRuntime:
    handle: ServerHandle
    domain: QoeDomain
    repository: PostgresQoeRepository
    metrics: QoeMetrics

    @property
    def port(self) -> int:
        return self.handle.port


@asynccontextmanager
async def started(
    settings: QoeSettings, *, serve_metrics: bool = True, handle_signals: bool = False
) -> AsyncIterator[QoeRuntime]:
    runtime = settings.runtime
    async with AsyncExitStack() as stack:
        engine = await lifecycle.open_database(stack, runtime, settings.schema, MIGRATIONS)
        bus, relay = await lifecycle.open_events(stack, runtime, "qoe", engine)
        repository = PostgresQoeRepository(
            engine, on_commit=relay.notify if relay is not None else lambda: None
        )
        channel = open_channel(
            settings.playback_address,
            timeout_s=settings.playback_deadline_s,
            services=[playback_pb2.DESCRIPTOR.services_by_name["PlaybackService"]],
        )
        stack.push_async_callback(channel.close)
        media = _encoded_media(stack, settings)
        edges = await _edge_logs(stack, settings)
        rpc_metrics = RpcMetrics.create()
        metrics = QoeMetrics.create(rpc_metrics.registry)
        domain = QoeDomain(
            repository,
            PlaybackSessions(
                channel,
                deadline_s=settings.playback_deadline_s,
                cache_size=settings.session_cache_size,
            ),
            metrics,
            overview_window_s=settings.overview_window_s,
            report_window_s=settings.report_window_s,
            min_report_plays=settings.min_report_plays,
            media=media,
            edges=edges,
        )
        if bus is not None:
            domain.start_consumer(bus)
        lifecycle.background(stack, "qoe-pruner", _prune_forever(repository, settings))
        handle = build_server(
            runtime.grpc_address,
            [
                Registration(
                    SERVICE_NAME, qoe_pb2_grpc.add_QoeServiceServicer_to_server, QoeServicer(domain)
                )
            ],
            metrics=rpc_metrics,
        )
        await lifecycle.serve(
            stack, handle, runtime, serve_metrics=serve_metrics, handle_signals=handle_signals
        )
        _log.info("qoe.ready", port=handle.port, events=bus is not None)
        yield QoeRuntime(handle, domain, repository, metrics)


def _encoded_media(stack: AsyncExitStack, settings: QoeSettings) -> EncodedMedia:
    """Catalog and transcoding channels for the report's ladder and the queue depth."""
    if not (settings.catalog_address and settings.transcoding_address):
        return NoEncodedMedia()
    channels = []
    for address, service in (
        (settings.catalog_address, catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"]),
        (
            settings.transcoding_address,
            transcoding_pb2.DESCRIPTOR.services_by_name["TranscodingService"],
        ),
    ):
        channel = open_channel(address, timeout_s=settings.media_deadline_s, services=[service])
        stack.push_async_callback(channel.close)
        channels.append(channel)
    return GrpcEncodedMedia(*channels, deadline_s=settings.media_deadline_s)


async def _edge_logs(stack: AsyncExitStack, settings: QoeSettings) -> EdgeLogs | None:
    logs = parse_pairs(settings.edge_logs, "VOD_EDGE_LOGS")
    if not logs:
        return None
    http = httpx.AsyncClient()
    stack.push_async_callback(http.aclose)
    return EdgeLogs(
        logs,
        parse_pairs(settings.edge_urls, "VOD_EDGE_URLS"),
        deadline_s=settings.media_deadline_s,
        http=http,
    )


async def _prune_forever(repository: PostgresQoeRepository, settings: QoeSettings) -> None:
    while True:
        try:
            before = datetime.now(UTC) - timedelta(seconds=settings.retention_s)
            dropped = await repository.prune(before)
            if dropped:
                _log.info("qoe.pruned", rows=dropped)
        except Exception as exc:  # the database blinked: try again next round
            _log.warning("qoe.prune_failed", error=type(exc).__name__)
        await asyncio.sleep(settings.prune_every_s)


@asynccontextmanager
async def running(
    settings: QoeSettings, *, serve_metrics: bool = True, handle_signals: bool = False
) -> AsyncIterator[ServerHandle]:
    async with started(
        settings, serve_metrics=serve_metrics, handle_signals=handle_signals
    ) as service:
        yield service.handle


def main() -> None:
    lifecycle.run_service("qoe", load_settings, running)


if __name__ == "__main__":
    main()
