"""The start-up and shutdown steps every service shares.

Each service's `running(settings, *, handle_signals=...)` opens its parts on one AsyncExitStack
with these steps: the database (migrated first), NATS with the streams and the outbox relay,
background tasks, and the gRPC server with its metrics endpoint. Whatever is opened here is
closed in reverse order on exit. `run_service` is every process's `main()`: settings, logging,
`running` with the signal handlers installed before the service reports SERVING, then a graceful
drain on SIGTERM/SIGINT; with `VOD_<SERVICE>_PROCESSES` > 1 it supervises that many copies of
itself on the same port instead (`services.runtime.processes`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path
from typing import Any, Protocol, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from services.runtime import processes
from services.runtime.config import RuntimeSettings
from services.runtime.db import create_service_engine, migrate
from services.runtime.events import EventBus
from services.runtime.logs import configure_logging, get_logger
from services.runtime.metrics import start_metrics_server
from services.runtime.outbox import OutboxRelay
from services.runtime.server import ServerHandle, drain_on_signal, start
from services.runtime.tasks import cancel_and_wait

__all__ = ["background", "open_database", "open_events", "run_service", "serve"]

_log = get_logger("lifecycle")


async def open_database(
    stack: AsyncExitStack,
    runtime: RuntimeSettings,
    schema: str,
    migrations: Path,
    *,
    pool_size: int | None = None,
) -> AsyncEngine:
    """Migrate the service's schema to head and open its connection pool (`pool_size`
    connections, or the runtime's default)."""
    if not runtime.database_url:
        raise SystemExit("VOD_DATABASE_URL is not set; `vod up` sets it, or point it at PostgreSQL")
    await asyncio.to_thread(migrate, runtime.database_url, schema, migrations)
    engine = (
        create_service_engine(runtime.database_url, schema)
        if pool_size is None
        else create_service_engine(runtime.database_url, schema, pool_size=pool_size)
    )
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
    if serve_metrics and processes.child_index() is None:  # else the supervisor serves them
        host, port = runtime.metrics_host_port
        start_metrics_server(handle.metrics, host, port)
    await start(handle, handle_signals=handle_signals)
    stack.push_async_callback(handle.server.stop, runtime.drain_grace_s)


def background(
    stack: AsyncExitStack, name: str, coro: Coroutine[Any, Any, None]
) -> asyncio.Task[None]:
    """Run `coro` as a named task for as long as the stack is open: a crash is logged with the
    task's name (and the task ends), and on exit the task is cancelled until it has ended."""

    async def supervised() -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("background.task_failed", task=name)
            raise

    task = asyncio.create_task(supervised(), name=name)

    stack.push_async_callback(cancel_and_wait, [task])
    return task


class _Settings(Protocol):
    @property
    def runtime(self) -> RuntimeSettings: ...


S = TypeVar("S", bound=_Settings)
R = TypeVar("R")


def run_service(
    name: str,
    load_settings: Callable[[], S],
    running: Callable[..., AbstractAsyncContextManager[R]],
    *,
    handle_of: Callable[[R], ServerHandle] | None = None,
) -> None:
    """A service process from start to exit: load its settings, configure logging, open
    everything with `running(settings, handle_signals=True)` and drain on SIGTERM/SIGINT.
    `handle_of` picks the gRPC handle out of what `running` yields (default: its `.handle`, or
    the value itself when it is a `ServerHandle`)."""
    settings = load_settings()
    configure_logging(name, settings.runtime.log_level)
    index = processes.child_index()
    if settings.runtime.processes > 1 and index is None:
        raise SystemExit(processes.supervise(name, settings.runtime))
    if index is not None:
        structlog.contextvars.bind_contextvars(process=index)

    def pick(value: R) -> ServerHandle:
        if handle_of is not None:
            return handle_of(value)
        if isinstance(value, ServerHandle):
            return value
        handle = getattr(value, "handle", None)
        if not isinstance(handle, ServerHandle):
            raise TypeError(f"{name}: running() yielded {type(value).__name__}, no ServerHandle")
        return handle

    async def serve_until_signalled() -> None:
        async with running(settings, handle_signals=True) as value:
            await drain_on_signal(pick(value), settings.runtime.drain_grace_s)

    asyncio.run(serve_until_signalled())
