"""Following events to keep caches coherent: one plain NATS connection whose subscriptions drop
what their owners changed (the gateway's experiment assignments and titles, the catalog's own
read cache across replicas).

Plain NATS, not a durable JetStream consumer: a process that was not connected starts with
empty caches, so it needs no replay, and every instance sees every event. A reconnect may have
missed events, so it calls `on_reconnect` (the caches drop everything)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import nats

from services.runtime.logs import get_logger

__all__ = ["Closer", "follow_subjects"]

_log = get_logger("follow")

Closer = Callable[[], Awaitable[None]]
Handler = Callable[[bytes], None]


async def follow_subjects(
    nats_url: str,
    handlers: Mapping[str, Handler],
    *,
    on_reconnect: Callable[[], None],
    name: str,
    connect_timeout_s: float = 5.0,
) -> Closer | None:
    """Subscribe `handlers` (subject -> function of the payload) on `nats_url`; returns the
    coroutine function that closes the connection, or None (logged) when NATS cannot be
    reached at start (the caller then runs without event-kept caches). A handler that raises
    is logged; the subscription goes on."""

    def dispatch(subject: str, handler: Handler) -> Callable[[Any], Awaitable[None]]:
        async def handle(msg: Any) -> None:
            try:
                handler(msg.data)
            except Exception:
                _log.exception("follow.handler_failed", subject=subject)

        return handle

    async def quiet(exc: Exception) -> None:  # nats-py prints tracebacks by default
        _log.debug("follow.nats_error", error=str(exc))

    async def reconnected() -> None:
        _log.info("follow.reconnected", subjects=list(handlers))
        on_reconnect()

    try:
        nc = await asyncio.wait_for(
            nats.connect(
                nats_url,
                name=f"{name}-follow",
                connect_timeout=2,
                max_reconnect_attempts=-1,  # once connected, never give up
                reconnected_cb=reconnected,
                error_cb=quiet,
            ),
            timeout=connect_timeout_s,  # the first connection is retried forever otherwise
        )
        for subject, handler in handlers.items():
            await nc.subscribe(subject, cb=dispatch(subject, handler))
        await nc.flush()
    except Exception as exc:
        _log.warning("follow.unavailable", nats_url=nats_url, error=str(exc))
        return None
    return nc.close
