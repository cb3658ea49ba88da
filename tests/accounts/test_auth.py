"""Sign-in, tokens and keys: what Envoy will check (verified against the JWKS served over HTTP),
forged tokens, refresh rotation and reuse, device revocation, lockout, key rotation."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import jwt
import pytest
import sqlalchemy as sa
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from vod.accounts.v1 import accounts_pb2 as pb
from vod.accounts.v1 import accounts_pb2_grpc

from mesh.embedded import EmbeddedPostgres
from services.accounts.domain import Policy, plan_rotation
from services.accounts.server import AccountsRuntime, started
from services.accounts.tokens import (
    InvalidToken,
    new_signing_key,
    sign_access_token,
    verify_access_token,
)
from services.runtime.db import async_url
from services.runtime.identity import TOKEN_AUDIENCE, TOKEN_ISSUER
from tests.accounts.conftest import (
    PASSWORD,
    accounts_settings,
    caller_md,
    new_email,
    sign_up,
    uid,
)
from tests.support import details_of

LOGIN_FAILED = "email or password is incorrect"


async def fetch_jwks(service: AccountsRuntime) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{service.http_port}/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "max-age=60"
    assert response.headers["content-type"] == "application/json"
    return response.json()  # type: ignore[no-any-return]


def retry_delay_s(error: grpc.aio.AioRpcError) -> float:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info.retry_delay.ToTimedelta().total_seconds()
    raise AssertionError("no RetryInfo")


async def test_login_token_verifies_against_the_http_jwks_with_exact_claims(
    accounts, accounts_service
) -> None:
    created = await sign_up(accounts, plan="plans/premium")
    response = await accounts.Login(
        pb.LoginRequest(email=created.user.email.upper(), password=PASSWORD)
    )
    assert response.user == created.user
    tokens = response.tokens
    assert (tokens.token_type, tokens.scope) == ("Bearer", "account")
    jwks = await fetch_jwks(accounts_service)
    assert [sorted(k) for k in jwks["keys"]] == [
        ["alg", "crv", "kid", "kty", "use", "x", "y"]
    ] * len(jwks["keys"])
    assert {(k["kty"], k["crv"], k["use"], k["alg"]) for k in jwks["keys"]} == {
        ("EC", "P-256", "sig", "ES256")
    }
    header = jwt.get_unverified_header(tokens.access_token)
    assert header["alg"] == "ES256" and header["kid"] == jwks["keys"][0]["kid"]

    claims = verify_access_token(tokens.access_token, jwks)
    iat = claims["iat"]
    assert claims == {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "sub": created.user.name,
        "plan": "plans/premium",
        "roles": "viewer",
        "scope": "account",
        "iat": iat,
        "nbf": iat,
        "exp": iat + 900,
        "jti": claims["jti"],
    }
    assert len(claims["jti"]) == 32
    assert tokens.expire_time.seconds == iat + 900
    assert tokens.refresh_expire_time.seconds - iat in range(30 * 86400 - 1, 30 * 86400 + 2)
    # The gRPC JWKS is the same key set.
    grpc_keys = (await accounts.GetJwks(pb.GetJwksRequest())).keys
    assert [k.kid for k in grpc_keys] == [k["kid"] for k in jwks["keys"]]
    assert [(k.x, k.y) for k in grpc_keys] == [(k["x"], k["y"]) for k in jwks["keys"]]


async def test_admin_roles_claim(accounts, accounts_service) -> None:
    email = new_email()
    await accounts.CreateUser(
        pb.CreateUserRequest(
            user=pb.User(
                email=email,
                display_name="Root",
                plan="plans/basic",
                home_region="US",
                roles=["admin"],
            ),
            password=PASSWORD,
        ),
        metadata=caller_md("users/root", roles="viewer admin"),
    )
    tokens = (await accounts.Login(pb.LoginRequest(email=email, password=PASSWORD))).tokens
    claims = verify_access_token(tokens.access_token, await fetch_jwks(accounts_service))
    assert (claims["roles"], claims["plan"]) == ("viewer admin", "plans/basic")


async def test_issue_token_is_profile_scoped_with_maturity_and_device(
    accounts, accounts_service
) -> None:
    created = await sign_up(accounts)
    user = created.user.name
    teens = (
        await accounts.CreateProfile(
            pb.CreateProfileRequest(
                parent=user,
                profile=pb.Profile(display_name="Teen", maturity_limit=pb.MATURITY_LIMIT_TEENS),
            ),
            metadata=caller_md(user),
        )
    ).profile
    jwks = await fetch_jwks(accounts_service)

    tokens = (
        await accounts.IssueToken(
            pb.IssueTokenRequest(profile=teens.name),
            metadata=caller_md(user, device="tv-1"),
        )
    ).tokens
    claims = verify_access_token(tokens.access_token, jwks)
    assert tokens.scope == "account playback"
    assert {k: claims[k] for k in ("sub", "profile", "mat", "did", "roles", "plan", "scope")} == {
        "sub": user,
        "profile": teens.name,
        "mat": "MATURITY_LIMIT_TEENS",
        "did": "tv-1",
        "roles": "viewer",
        "plan": "plans/standard",
        "scope": "account playback",
    }

    main = (
        await accounts.IssueToken(
            pb.IssueTokenRequest(profile=created.profile.name, scopes=["playback"]),
            metadata=caller_md(user),
        )
    ).tokens
    claims = verify_access_token(main.access_token, jwks)
    assert (claims["profile"], claims["mat"], claims["scope"]) == (
        created.profile.name,
        "MATURITY_LIMIT_ALL",
        "playback",
    )
    assert "did" not in claims

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.IssueToken(pb.IssueTokenRequest(profile=created.profile.name))
    assert details_of(err.value).code == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.IssueToken(
            pb.IssueTokenRequest(profile=f"{user}/profiles/ghost"), metadata=caller_md(user)
        )
    assert details_of(err.value).reason == "PROFILE_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.IssueToken(
            pb.IssueTokenRequest(profile=created.profile.name, scopes=["root"]),
            metadata=caller_md(user),
        )
    assert details_of(err.value).violations == {
        "scopes[0]": "unknown scope 'root'; known: account, playback"
    }


async def test_forged_expired_and_wrong_audience_tokens_fail(accounts, accounts_service) -> None:
    created = await sign_up(accounts)
    good = (
        await accounts.Login(pb.LoginRequest(email=created.user.email, password=PASSWORD))
    ).tokens.access_token
    jwks = await fetch_jwks(accounts_service)
    claims = verify_access_token(good, jwks)
    real_key = accounts_service.domain.signing_key()
    now = datetime.now(UTC)

    # Another key that even claims the real kid.
    impostor = dataclasses.replace(new_signing_key(now, now), kid=real_key.kid)
    forged = sign_access_token(impostor, claims)
    # alg: none, with the real kid.
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": real_key.kid})
    # HS256 keyed with the public JWK (algorithm confusion).
    confused = jwt.encode(
        claims, jwks["keys"][0]["x"], algorithm="HS256", headers={"kid": real_key.kid}
    )
    wrong_aud = sign_access_token(real_key, {**claims, "aud": "someone-else"})
    wrong_iss = sign_access_token(real_key, {**claims, "iss": "evil"})
    expired = sign_access_token(
        real_key, {**claims, "iat": claims["iat"] - 2000, "exp": int(now.timestamp()) - 1}
    )
    no_exp = sign_access_token(real_key, {k: v for k, v in claims.items() if k != "exp"})
    unknown_kid = sign_access_token(dataclasses.replace(real_key, kid="nope"), claims)
    tampered = good.rsplit(".", 2)
    tampered[1] = jwt.utils.base64url_encode(  # type: ignore[attr-defined]
        b'{"sub":"users/admin","roles":"viewer admin"}'
    ).decode()

    cases = {
        "bad signature": forged,
        "algorithm 'none' is not accepted; only ES256": unsigned,
        "algorithm 'HS256' is not accepted; only ES256": confused,
        "wrong audience": wrong_aud,
        "wrong issuer": wrong_iss,
        "expired": expired,
        "rejected: MissingRequiredClaimError": no_exp,
        "signed by a key that is not in the key set": unknown_kid,
        "bad signature ": ".".join(tampered),
    }
    for reason, token in cases.items():
        with pytest.raises(InvalidToken) as err:
            verify_access_token(token, jwks)
        assert str(err.value) == reason.strip(), reason


async def test_refresh_rotates_and_reuse_revokes_the_family(accounts, accounts_service) -> None:
    created = await sign_up(accounts)
    user = created.user.name
    issued = (
        await accounts.IssueToken(
            pb.IssueTokenRequest(profile=created.profile.name),
            metadata=caller_md(user, device="web-1"),
        )
    ).tokens
    first = (
        await accounts.RefreshToken(pb.RefreshTokenRequest(refresh_token=issued.refresh_token))
    ).tokens
    assert first.refresh_token != issued.refresh_token
    jwks = await fetch_jwks(accounts_service)
    before = verify_access_token(issued.access_token, jwks)
    after = verify_access_token(first.access_token, jwks)
    for claim in ("sub", "profile", "mat", "did", "plan", "roles", "scope"):
        assert after[claim] == before[claim], claim
    assert after["jti"] != before["jti"]
    assert first.scope == issued.scope == "account playback"
    second = (
        await accounts.RefreshToken(pb.RefreshTokenRequest(refresh_token=first.refresh_token))
    ).tokens

    # Reusing a rotated token: UNAUTHENTICATED, and the whole family is revoked.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.RefreshToken(pb.RefreshTokenRequest(refresh_token=issued.refresh_token))
    details = details_of(err.value)
    assert (details.code, details.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "INVALID_REFRESH_TOKEN",
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:  # the newest of the family too
        await accounts.RefreshToken(pb.RefreshTokenRequest(refresh_token=second.refresh_token))
    assert details_of(err.value).code == grpc.StatusCode.UNAUTHENTICATED

    for bogus in ("vrt_made-up", "x" * 4096):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await accounts.RefreshToken(pb.RefreshTokenRequest(refresh_token=bogus))
        assert details_of(err.value).code == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.RefreshToken(pb.RefreshTokenRequest())
    assert details_of(err.value).violations == {
        "refresh_token": "is required and must not be blank"
    }


async def test_refresh_picks_up_plan_changes_and_stops_when_the_user_is_gone(
    accounts, accounts_database
) -> None:
    created = await sign_up(accounts)
    login = (
        await accounts.Login(pb.LoginRequest(email=created.user.email, password=PASSWORD))
    ).tokens
    await accounts.UpdateUser(
        pb.UpdateUserRequest(user=pb.User(name=created.user.name, plan="plans/premium")),
        metadata=caller_md(created.user.name),
    )
    fresh = (
        await accounts.RefreshToken(pb.RefreshTokenRequest(refresh_token=login.refresh_token))
    ).tokens
    assert jwt.decode(fresh.access_token, options={"verify_signature": False})["plan"] == (
        "plans/premium"
    )
    engine = sa.create_engine(async_url(accounts_database))
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM accounts.users WHERE id = :id"),
            {"id": created.user.name.removeprefix("users/")},
        )
    engine.dispose()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.RefreshToken(pb.RefreshTokenRequest(refresh_token=fresh.refresh_token))
    assert details_of(err.value).code == grpc.StatusCode.UNAUTHENTICATED


async def test_delete_device_revokes_its_refresh_tokens(accounts, accounts_service) -> None:
    created = await sign_up(accounts)
    user = created.user.name
    md = caller_md(user)
    device = (
        await accounts.RegisterDevice(
            pb.RegisterDeviceRequest(
                parent=user, device=pb.Device(device_id="Phone:7", type=pb.DEVICE_TYPE_MOBILE)
            ),
            metadata=md,
        )
    ).device
    on_phone = (
        await accounts.Login(
            pb.LoginRequest(email=created.user.email, password=PASSWORD, device_id="Phone:7")
        )
    ).tokens
    elsewhere = (
        await accounts.Login(pb.LoginRequest(email=created.user.email, password=PASSWORD))
    ).tokens
    claims = verify_access_token(on_phone.access_token, await fetch_jwks(accounts_service))
    assert claims["did"] == "Phone:7"
    seen = (await accounts.ListDevices(pb.ListDevicesRequest(parent=user), metadata=md)).devices
    assert seen[0].last_seen_time.ToDatetime() >= device.last_seen_time.ToDatetime()

    await accounts.DeleteDevice(pb.DeleteDeviceRequest(name=device.name), metadata=md)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.RefreshToken(pb.RefreshTokenRequest(refresh_token=on_phone.refresh_token))
    assert details_of(err.value).code == grpc.StatusCode.UNAUTHENTICATED
    still = await accounts.RefreshToken(
        pb.RefreshTokenRequest(refresh_token=elsewhere.refresh_token)
    )
    assert still.tokens.access_token


async def test_wrong_password_and_unknown_email_look_the_same(accounts) -> None:
    created = await sign_up(accounts)
    errors = []
    for email, password in (
        (created.user.email, "wrong password!"),
        (new_email(), PASSWORD),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await accounts.Login(pb.LoginRequest(email=email, password=password))
        details = details_of(err.value)
        errors.append((details.code, details.message, details.reason))
    assert errors == [(grpc.StatusCode.UNAUTHENTICATED, LOGIN_FAILED, "INVALID_CREDENTIALS")] * 2
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.Login(pb.LoginRequest(email="", password=""))
    assert set(details_of(err.value).violations) == {"email", "password"}


async def test_lockout_after_five_failures_even_for_the_right_password(accounts) -> None:
    created = await sign_up(accounts)
    email = created.user.email
    for _ in range(5):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await accounts.Login(pb.LoginRequest(email=email, password="not the password"))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    for password in ("not the password", PASSWORD):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await accounts.Login(pb.LoginRequest(email=email, password=password))
        details = details_of(err.value)
        assert (details.code, details.reason) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "TOO_MANY_LOGIN_ATTEMPTS",
        )
        assert 290 < retry_delay_s(err.value) <= 300
    # Unknown emails lock out the same way: no hint that the account does not exist.
    ghost = new_email()
    for _ in range(5):
        with pytest.raises(grpc.aio.AioRpcError):
            await accounts.Login(pb.LoginRequest(email=ghost, password=PASSWORD))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.Login(pb.LoginRequest(email=ghost, password=PASSWORD))
    assert details_of(err.value).code == grpc.StatusCode.RESOURCE_EXHAUSTED


# -- with a clock the test moves -----------------------------------------------------------


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def clocked(
    postgres: EmbeddedPostgres,
) -> AsyncIterator[tuple[AccountsRuntime, accounts_pb2_grpc.AccountsServiceStub, Clock]]:
    """A second server on its own database whose clock starts 800 s in the past: keys live
    600 s and are published 120 s before they sign."""
    clock = Clock(datetime.now(UTC) - timedelta(seconds=800))
    settings = accounts_settings(
        postgres.create_database(f"accounts_clock_{uid()}"),
        signing_key_max_age_s=600,
        signing_key_publish_delay_s=120,
    )
    async with started(settings, serve_metrics=False, clock=clock) as service:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.handle.port}") as channel:
            yield service, accounts_pb2_grpc.AccountsServiceStub(channel), clock


async def test_key_rotation_publishes_first_and_keeps_old_keys_until_tokens_expire(
    clocked,
) -> None:
    service, accounts, clock = clocked
    created = await sign_up(accounts)

    async def login_kid() -> tuple[str, str]:
        token = (
            await accounts.Login(pb.LoginRequest(email=created.user.email, password=PASSWORD))
        ).tokens.access_token
        return token, jwt.get_unverified_header(token)["kid"]

    first_kids = [k["kid"] for k in (await fetch_jwks(service))["keys"]]
    assert len(first_kids) == 1
    old_token, kid = await login_kid()
    assert kid == first_kids[0]

    clock.advance(600)  # the key is due: a successor is published, not yet used
    await service.domain.rotate_if_due()
    kids = [k["kid"] for k in (await fetch_jwks(service))["keys"]]
    assert len(kids) == 2 and kids[0] == first_kids[0]
    assert (await login_kid())[1] == first_kids[0]

    clock.advance(120)  # the successor signs now; the old key stays published
    await service.domain.rotate_if_due()
    jwks = await fetch_jwks(service)
    assert [k["kid"] for k in jwks["keys"]] == [kids[1], kids[0]]
    new_token, new_kid = await login_kid()
    assert new_kid == kids[1]
    assert verify_access_token(old_token, jwks)["sub"] == created.user.name
    assert verify_access_token(new_token, jwks)["sub"] == created.user.name

    # Tokens of the old key may still be alive (by now the current key is due too, so its
    # successor is published after it).
    clock.advance(900 + 120 - 1)
    await service.domain.rotate_if_due()
    later = [k["kid"] for k in (await fetch_jwks(service))["keys"]]
    assert len(later) == 3 and later[0] == kids[1] and later[2] == kids[0]
    clock.advance(1)  # every token the old key signed has expired: it goes
    await service.domain.rotate_if_due()
    assert [k["kid"] for k in (await fetch_jwks(service))["keys"]] == later[:2]


async def test_rotate_now_signs_with_a_new_key_and_old_tokens_still_verify(
    accounts, accounts_service
) -> None:
    created = await sign_up(accounts)
    before = (
        await accounts.Login(pb.LoginRequest(email=created.user.email, password=PASSWORD))
    ).tokens.access_token
    fresh = await accounts_service.domain.rotate_now()
    after = (
        await accounts.Login(pb.LoginRequest(email=created.user.email, password=PASSWORD))
    ).tokens.access_token
    assert jwt.get_unverified_header(after)["kid"] == fresh.kid
    jwks = await fetch_jwks(accounts_service)
    assert jwks["keys"][0]["kid"] == fresh.kid
    assert jwt.get_unverified_header(before)["kid"] in [k["kid"] for k in jwks["keys"]]
    assert verify_access_token(before, jwks)["sub"] == created.user.name
    assert verify_access_token(after, jwks)["sub"] == created.user.name


async def test_lockout_ends_when_the_window_passes(clocked) -> None:
    _, accounts, clock = clocked
    created = await sign_up(accounts)
    for _ in range(5):
        with pytest.raises(grpc.aio.AioRpcError):
            await accounts.Login(pb.LoginRequest(email=created.user.email, password="nope nope"))
        clock.advance(10)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await accounts.Login(pb.LoginRequest(email=created.user.email, password=PASSWORD))
    assert retry_delay_s(err.value) == 300 - 50
    clock.advance(250)
    response = await accounts.Login(pb.LoginRequest(email=created.user.email, password=PASSWORD))
    assert response.user.name == created.user.name


async def test_prune_forgets_expired_refresh_tokens_and_old_failures(clocked) -> None:
    service, accounts, clock = clocked
    created = await sign_up(accounts)
    await accounts.Login(pb.LoginRequest(email=created.user.email, password=PASSWORD))
    with pytest.raises(grpc.aio.AioRpcError):
        await accounts.Login(pb.LoginRequest(email=created.user.email, password="nope nope"))
    assert await service.domain.prune() == 0
    clock.advance(30 * 86400 + 86400 + 1)
    assert await service.domain.prune() == 2


def test_plan_rotation_first_key_then_successor() -> None:
    policy = Policy(
        signing_key_max_age_s=100, signing_key_publish_delay_s=10, access_token_ttl_s=50
    )
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    first = plan_rotation([], t0, policy)
    assert len(first.add) == 1 and first.add[0].activate_time == t0
    key = first.add[0]
    assert not plan_rotation([key], t0 + timedelta(seconds=99), policy)
    due = plan_rotation([key], t0 + timedelta(seconds=100), policy)
    assert [k.activate_time for k in due.add] == [t0 + timedelta(seconds=110)]
    assert due.retire == {} and due.delete == []
