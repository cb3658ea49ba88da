"""Accounts fixtures: the real accounts service (migrations, signing keys, the JWKS HTTP
listener) on free ports over its own database, and the identity headers the front door sets."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from vod.accounts.v1 import accounts_pb2 as pb
from vod.accounts.v1 import accounts_pb2_grpc

from mesh.embedded import EmbeddedPostgres, free_port
from services.accounts.config import AccountsSettings
from services.accounts.server import AccountsRuntime, started
from services.runtime.config import RuntimeSettings

PASSWORD = "correct horse battery staple"


def accounts_settings(database_url: str, **overrides: object) -> AccountsSettings:
    values: dict[str, object] = {
        "runtime": RuntimeSettings(
            service="accounts",
            grpc_address="127.0.0.1:0",
            metrics_address=f"127.0.0.1:{free_port()}",
            database_url=database_url,
            drain_grace_s=0.5,
        ),
        "http_address": "127.0.0.1:0",
        "key_check_interval_s": 3600.0,
    }
    values.update(overrides)
    return AccountsSettings(**values)  # type: ignore[arg-type]


def caller_md(
    user: str, roles: str = "viewer", profile: str = "", device: str = "", plan: str = ""
) -> tuple[tuple[str, str], ...]:
    """The identity headers Envoy sets after verifying a token for `user`."""
    pairs = {
        "x-vod-user": user,
        "x-vod-roles": roles,
        "x-vod-profile": profile,
        "x-vod-device": device,
        "x-vod-plan": plan,
    }
    return tuple((k, v) for k, v in pairs.items() if v)


ADMIN_MD = caller_md("users/root", roles="viewer admin")


def uid() -> str:
    return uuid.uuid4().hex[:10]


def new_email() -> str:
    return f"user-{uid()}@example.com"


@pytest.fixture(scope="session")
def accounts_database(postgres: EmbeddedPostgres) -> str:
    return postgres.create_database(f"accounts_{uid()}")


@pytest.fixture(scope="session")
async def accounts_service(accounts_database: str) -> AsyncIterator[AccountsRuntime]:
    async with started(accounts_settings(accounts_database), serve_metrics=False) as service:
        yield service


@pytest.fixture(scope="session")
async def accounts(
    accounts_service: AccountsRuntime,
) -> AsyncIterator[accounts_pb2_grpc.AccountsServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{accounts_service.handle.port}") as channel:
        yield accounts_pb2_grpc.AccountsServiceStub(channel)


async def sign_up(
    accounts: accounts_pb2_grpc.AccountsServiceStub,
    *,
    email: str | None = None,
    plan: str = "plans/standard",
    password: str = PASSWORD,
    user_id: str = "",
    display_name: str = "Ada Lovelace",
) -> pb.CreateUserResponse:
    return await accounts.CreateUser(
        pb.CreateUserRequest(
            user=pb.User(
                email=email or new_email(),
                display_name=display_name,
                plan=plan,
                home_region="GB",
            ),
            user_id=user_id,
            password=password,
        )
    )
