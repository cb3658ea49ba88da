"""Nothing secret reaches the logs: the production entry point (`python -m services.accounts`,
JSON logs at DEBUG) runs sign-up, failed and good sign-ins, token issuing, refresh and refresh
reuse; its whole output is then searched for every password and token."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vod.accounts.v1 import accounts_pb2 as pb
from vod.accounts.v1 import accounts_pb2_grpc

from mesh.embedded import EmbeddedPostgres, free_port
from tests.accounts.conftest import caller_md, new_email, uid

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-Passw0rd-never-logged"
WRONG = "wr0ng-Passw0rd-never-logged"


async def test_no_password_or_token_in_the_logs(postgres: EmbeddedPostgres, tmp_path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "VOD_DATABASE_URL": postgres.create_database(f"accounts_logs_{uid()}"),
        "VOD_NATS_URL": "",
        "VOD_ACCOUNTS_GRPC_ADDRESS": f"127.0.0.1:{port}",
        "VOD_ACCOUNTS_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "VOD_ACCOUNTS_HTTP_ADDRESS": f"127.0.0.1:{free_port()}",
        "VOD_LOG_LEVEL": "DEBUG",
    }
    log_path = tmp_path / "accounts.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.accounts"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    secrets: list[str] = [PASSWORD, WRONG]
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await asyncio.wait_for(wait_serving(channel), timeout=60)
            stub = accounts_pb2_grpc.AccountsServiceStub(channel)
            email = new_email()
            created = await stub.CreateUser(
                pb.CreateUserRequest(
                    user=pb.User(
                        email=email, display_name="Ada", plan="plans/basic", home_region="US"
                    ),
                    password=PASSWORD,
                )
            )
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.Login(pb.LoginRequest(email=email, password=WRONG))
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.Login(pb.LoginRequest(email=new_email(), password=PASSWORD))
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.CreateUser(
                    pb.CreateUserRequest(
                        user=pb.User(
                            email=email, display_name="A", plan="plans/basic", home_region="US"
                        ),
                        password=PASSWORD,
                    )
                )
            login = await stub.Login(
                pb.LoginRequest(email=email, password=PASSWORD, device_id="tv-1")
            )
            secrets += [login.tokens.access_token, login.tokens.refresh_token]
            issued = await stub.IssueToken(
                pb.IssueTokenRequest(profile=created.profile.name),
                metadata=caller_md(created.user.name),
            )
            secrets += [issued.tokens.access_token, issued.tokens.refresh_token]
            refreshed = await stub.RefreshToken(
                pb.RefreshTokenRequest(refresh_token=issued.tokens.refresh_token)
            )
            secrets += [refreshed.tokens.access_token, refreshed.tokens.refresh_token]
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.RefreshToken(
                    pb.RefreshTokenRequest(refresh_token=issued.tokens.refresh_token)
                )
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    text = log_path.read_text()
    assert '"event": "login.failed"' in text
    assert '"event": "refresh.reuse_detected"' in text
    assert "/vod.accounts.v1.AccountsService/RefreshToken" in text
    for secret in secrets:
        assert secret not in text
        assert secret[-24:] not in text  # not even a fragment (signatures, token tails)


async def wait_serving(channel: grpc.aio.Channel) -> None:
    """Until the service reports SERVING (health Watch streams every status change)."""
    health = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service="vod.accounts.v1.AccountsService")
    async for reply in health.Watch(request, wait_for_ready=True):
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            return
