"""`vod accounts create-user EMAIL --plan ...` and `vod login EMAIL`, plus the stored credentials
other `vod` commands send (`bearer_metadata`).

Passwords come from a prompt, or from `VOD_PASSWORD` for scripts; they are never printed.
Credentials are JSON in `$VOD_CREDENTIALS`, else `$VOD_HOME/credentials.json`, else
`./var/credentials.json`, readable by the owner only (0600). The main `vod` command calls
`register(subparsers)`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import grpc
from vod.accounts.v1 import accounts_pb2 as pb
from vod.accounts.v1 import accounts_pb2_grpc

from services.runtime.clients import open_channel

__all__ = [
    "CredentialsError",
    "auth_hint",
    "optional_bearer",
    "bearer_metadata",
    "credentials_path",
    "load_credentials",
    "register",
    "run_create_user",
    "run_login",
    "save_credentials",
    "signed_in_metadata",
    "stored_credentials",
]

_SERVICE = pb.DESCRIPTOR.services_by_name["AccountsService"]
_REFRESH_MARGIN_S = 60
_TIMEOUT_S = 10.0


class CredentialsError(RuntimeError):
    """No usable stored credentials; the message says what to run."""


def _default_target() -> str:
    return os.environ.get("VOD_GATEWAY_GRPC", "").strip() or "127.0.0.1:8080"


def credentials_path() -> Path:
    explicit = os.environ.get("VOD_CREDENTIALS", "").strip()
    if explicit:
        return Path(explicit)
    home = os.environ.get("VOD_HOME", "").strip() or "var"
    return Path(home) / "credentials.json"


def load_credentials(path: Path | None = None) -> dict[str, Any]:
    path = path or credentials_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CredentialsError(
            f"not signed in ({path} does not exist); run `vod login EMAIL` first"
        ) from None
    except (OSError, ValueError):
        raise CredentialsError(f"{path} is unreadable; run `vod login EMAIL` again") from None
    if not isinstance(data, dict) or not data.get("access_token"):
        raise CredentialsError(f"{path} holds no tokens; run `vod login EMAIL` again")
    return data


def save_credentials(data: dict[str, Any], path: Path | None = None) -> Path:
    """Write `data` readable by the owner only (created 0600, replaced atomically)."""
    path = path or credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def stored_credentials(tokens: pb.Tokens, user: str, email: str, target: str) -> dict[str, Any]:
    return {
        "user": user,
        "email": email,
        "target": target,
        "access_token": tokens.access_token,
        "expire_time": tokens.expire_time.seconds,
        "refresh_token": tokens.refresh_token,
        "refresh_expire_time": tokens.refresh_expire_time.seconds,
        "scope": tokens.scope,
    }


def bearer_metadata(target: str) -> tuple[tuple[str, str], ...]:
    """`(("authorization", "Bearer <access token>"),)` from the stored credentials, refreshed
    through RefreshToken at `target` when the access token expires within 60 s. Raises
    CredentialsError (with what to run) when there are none or they cannot be refreshed."""
    path = credentials_path()
    data = load_credentials(path)
    if int(data.get("expire_time", 0)) - time.time() <= _REFRESH_MARGIN_S:
        refresh_token = data.get("refresh_token", "")
        if not refresh_token or int(data.get("refresh_expire_time", 0)) <= time.time():
            raise CredentialsError(
                f"the stored sign-in has expired; run `vod login {data.get('email') or 'EMAIL'}`"
            )
        with grpc.insecure_channel(target) as channel:
            try:
                response = accounts_pb2_grpc.AccountsServiceStub(channel).RefreshToken(
                    pb.RefreshTokenRequest(refresh_token=refresh_token), timeout=_TIMEOUT_S
                )
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, "code") else None
                raise CredentialsError(
                    f"could not refresh the stored sign-in ({getattr(code, 'name', code)}); "
                    f"run `vod login {data.get('email') or 'EMAIL'}`"
                ) from None
        data = stored_credentials(
            response.tokens, data.get("user", ""), data.get("email", ""), target
        )
        save_credentials(data, path)
    return (("authorization", f"Bearer {data['access_token']}"),)


def optional_bearer(target: str) -> tuple[tuple[str, str], ...]:
    """The stored sign-in's bearer metadata, or none when nobody signed in (a command pointed
    straight at a service, inside the mesh, needs no token; the gateway will answer
    UNAUTHENTICATED and `auth_hint` says what to do)."""
    try:
        return bearer_metadata(target)
    except CredentialsError:
        return ()


def auth_hint(code: grpc.StatusCode) -> str:
    """What to tell a user whose call the front door refused."""
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return " (sign in first: `vod login EMAIL`)"
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return " (this needs an account allowed to do it, e.g. an admin: `vod login EMAIL`)"
    return ""


def signed_in_metadata(target: str, err: TextIO = sys.stderr) -> tuple[tuple[str, str], ...] | None:
    """`bearer_metadata(target)` for a `vod` command, or None after printing what to run."""
    try:
        return bearer_metadata(target)
    except CredentialsError as exc:
        print(str(exc), file=err)
        return None


def _password(prompt: str, *, confirm: bool) -> str:
    from_env = os.environ.get("VOD_PASSWORD")
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise SystemExit("no terminal to ask for the password: set VOD_PASSWORD")
    password = getpass.getpass(prompt)
    if confirm and getpass.getpass("Repeat the password: ") != password:
        raise SystemExit("the passwords differ; try again")
    return password


def _fail(exc: grpc.aio.AioRpcError, out: TextIO, hint: str = "") -> int:
    print(f"error: {exc.code().name}: {exc.details()}", file=out)
    if hint:
        print(hint, file=out)
    return 2


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    target_help = "gRPC address of the gateway (default $VOD_GATEWAY_GRPC or 127.0.0.1:8080)"
    accounts = subparsers.add_parser("accounts", help="users and sign-in")
    accounts_sub = accounts.add_subparsers(dest="accounts_command", required=True)
    create = accounts_sub.add_parser(
        "create-user", help="create a user (password from a prompt or $VOD_PASSWORD)"
    )
    create.add_argument("email")
    create.add_argument("--plan", choices=["basic", "standard", "premium"], required=True)
    create.add_argument(
        "--admin", action="store_true", help="give the admin role (needs an admin's `vod login`)"
    )
    create.add_argument("--region", default="US", help="home region, ISO 3166-1 alpha-2")
    create.add_argument("--name", default="", help="display name (default: the email's user part)")
    create.add_argument("--target", default=_default_target(), help=target_help)
    create.set_defaults(func=lambda args: asyncio.run(run_create_user(args)))

    login = subparsers.add_parser(
        "login", help="sign in and store tokens for the other vod commands"
    )
    login.add_argument("email")
    login.add_argument("--device-id", default="", help="the id of this device, if registered")
    login.add_argument("--target", default=_default_target(), help=target_help)
    login.set_defaults(func=lambda args: asyncio.run(run_login(args)))


async def run_create_user(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    metadata: tuple[tuple[str, str], ...] = ()
    if args.admin:
        try:
            metadata = await asyncio.to_thread(bearer_metadata, args.target)
        except CredentialsError as exc:
            print(f"error: creating an admin needs an admin's sign-in: {exc}", file=sys.stderr)
            return 2
    password = _password(f"Password for {args.email}: ", confirm=True)
    request = pb.CreateUserRequest(
        user=pb.User(
            email=args.email,
            display_name=args.name or args.email.split("@")[0],
            plan=f"plans/{args.plan}",
            home_region=args.region.upper(),
            roles=["admin"] if args.admin else [],
        ),
        password=password,
    )
    async with open_channel(args.target, timeout_s=_TIMEOUT_S, services=[_SERVICE]) as channel:
        try:
            response = await accounts_pb2_grpc.AccountsServiceStub(channel).CreateUser(
                request, metadata=metadata
            )
        except grpc.aio.AioRpcError as exc:
            hint = ""
            if exc.code() == grpc.StatusCode.PERMISSION_DENIED:
                hint = "sign in as an admin first: `vod login ADMIN_EMAIL`"
            return _fail(exc, sys.stderr, hint)
    user = response.user
    roles = " ".join(["viewer", *user.roles])
    print(
        f"created {user.name} <{user.email}> plan={user.plan} region={user.home_region} "
        f"roles={roles} profile={response.profile.name}",
        file=out,
    )
    print(f"sign in with: vod login {user.email}", file=out)
    return 0


async def run_login(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    password = _password(f"Password for {args.email}: ", confirm=False)
    request = pb.LoginRequest(email=args.email, password=password, device_id=args.device_id)
    async with open_channel(args.target, timeout_s=_TIMEOUT_S, services=[_SERVICE]) as channel:
        try:
            response = await accounts_pb2_grpc.AccountsServiceStub(channel).Login(request)
        except grpc.aio.AioRpcError as exc:
            hint = ""
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                hint = "wait, then try again"
            elif exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                hint = "check the email and password (VOD_PASSWORD, if set)"
            return _fail(exc, sys.stderr, hint)
    path = save_credentials(
        stored_credentials(response.tokens, response.user.name, response.user.email, args.target)
    )
    print(
        f"signed in as {response.user.name} ({response.user.plan}); tokens stored in {path}",
        file=out,
    )
    return 0
