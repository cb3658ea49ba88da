"""The start-up and shutdown steps every service's `running()` shares, on one AsyncExitStack:
the database (migrated first), NATS with the streams and the outbox relay, and the gRPC server
with its metrics endpoint. Whatever is opened here is closed in reverse order on exit."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from services.runtime.config import RuntimeSettings
from services.runtime.db import create_service_engine, migrate
from services.runtime.events import EventBus
from services.runtime.metrics import start_metrics_server
from services.runtime.outbox import OutboxRelay
from services.runtime.server import ServerHandle, start

__all__ = ["open_database", "open_events", "serve"]


async def open_database(
    stack: AsyncExitStack, runtime: RuntimeSettings, schema: str, migrations: Path
) -> AsyncEngine:
    """Migrate the service's schema to head and open its connection pool."""
    if not runtime.database_url:
        raise SystemExit("VOD_DATABASE_URL is not set; `vod up` sets it, or point it at PostgreSQL")
    await asyncio.to_thread(migrate, runtime.database_url, schema, migrations)
    engine = create_service_engine(runtime.database_url, schema)
    stack.push_async_callback(engine.dispose)
    return engine


async def open_events(
    stack: AsyncExitStack, runtime: RuntimeSettings, name: str, engine: AsyncEngine | None
) -> tuple[EventBus | None, OutboxRelay | None]:
    """Connect to NATS (when configured), make sure the streams exist, and run the outbox relay
    for `engine`'s outbox table. Returns (None, None) without NATS."""
    if not runtime.nats_url:
        return None, None
    bus = await EventBus.connect(runtime.nats_url, name=name, timeout_s=runtime.outbound_timeout_s)
    stack.push_async_callback(bus.close)
    await bus.ensure_streams()
    relay = None
    if engine is not None:
        relay = OutboxRelay(engine, bus, retention_s=runtime.outbox_retention_s)
        relay.start()
        stack.push_async_callback(relay.stop)
    return bus, relay


async def serve(
    stack: AsyncExitStack,
    handle: ServerHandle,
    runtime: RuntimeSettings,
    *,
    serve_metrics: bool = True,
    handle_signals: bool = False,
) -> None:
    """Expose metrics, start the server (SERVING), and stop it with the grace period on exit."""
    if serve_metrics:
        host, port = runtime.metrics_host_port
        start_metrics_server(handle.metrics, host, port)
    await start(handle, handle_signals=handle_signals)
    stack.push_async_callback(handle.server.stop, runtime.drain_grace_s)
