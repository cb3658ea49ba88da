"""`vod accounts create-user`, `vod login` and the stored credentials, run in-process against the
real server (password from VOD_PASSWORD, credentials in a temporary file)."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import stat
import time

import jwt
import pytest

from services.accounts import cli
from services.accounts.domain import ensure_user
from services.accounts.server import AccountsRuntime
from services.accounts.tokens import verify_access_token
from tests.accounts.conftest import PASSWORD, new_email


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    path = tmp_path / "nested" / "credentials.json"
    monkeypatch.setenv("VOD_CREDENTIALS", str(path))
    monkeypatch.setenv("VOD_PASSWORD", PASSWORD)
    return path


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vod")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


async def test_create_user_then_login_stores_tokens(
    accounts_service: AccountsRuntime, cli_env, capsys
) -> None:
    target = f"127.0.0.1:{accounts_service.handle.port}"
    email = new_email()
    out = io.StringIO()
    args = parse(
        [
            "accounts",
            "create-user",
            email,
            "--plan",
            "premium",
            "--region",
            "de",
            "--name",
            "Ada",
            "--target",
            target,
        ]
    )
    assert await cli.run_create_user(args, out) == 0
    printed = out.getvalue()
    assert f"<{email}> plan=plans/premium region=DE roles=viewer" in printed
    assert PASSWORD not in printed

    out = io.StringIO()
    assert await cli.run_login(parse(["login", email, "--target", target]), out) == 0
    assert f"tokens stored in {cli_env}" in out.getvalue()
    assert stat.S_IMODE(cli_env.stat().st_mode) == 0o600
    stored = json.loads(cli_env.read_text())
    claims = verify_access_token(stored["access_token"], accounts_service.domain.jwks())
    assert claims["sub"] == stored["user"] and claims["plan"] == "plans/premium"
    assert stored["email"] == email and stored["target"] == target
    assert stored["expire_time"] == claims["exp"]
    assert PASSWORD not in cli_env.read_text()
    captured = capsys.readouterr()
    for secret in (PASSWORD, stored["access_token"], stored["refresh_token"]):
        assert secret not in captured.out + captured.err

    # A valid token is sent as is.
    metadata = await asyncio.to_thread(cli.bearer_metadata, target)
    assert metadata == (("authorization", f"Bearer {stored['access_token']}"),)

    # Near expiry, it is refreshed (rotation) and stored again.
    stored["expire_time"] = int(time.time()) + 30
    cli_env.write_text(json.dumps(stored))
    metadata = await asyncio.to_thread(cli.bearer_metadata, target)
    refreshed = json.loads(cli_env.read_text())
    assert refreshed["refresh_token"] != stored["refresh_token"]
    assert metadata == (("authorization", f"Bearer {refreshed['access_token']}"),)
    assert (
        jwt.decode(refreshed["access_token"], options={"verify_signature": False})["sub"]
        == (stored["user"])
    )
    assert stat.S_IMODE(cli_env.stat().st_mode) == 0o600

    # The rotated-out refresh token is dead: refreshing with it fails with what to do.
    refreshed["refresh_token"] = stored["refresh_token"]
    refreshed["expire_time"] = 0
    cli_env.write_text(json.dumps(refreshed))
    with pytest.raises(cli.CredentialsError) as err:
        await asyncio.to_thread(cli.bearer_metadata, target)
    assert str(err.value) == (
        f"could not refresh the stored sign-in (UNAUTHENTICATED); run `vod login {email}`"
    )


async def test_login_failure_and_missing_credentials_say_what_to_do(
    accounts_service: AccountsRuntime, cli_env, capsys, monkeypatch
) -> None:
    target = f"127.0.0.1:{accounts_service.handle.port}"
    with pytest.raises(cli.CredentialsError) as err:
        cli.bearer_metadata(target)
    assert str(err.value) == (
        f"not signed in ({cli_env} does not exist); run `vod login EMAIL` first"
    )
    args = parse(
        ["accounts", "create-user", new_email(), "--plan", "basic", "--admin", "--target", target]
    )
    assert await cli.run_create_user(args) == 2
    assert "run `vod login EMAIL` first" in capsys.readouterr().err

    monkeypatch.setenv("VOD_PASSWORD", "wrong password")
    assert await cli.run_login(parse(["login", new_email(), "--target", target])) == 2
    err_text = capsys.readouterr().err
    assert "UNAUTHENTICATED: email or password is incorrect" in err_text
    assert "wrong password" not in err_text
    assert not cli_env.exists()


def test_credentials_path_defaults(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("VOD_CREDENTIALS", raising=False)
    monkeypatch.delenv("VOD_HOME", raising=False)
    assert str(cli.credentials_path()) == "var/credentials.json"
    monkeypatch.setenv("VOD_HOME", str(tmp_path))
    assert cli.credentials_path() == tmp_path / "credentials.json"


async def test_ensure_user_is_idempotent(accounts_service: AccountsRuntime) -> None:
    email = new_email()
    name = await ensure_user(
        accounts_service.domain,
        email=email,
        password=PASSWORD,
        plan="standard",
        region="us",
        admin=True,
    )
    again = await ensure_user(
        accounts_service.domain,
        email=email.upper(),
        password="another password",
        plan="basic",
        region="FR",
        admin=False,
    )
    assert again == name
    user, _ = await accounts_service.domain.login(email, PASSWORD)
    assert (user.name, user.plan, user.home_region, list(user.roles)) == (
        name,
        "plans/standard",
        "US",
        ["admin"],
    )
