"""Licensing process: settings, database, events, the dependencies' channels and the gRPC
server."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor as _descriptor
from vod.accounts.v1 import accounts_pb2
from vod.catalog.v1 import catalog_pb2
from vod.licensing.v1 import licensing_pb2, licensing_pb2_grpc
from vod.playback.v1 import playback_pb2

from services.licensing.config import LicensingSettings, load_settings
from services.licensing.deps import GrpcAvailability, GrpcDevices, GrpcSessions
from services.licensing.domain import (
    AvailabilityChecker,
    DeviceDirectory,
    LicensingConfig,
    LicensingDomain,
    LicensingRepository,
    SessionDirectory,
)
from services.licensing.key_exchange import KeyExchange
from services.licensing.repository import PostgresLicensingRepository
from services.licensing.servicer import LicensingServicer
from services.runtime import lifecycle
from services.runtime.clients import open_channel
from services.runtime.errors import InvalidArgument
from services.runtime.interceptor import RejectedHook
from services.runtime.metrics import RpcMetrics
from services.runtime.server import Registration, ServerHandle, build_server

__all__ = [
    "MIGRATIONS",
    "SERVICE_NAME",
    "LicensingDeps",
    "Running",
    "build_domain",
    "create_server",
    "main",
    "running",
]

SERVICE_NAME = licensing_pb2.DESCRIPTOR.services_by_name["LicensingService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class LicensingDeps:
    repository: LicensingRepository
    sessions: SessionDirectory
    catalog: AvailabilityChecker
    devices: DeviceDirectory
    exchange: KeyExchange | None = None


@dataclass
class Running:
    """What `running` yields: the gRPC handle and the domain (for `rewrap_all`)."""

    handle: ServerHandle
    domain: LicensingDomain

    @property
    def port(self) -> int:
        return self.handle.port


def build_domain(settings: LicensingSettings, deps: LicensingDeps) -> LicensingDomain:
    return LicensingDomain(
        LicensingConfig(
            playback_secret=settings.playback_secret,
            packager_secret=settings.packager_secret,
            max_licenses_per_session=settings.max_licenses_per_session,
            cache_ttl_s=settings.cache_ttl_s,
        ),
        deps.repository,
        settings.master_keys,
        sessions=deps.sessions,
        catalog=deps.catalog,
        devices=deps.devices,
        exchange=deps.exchange,
    )


def create_server(
    settings: LicensingSettings, *, deps: LicensingDeps, domain: LicensingDomain | None = None
) -> tuple[ServerHandle, int]:
    """The licensing gRPC server bound to the configured address (not started)."""
    domain = domain or build_domain(settings, deps)
    handle = build_server(
        settings.runtime.grpc_address,
        [
            Registration(
                SERVICE_NAME,
                licensing_pb2_grpc.add_LicensingServiceServicer_to_server,
                LicensingServicer(domain),
                on_rejected=_audit_rejected(domain),
            )
        ],
        metrics=RpcMetrics.create(),
    )
    return handle, handle.port


def _audit_rejected(domain: LicensingDomain) -> RejectedHook:
    """Malformed licence and key requests are refused by the shared validation before the
    servicer runs; they are audited here like every other refusal."""

    async def hook(method: str, request: Any, error: InvalidArgument) -> None:
        if isinstance(request, licensing_pb2.AcquireClearKeyLicenseRequest):
            kids = []
            for kid in request.license_request.kids:
                try:
                    kids.append(base64.urlsafe_b64decode(kid + "=" * (-len(kid) % 4)).hex())
                except (ValueError, TypeError):
                    continue
            await domain.refuse_malformed(
                licensing_pb2.KEY_SYSTEM_CLEARKEY, request.session_token, kids
            )
        elif isinstance(request, licensing_pb2.GetHlsKeyRequest):
            await domain.refuse_malformed(
                licensing_pb2.KEY_SYSTEM_HLS_AES_128, request.session_token, [request.key_id]
            )

    return hook


def _channel(
    stack: AsyncExitStack,
    settings: LicensingSettings,
    target: str,
    service: _descriptor.ServiceDescriptor,
) -> grpc.aio.Channel:
    channel = open_channel(
        target, timeout_s=settings.runtime.outbound_timeout_s, services=[service]
    )
    stack.push_async_callback(channel.close)
    return channel


@asynccontextmanager
async def running(
    settings: LicensingSettings,
    *,
    exchange: KeyExchange | None = None,
    serve_metrics: bool = True,
    handle_signals: bool = False,
) -> AsyncIterator[Running]:
    """Migrate and open the pool, NATS and the outbox relay, channels to playback, catalog and
    accounts, start the gRPC server; close all on exit. `exchange` plugs in a DRM vendor's key
    exchange (default: ClearKey, keys generated here)."""
    runtime = settings.runtime
    async with AsyncExitStack() as stack:
        engine = await lifecycle.open_database(stack, runtime, settings.schema, MIGRATIONS)
        _bus, relay = await lifecycle.open_events(stack, runtime, "licensing", engine)
        repository = PostgresLicensingRepository(
            engine, on_commit=relay.notify if relay else lambda: None
        )
        deps = LicensingDeps(
            repository,
            sessions=GrpcSessions(
                _channel(
                    stack,
                    settings,
                    settings.playback_address,
                    playback_pb2.DESCRIPTOR.services_by_name["PlaybackService"],
                )
            ),
            catalog=GrpcAvailability(
                _channel(
                    stack,
                    settings,
                    settings.catalog_address,
                    catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"],
                )
            ),
            devices=GrpcDevices(
                _channel(
                    stack,
                    settings,
                    settings.accounts_address,
                    accounts_pb2.DESCRIPTOR.services_by_name["AccountsService"],
                )
            ),
            exchange=exchange,
        )
        domain = build_domain(settings, deps)
        handle, _ = create_server(settings, deps=deps, domain=domain)
        await lifecycle.serve(
            stack, handle, runtime, serve_metrics=serve_metrics, handle_signals=handle_signals
        )
        yield Running(handle, domain)


def main() -> None:
    lifecycle.run_service("licensing", load_settings, running)


if __name__ == "__main__":
    main()
