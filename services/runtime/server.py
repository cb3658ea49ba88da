"""gRPC server bootstrap shared by every service.

`build_server` registers the servicers, gRPC health (reported per service name), server
reflection and the shared interceptor, and binds the configured address. `start` marks health
SERVING; `drain_on_signal` waits for SIGTERM/SIGINT, then drains: NOT_SERVING first (so
Envoy's health checks move traffic away), then `server.stop(grace)`.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.runtime.interceptor import RejectedHook, ServiceInterceptor
from services.runtime.logs import get_logger
from services.runtime.metrics import RpcMetrics
from services.runtime.processes import shares_port

__all__ = ["Registration", "ServerHandle", "build_server", "drain_on_signal", "start"]

_log = get_logger("server")

_MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Registration:
    """One gRPC service to serve: full name, generated `add_*_to_server`, servicer, and
    optionally `on_rejected`: awaited (method, request, error) when the shared interceptor
    refuses a request of this service before the servicer sees it (the contract's validation
    rules, an undecodable body) — for services that must record every refusal (licensing's
    audit). Its own failures are logged and never change the answer."""

    service_name: str
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any
    on_rejected: RejectedHook | None = None


@dataclass
class ServerHandle:
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    service_names: tuple[str, ...]
    metrics: RpcMetrics
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    signals_installed: bool = False

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT set `stop_requested` (once per handle)."""
        if self.signals_installed:
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_requested.set)
        self.signals_installed = True

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self.service_names):
            await self.health.set(name, status)


def build_server(
    address: str,
    registrations: Sequence[Registration],
    *,
    metrics: RpcMetrics | None = None,
) -> ServerHandle:
    """Create (not start) a server bound to `address` ("127.0.0.1:0" picks a free port)."""
    metrics = metrics or RpcMetrics.create()
    server = grpc.aio.server(
        interceptors=[
            ServiceInterceptor(
                metrics,
                on_rejected={r.service_name: r.on_rejected for r in registrations if r.on_rejected},
            )
        ],
        options=[
            ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
            # Supervised siblings share the port (services.runtime.processes); otherwise a
            # second process on a taken port must fail to bind, not split its traffic.
            ("grpc.so_reuseport", 1 if shares_port() else 0),
        ],
    )
    for registration in registrations:
        registration.add_to_server(registration.servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = tuple(r.service_name for r in registrations)
    reflection.enable_server_reflection(
        (
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind gRPC server to {address}")
    return ServerHandle(server, port, health_servicer, names, metrics)


async def start(handle: ServerHandle, *, handle_signals: bool = False) -> None:
    """Start serving and report SERVING for every registered service. A process entry point
    passes `handle_signals=True` so SIGTERM/SIGINT handlers are in place before the service
    looks healthy: a signal at any moment after that is a graceful drain (`drain_on_signal`)."""
    if handle_signals:
        handle.install_signal_handlers()
    await handle.server.start()
    await handle.set_serving(True)
    _log.info("server.started", port=handle.port, services=list(handle.service_names))


async def drain_on_signal(handle: ServerHandle, grace_s: float) -> None:
    """Wait for SIGTERM or SIGINT, then drain: NOT_SERVING first, then stop with a grace period."""
    handle.install_signal_handlers()
    await handle.stop_requested.wait()
    _log.info("server.draining", grace_s=grace_s)
    await handle.set_serving(False)
    await handle.server.stop(grace_s)
    _log.info("server.stopped")
