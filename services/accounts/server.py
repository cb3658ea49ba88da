"""Accounts process: wiring of settings, database, signing keys, the JWKS HTTP listener and the
gRPC server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from vod.accounts.v1 import accounts_pb2, accounts_pb2_grpc

from services.accounts import jwks_http
from services.accounts.config import AccountsSettings, load_settings
from services.accounts.domain import AccountsDomain, Clock, Policy
from services.accounts.repository import PostgresAccountsRepository
from services.accounts.servicer import AccountsServicer
from services.runtime import lifecycle
from services.runtime.logs import get_logger
from services.runtime.metrics import RpcMetrics
from services.runtime.server import Registration, ServerHandle, build_server

__all__ = [
    "MIGRATIONS",
    "SERVICE_NAME",
    "AccountsDeps",
    "AccountsRuntime",
    "create_server",
    "main",
    "policy_of",
    "running",
    "started",
]

SERVICE_NAME = accounts_pb2.DESCRIPTOR.services_by_name["AccountsService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"
_log = get_logger("accounts")


@dataclass
class AccountsDeps:
    domain: AccountsDomain


@dataclass
class AccountsRuntime:
    """A running accounts service: its gRPC server, its domain, its JWKS HTTP port."""

    handle: ServerHandle
    domain: AccountsDomain
    http_port: int


def policy_of(settings: AccountsSettings) -> Policy:
    return Policy(
        access_token_ttl_s=settings.access_token_ttl_s,
        refresh_token_ttl_s=settings.refresh_token_ttl_s,
        signing_key_max_age_s=settings.signing_key_max_age_s,
        signing_key_publish_delay_s=settings.signing_key_publish_delay_s,
        login_max_failures=settings.login_max_failures,
        login_failure_window_s=settings.login_failure_window_s,
    )


def create_server(settings: AccountsSettings, *, deps: AccountsDeps) -> tuple[ServerHandle, int]:
    """The accounts gRPC server bound to the configured address (not started)."""
    handle = build_server(
        settings.runtime.grpc_address,
        [
            Registration(
                SERVICE_NAME,
                accounts_pb2_grpc.add_AccountsServiceServicer_to_server,
                AccountsServicer(deps.domain),
            )
        ],
        metrics=RpcMetrics.create(),
    )
    return handle, handle.port


async def _rotate_periodically(domain: AccountsDomain, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await domain.rotate_if_due()
            await domain.prune()
        except Exception:  # keep the last keys; try again next time
            _log.exception("accounts.maintenance_failed")


@asynccontextmanager
async def started(
    settings: AccountsSettings,
    *,
    serve_metrics: bool = True,
    handle_signals: bool = False,
    clock: Clock | None = None,
) -> AsyncIterator[AccountsRuntime]:
    """Migrate and open the database, load (and rotate when due) the signing keys, serve the
    JWKS over HTTP and start the gRPC server; close everything on exit."""
    runtime = settings.runtime
    async with AsyncExitStack() as stack:
        engine = await lifecycle.open_database(stack, runtime, settings.schema, MIGRATIONS)
        domain = (
            AccountsDomain(PostgresAccountsRepository(engine), policy=policy_of(settings))
            if clock is None
            else AccountsDomain(
                PostgresAccountsRepository(engine), policy=policy_of(settings), clock=clock
            )
        )
        await domain.rotate_if_due()
        lifecycle.background(
            stack, "key-rotation", _rotate_periodically(domain, settings.key_check_interval_s)
        )
        http_port = await stack.enter_async_context(
            jwks_http.serving(settings.http_address, domain.jwks)
        )
        handle, _ = create_server(settings, deps=AccountsDeps(domain))
        await lifecycle.serve(
            stack, handle, runtime, serve_metrics=serve_metrics, handle_signals=handle_signals
        )
        yield AccountsRuntime(handle, domain, http_port)


@asynccontextmanager
async def running(
    settings: AccountsSettings, *, serve_metrics: bool = True, handle_signals: bool = False
) -> AsyncIterator[ServerHandle]:
    """Like every service's `running`: yields the started gRPC server's handle."""
    async with started(
        settings, serve_metrics=serve_metrics, handle_signals=handle_signals
    ) as service:
        yield service.handle


def main() -> None:
    lifecycle.run_service("accounts", load_settings, running)


if __name__ == "__main__":
    main()
