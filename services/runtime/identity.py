"""Who is calling and where from, as the platform says — never as the client says.

The front door (Envoy) verifies the caller's access token with `jwt_authn` against the accounts
JWKS and copies the verified claims into the `x-vod-*` headers below, after stripping any such
headers the client sent. The listener (one per simulated region) or edge the request came
through sets `x-vod-region`. Services read identity and region only through this module.

Calls inside the mesh (service to service, not through the front door) carry no identity
headers unless the caller forwards its own (`forward_metadata`); such calls are trusted as
internal. Access tokens are JWTs with these claims (see `services.accounts.tokens`):

| claim | header | example |
|---|---|---|
| `sub` | `x-vod-user` | `users/ada` |
| `profile` | `x-vod-profile` | `users/ada/profiles/main` (profile-scoped tokens only) |
| `plan` | `x-vod-plan` | `plans/standard` |
| `roles` | `x-vod-roles` | `viewer admin` (space-separated) |
| `mat` | `x-vod-maturity` | `MATURITY_LIMIT_TEENS` (profile-scoped tokens only) |
| `did` | `x-vod-device` | the device id the token was issued to, if any |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import grpc

from services.runtime.errors import PermissionDenied, Unauthenticated

__all__ = [
    "CLAIM_HEADERS",
    "HEADER_REGION",
    "IDENTITY_HEADERS",
    "TOKEN_AUDIENCE",
    "TOKEN_ISSUER",
    "Caller",
    "caller_from_context",
    "caller_from_metadata",
    "forward_metadata",
    "platform_region",
]

TOKEN_ISSUER = "vodmesh-accounts"
"""`iss` of every access token accounts signs (and the issuer Envoy's jwt_authn expects)."""
TOKEN_AUDIENCE = "vodmesh"
"""`aud` of access tokens: only tokens minted for this platform are accepted."""

HEADER_USER = "x-vod-user"
HEADER_PROFILE = "x-vod-profile"
HEADER_PLAN = "x-vod-plan"
HEADER_ROLES = "x-vod-roles"
HEADER_MATURITY = "x-vod-maturity"
HEADER_DEVICE = "x-vod-device"
HEADER_REGION = "x-vod-region"

CLAIM_HEADERS: Mapping[str, str] = {
    "sub": HEADER_USER,
    "profile": HEADER_PROFILE,
    "plan": HEADER_PLAN,
    "roles": HEADER_ROLES,
    "mat": HEADER_MATURITY,
    "did": HEADER_DEVICE,
}
"""JWT claim -> the header Envoy forwards it in."""

IDENTITY_HEADERS: tuple[str, ...] = (*CLAIM_HEADERS.values(), HEADER_REGION)
"""Every header the platform sets; the front door strips client-sent copies of all of them."""

ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class Caller:
    """The verified caller of one request. `user` is empty for anonymous (public) calls and for
    internal calls that forward no identity."""

    user: str = ""
    profile: str = ""
    plan: str = ""
    roles: frozenset[str] = frozenset()
    maturity: str = ""
    device: str = ""
    region: str = ""

    @property
    def authenticated(self) -> bool:
        return bool(self.user)

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    def require_user(self) -> Caller:
        """This caller, or UNAUTHENTICATED when the request carried no verified identity."""
        if not self.user:
            raise Unauthenticated(
                "this call needs a signed-in user: send 'Authorization: Bearer <access token>' "
                "from Login",
                reason="UNAUTHENTICATED",
            )
        return self

    def owns_user(self, user: str) -> bool:
        return self.is_admin or (bool(self.user) and user == self.user)

    def owns_profile(self, profile: str) -> bool:
        """Whether `profile` ("users/{u}/profiles/{p}") belongs to the caller's user."""
        return self.is_admin or (bool(self.user) and profile.startswith(self.user + "/profiles/"))

    def check_owns_user(self, user: str) -> None:
        self.require_user()
        if not self.owns_user(user):
            raise PermissionDenied(f"{user} is not the signed-in user", reason="NOT_OWNER")

    def check_owns_profile(self, profile: str) -> None:
        self.require_user()
        if not self.owns_profile(profile):
            raise PermissionDenied(
                f"{profile} is not a profile of the signed-in user", reason="NOT_OWNER"
            )


def _text(metadata: Iterable[tuple[str, str | bytes]] | None) -> dict[str, str]:
    return {k.lower(): v for k, v in (metadata or ()) if isinstance(v, str)}


def caller_from_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> Caller:
    """The caller described by the platform's identity headers in `metadata`."""
    values = _text(metadata)
    return Caller(
        user=values.get(HEADER_USER, "").strip(),
        profile=values.get(HEADER_PROFILE, "").strip(),
        plan=values.get(HEADER_PLAN, "").strip(),
        roles=frozenset(values.get(HEADER_ROLES, "").replace(",", " ").split()),
        maturity=values.get(HEADER_MATURITY, "").strip(),
        device=values.get(HEADER_DEVICE, "").strip(),
        region=values.get(HEADER_REGION, "").strip().upper(),
    )


def caller_from_context(context: grpc.aio.ServicerContext) -> Caller:
    """The caller of the RPC being served."""
    return caller_from_metadata(context.invocation_metadata())


def platform_region(caller: Caller, requested: str = "", *, default: str = "") -> str:
    """The region to serve the request in: the platform's (`x-vod-region`, set by the front door
    or edge the request came through) always wins over `requested`, a field the client filled;
    `requested` is honoured only on internal calls, which carry no platform region."""
    return caller.region or requested or default


def forward_metadata(caller: Caller) -> tuple[tuple[str, str], ...]:
    """Identity headers to forward on an outbound call made on behalf of `caller`, so the callee
    applies the same ownership and region rules."""
    pairs = {
        HEADER_USER: caller.user,
        HEADER_PROFILE: caller.profile,
        HEADER_PLAN: caller.plan,
        HEADER_ROLES: " ".join(sorted(caller.roles)),
        HEADER_MATURITY: caller.maturity,
        HEADER_DEVICE: caller.device,
        HEADER_REGION: caller.region,
    }
    return tuple((k, v) for k, v in pairs.items() if v)
