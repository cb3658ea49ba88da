"""Accounts logic: users, profiles, plans, devices, sign-in, tokens and signing keys.

No grpc here: requests come in as messages (already checked against the proto rules by the
interceptor), the caller as a `Caller`, and failures leave as `services.runtime.errors`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pycountry
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from vod.accounts.v1 import accounts_pb2 as pb

from services.runtime.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from services.runtime.identity import TOKEN_AUDIENCE, TOKEN_ISSUER, Caller
from services.runtime.logs import get_logger
from services.runtime.page_tokens import PageTokens, bad_page_token, default_page_tokens

from .passwords import Passwords
from .tokens import (
    SigningKey,
    jwks_document,
    new_refresh_token,
    new_signing_key,
    refresh_token_hash,
    sign_access_token,
)

__all__ = [
    "DEFAULT_PROFILE_ID",
    "MAX_DEVICES",
    "MAX_PROFILES",
    "AccountsDomain",
    "AccountsRepository",
    "KeyChanges",
    "Policy",
    "RefreshOutcome",
    "device_key",
    "ensure_user",
    "etag_for",
]

_log = get_logger("accounts")

MAX_PROFILES = 5
MAX_DEVICES = 20
DEFAULT_PROFILE_ID = "main"
VIEWER_ROLE = "viewer"
USER_SCOPES = ("account",)
"""Scopes of a user-scoped token (Login): manage the account and pick a profile."""
PROFILE_SCOPES = ("account", "playback")
"""Default scopes of a profile-scoped token (IssueToken)."""
KNOWN_SCOPES = frozenset({"account", "playback"})
LOGIN_FAILED = "email or password is incorrect"
_REFRESH_FAILED = "the refresh token is invalid, expired or already used; sign in again"
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_USER_NAME = re.compile(r"^users/([a-z0-9][a-z0-9-]{0,62})$")
USER_MUTABLE = ("display_name", "plan", "home_region")
_USER_OUTPUT_ONLY = {"name", "email", "create_time", "update_time", "etag", "roles"}
PROFILE_MUTABLE = (
    "display_name",
    "maturity_limit",
    "language",
    "preferred_genres",
    "avatar_uri",
    "autoplay_next_episode",
)
_PROFILE_OUTPUT_ONLY = {"name", "create_time", "update_time", "etag"}
_DEFAULT_DEVICE_PAGE = 50


# --------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class Policy:
    """Lifetimes and limits, from the settings."""

    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 86400
    signing_key_max_age_s: int = 86400
    signing_key_publish_delay_s: int = 180
    login_max_failures: int = 5
    login_failure_window_s: int = 300


def etag_for(kind: str, key: str, version: int) -> str:
    return hashlib.sha256(f"{kind}:{key}:{version}".encode()).hexdigest()[:16]


def email_key(email: str) -> str:
    return email.strip().lower()


def ts(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value)
    return out


def slugify(text: str, *, max_len: int = 40, fallback: str = "user") -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:max_len].strip("-")
    return slug or fallback


def device_key(device_id: str) -> str:
    """The resource id of a device (`users/{u}/devices/{key}`) from the id its client chose:
    the id itself when it is already a valid resource id, else a slug plus a hash of it."""
    if _ID.fullmatch(device_id):
        return device_id
    digest = hashlib.sha256(device_id.encode()).hexdigest()[:10]
    return f"{slugify(device_id, max_len=48, fallback='device')}-{digest}"


def user_id_of(name: str) -> str:
    return name.removeprefix("users/")


def split_child(name: str, collection: str) -> tuple[str, str]:
    """`users/{u}/{collection}/{id}` → (u, id)."""
    _users, user_id, _collection, child = name.split("/", 3)
    return user_id, child


def is_region(code: str) -> bool:
    return pycountry.countries.get(alpha_2=code) is not None


def roles_claim(roles: Sequence[str]) -> str:
    """`viewer` first, then the user's other roles: "viewer admin"."""
    return " ".join([VIEWER_ROLE, *sorted({r for r in roles if r != VIEWER_ROLE})])


def _maturity_name(limit: int) -> str:
    if limit == pb.MATURITY_LIMIT_UNSPECIFIED:
        limit = pb.MATURITY_LIMIT_ALL
    return pb.MaturityLimit.Name(limit)


# --------------------------------------------------------------------------------------------
# Page tokens: small lists (at most 5 profiles, 20 devices), so an offset bound to the query.


LIST_PROFILES_SCOPE = "vod.accounts.v1.AccountsService/ListProfiles"
LIST_DEVICES_SCOPE = "vod.accounts.v1.AccountsService/ListDevices"


def encode_page_token(codec: PageTokens, scope: str, request: Message, offset: int) -> str:
    return codec.encode(scope, request, {"o": offset})


def decode_page_token(codec: PageTokens, scope: str, request: Message, token: str) -> int:
    """The offset a signed token (`services.runtime.page_tokens`) resumes at; 0 without one."""
    if not token:
        return 0
    offset = codec.decode(token, scope, request).get("o")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise bad_page_token("does not hold a position in this list")
    return offset


# --------------------------------------------------------------------------------------------
# Errors


def user_not_found(name: str) -> NotFound:
    return NotFound(
        message=f"{name} does not exist",
        reason="USER_NOT_FOUND",
        resource_type="vod.accounts.v1.User",
        resource_name=name,
    )


def profile_not_found(name: str) -> NotFound:
    return NotFound(
        message=f"{name} does not exist",
        reason="PROFILE_NOT_FOUND",
        resource_type="vod.accounts.v1.Profile",
        resource_name=name,
    )


def device_not_found(name: str) -> NotFound:
    return NotFound(
        message=f"{name} does not exist",
        reason="DEVICE_NOT_FOUND",
        resource_type="vod.accounts.v1.Device",
        resource_name=name,
    )


def etag_mismatch(kind: str, name: str) -> Aborted:
    return Aborted(
        message=f"the {kind} changed since it was read (etag mismatch); read it again and retry",
        reason="ETAG_MISMATCH",
        resource_type=f"vod.accounts.v1.{kind.capitalize()}",
        resource_name=name,
    )


def plan_not_found(plan: str) -> FailedPrecondition:
    return FailedPrecondition(
        message=f"{plan} is not a plan; ListPlans shows the plans there are",
        reason="PLAN_NOT_FOUND",
        violations=(("PLAN_EXISTS", plan, "the plan must exist"),),
    )


def _unauthenticated_login() -> Unauthenticated:
    return Unauthenticated(LOGIN_FAILED, reason="INVALID_CREDENTIALS")


def _unauthenticated_refresh() -> Unauthenticated:
    return Unauthenticated(_REFRESH_FAILED, reason="INVALID_REFRESH_TOKEN")


# --------------------------------------------------------------------------------------------
# Storage port


@dataclass(frozen=True)
class NewUser:
    user_id: str
    email: str
    display_name: str
    password_hash: str
    plan_id: str
    home_region: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class NewRefreshToken:
    token_hash: bytes
    family_id: str
    user_id: str
    profile_id: str
    device_id: str
    scope: str
    create_time: datetime
    expire_time: datetime


@dataclass(frozen=True)
class RefreshOutcome:
    """What consuming a refresh token found: `status` is "ok", "invalid" or "reused" (a used
    token came back: its whole family is now revoked)."""

    status: str
    user: pb.User | None = None
    profile: pb.Profile | None = None
    family_id: str = ""
    device_id: str = ""
    scope: str = ""


@dataclass
class KeyChanges:
    """What a rotation writes: keys to add, to retire (kid → time) and to delete."""

    add: list[SigningKey] = field(default_factory=list)
    retire: dict[str, datetime] = field(default_factory=dict)
    delete: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.add or self.retire or self.delete)


UserChange = Callable[[pb.User], pb.User]
ProfileChange = Callable[[pb.Profile], pb.Profile]


class AccountsRepository(Protocol):
    async def list_plans(self) -> list[pb.Plan]: ...

    async def plan_exists(self, plan_id: str) -> bool: ...

    async def create_user(
        self, user: NewUser, profile: pb.Profile
    ) -> tuple[pb.User, pb.Profile]: ...

    async def get_user(self, user_id: str) -> pb.User | None: ...

    async def credentials(self, email_key: str) -> tuple[pb.User, str] | None: ...

    async def set_password_hash(self, user_id: str, password_hash: str) -> None: ...

    async def update_user(self, user_id: str, change: UserChange) -> pb.User: ...

    async def create_profile(
        self, user_id: str, profile_id: str, profile: pb.Profile, *, limit: int, generated: bool
    ) -> pb.Profile: ...

    async def get_profile(self, user_id: str, profile_id: str) -> pb.Profile | None: ...

    async def list_profiles(
        self, user_id: str, offset: int, limit: int | None
    ) -> list[pb.Profile] | None: ...

    async def update_profile(
        self, user_id: str, profile_id: str, change: ProfileChange
    ) -> pb.Profile: ...

    async def delete_profile(self, user_id: str, profile_id: str, etag: str) -> None: ...

    async def register_device(
        self, user_id: str, key: str, device: pb.Device, *, limit: int
    ) -> pb.Device: ...

    async def list_devices(
        self, user_id: str, offset: int, limit: int
    ) -> list[pb.Device] | None: ...

    async def delete_device(self, user_id: str, key: str) -> bool: ...

    async def touch_device(self, user_id: str, device_id: str, at: datetime) -> None: ...

    async def add_refresh_token(self, token: NewRefreshToken) -> None: ...

    async def rotate_refresh_token(
        self, old_hash: bytes, new: Callable[[RefreshOutcome], NewRefreshToken], now: datetime
    ) -> RefreshOutcome: ...

    async def prune(self, tokens_before: datetime, failures_before: datetime) -> int: ...

    async def recent_failures(self, email_key: str, since: datetime) -> list[datetime]: ...

    async def record_failure(
        self, email_key: str, at: datetime, prune_before: datetime
    ) -> None: ...

    async def clear_failures(self, email_key: str) -> None: ...

    async def signing_keys(self) -> list[SigningKey]: ...

    async def change_signing_keys(
        self, decide: Callable[[list[SigningKey]], KeyChanges]
    ) -> list[SigningKey]: ...


# --------------------------------------------------------------------------------------------
# Signing keys


def plan_rotation(keys: list[SigningKey], now: datetime, policy: Policy) -> KeyChanges:
    """What to do to the keys at `now`: the newest active key signs; older active keys retire
    when a newer one activates; a signing key past its max age gets a successor, published
    `signing_key_publish_delay_s` before it signs; retired keys go once their tokens expired."""
    changes = KeyChanges()
    live = [k for k in keys if k.retire_time is None]
    active = sorted((k for k in live if k.activate_time <= now), key=lambda k: k.activate_time)
    pending = [k for k in live if k.activate_time > now]
    if active:
        current = active[-1]
        for older in active[:-1]:
            changes.retire[older.kid] = current.activate_time
    elif not pending:
        changes.add.append(new_signing_key(now, now))  # first start: nothing to pre-publish to
        current = None
    else:
        current = None
    if (
        current is not None
        and not pending
        and now - current.activate_time >= timedelta(seconds=policy.signing_key_max_age_s)
    ):
        delay = timedelta(seconds=policy.signing_key_publish_delay_s)
        changes.add.append(new_signing_key(now, now + delay))
    keep_for = timedelta(seconds=policy.access_token_ttl_s + policy.signing_key_publish_delay_s)
    for key in keys:
        if key.retire_time is not None and key.retire_time + keep_for <= now:
            changes.delete.append(key.kid)
    return changes


def current_key(keys: Sequence[SigningKey], now: datetime) -> SigningKey:
    live = [k for k in keys if k.retire_time is None]
    active = [k for k in live if k.activate_time <= now]
    if active:
        return max(active, key=lambda k: k.activate_time)
    if live:  # only pending keys (clock skew between replicas): sign with the earliest
        return min(live, key=lambda k: k.activate_time)
    if keys:
        return max(keys, key=lambda k: k.retire_time or k.activate_time)
    raise RuntimeError("no signing key loaded; call load_keys() first")


# --------------------------------------------------------------------------------------------
# The domain


Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AccountsDomain:
    def __init__(
        self,
        repository: AccountsRepository,
        *,
        policy: Policy | None = None,
        passwords: Passwords | None = None,
        clock: Clock = _utcnow,
        page_tokens: PageTokens | None = None,
    ) -> None:
        self.repository = repository
        self.policy = policy or Policy()
        self.passwords = passwords or Passwords()
        self.clock = clock
        self.page_tokens = page_tokens or default_page_tokens()
        self._keys: list[SigningKey] = []

    # -- plans ------------------------------------------------------------------------------

    async def list_plans(self) -> list[pb.Plan]:
        return await self.repository.list_plans()

    async def _check_plan(self, plan: str) -> str:
        plan_id = plan.removeprefix("plans/")
        if not await self.repository.plan_exists(plan_id):
            raise plan_not_found(f"plans/{plan_id}")
        return plan_id

    # -- users ------------------------------------------------------------------------------

    async def create_user(
        self, request: pb.CreateUserRequest, caller: Caller
    ) -> tuple[pb.User, pb.Profile]:
        user = request.user
        problems: list[FieldViolation] = []
        email = user.email.strip()
        if request.password.strip().lower() == email.lower():
            problems.append(FieldViolation("password", "must not be the email address"))
        if user.home_region and not is_region(user.home_region):
            problems.append(
                FieldViolation(
                    "user.home_region", f"{user.home_region!r} is not an ISO 3166-1 code"
                )
            )
        if problems:
            raise InvalidArgument.of(problems)
        roles = tuple(sorted({r for r in user.roles if r != VIEWER_ROLE}))
        if user.roles and not caller.is_admin:
            raise PermissionDenied(
                "only an admin may set roles; sign up without roles", reason="ROLES_NEED_ADMIN"
            )
        plan_id = await self._check_plan(user.plan)
        user_id = request.user_id or f"{slugify(email.split('@')[0])}-{secrets.token_hex(3)}"
        display_name = user.display_name.strip()
        new = NewUser(
            user_id=user_id,
            email=email,
            display_name=display_name,
            password_hash=await self.passwords.hash(request.password),
            plan_id=plan_id,
            home_region=user.home_region,
            roles=roles,
        )
        profile = pb.Profile(display_name=display_name[:50], maturity_limit=pb.MATURITY_LIMIT_ALL)
        created, main = await self.repository.create_user(new, profile)
        _log.info("user.created", user=created.name, plan=created.plan, roles=list(roles))
        return created, main

    async def get_user(self, name: str, caller: Caller) -> pb.User:
        caller.check_owns_user(name)
        user = await self.repository.get_user(user_id_of(name))
        if user is None:
            raise user_not_found(name)
        return user

    async def update_user(self, request: pb.UpdateUserRequest, caller: Caller) -> pb.User:
        incoming = request.user
        if not _USER_NAME.fullmatch(incoming.name):
            raise InvalidArgument.for_field(
                "user.name", "must be the name of the user to update, such as users/ada"
            )
        caller.check_owns_user(incoming.name)
        paths = _mask_paths(request.update_mask, incoming, USER_MUTABLE, _USER_OUTPUT_ONLY)
        problems = []
        for path in paths:
            value = getattr(incoming, path)
            if path == "display_name" and not value.strip():
                problems.append(FieldViolation("user.display_name", "is required"))
            if path == "plan" and not value:
                problems.append(FieldViolation("user.plan", "is required"))
            if path == "home_region" and not is_region(value):
                problems.append(
                    FieldViolation("user.home_region", f"{value!r} is not an ISO 3166-1 code")
                )
        if problems:
            raise InvalidArgument.of(problems)
        if "plan" in paths:
            await self._check_plan(incoming.plan)

        def change(current: pb.User) -> pb.User:
            if incoming.etag and incoming.etag != current.etag:
                raise etag_mismatch("user", current.name)
            updated = pb.User()
            updated.CopyFrom(current)
            for path in paths:
                value = getattr(incoming, path)
                setattr(updated, path, value.strip() if path == "display_name" else value)
            return updated

        return await self.repository.update_user(user_id_of(incoming.name), change)

    # -- profiles ---------------------------------------------------------------------------

    async def create_profile(self, request: pb.CreateProfileRequest, caller: Caller) -> pb.Profile:
        caller.check_owns_user(request.parent)
        profile = pb.Profile()
        profile.CopyFrom(request.profile)
        profile.display_name = profile.display_name.strip()
        if profile.maturity_limit == pb.MATURITY_LIMIT_UNSPECIFIED:
            profile.maturity_limit = pb.MATURITY_LIMIT_ALL  # unset means ALL; store it so
        for name in ("name", "create_time", "update_time", "etag"):
            profile.ClearField(name)
        profile_id = request.profile_id or slugify(profile.display_name, fallback="profile")
        return await self.repository.create_profile(
            user_id_of(request.parent),
            profile_id,
            profile,
            limit=MAX_PROFILES,
            generated=not request.profile_id,
        )

    async def get_profile(self, name: str, caller: Caller) -> pb.Profile:
        caller.check_owns_profile(name)
        found = await self.repository.get_profile(*split_child(name, "profiles"))
        if found is None:
            raise profile_not_found(name)
        return found

    async def list_profiles(
        self, request: pb.ListProfilesRequest, caller: Caller
    ) -> pb.ListProfilesResponse:
        caller.check_owns_user(request.parent)
        offset = decode_page_token(
            self.page_tokens, LIST_PROFILES_SCOPE, request, request.page_token
        )
        size = request.page_size or None
        rows = await self.repository.list_profiles(
            user_id_of(request.parent), offset, None if size is None else size + 1
        )
        if rows is None:
            raise user_not_found(request.parent)
        response = pb.ListProfilesResponse(profiles=rows[:size] if size else rows)
        if size is not None and len(rows) > size:
            response.next_page_token = encode_page_token(
                self.page_tokens, LIST_PROFILES_SCOPE, request, offset + size
            )
        return response

    async def update_profile(self, request: pb.UpdateProfileRequest, caller: Caller) -> pb.Profile:
        incoming = request.profile
        if not re.fullmatch(
            r"users/[a-z0-9][a-z0-9-]{0,62}/profiles/[a-z0-9][a-z0-9-]{0,62}", incoming.name
        ):
            raise InvalidArgument.for_field(
                "profile.name",
                "must be the name of the profile to update, such as users/ada/profiles/main",
            )
        caller.check_owns_profile(incoming.name)
        paths = _mask_paths(request.update_mask, incoming, PROFILE_MUTABLE, _PROFILE_OUTPUT_ONLY)
        if "display_name" in paths and not incoming.display_name.strip():
            raise InvalidArgument.for_field("profile.display_name", "is required")

        def change(current: pb.Profile) -> pb.Profile:
            if incoming.etag and incoming.etag != current.etag:
                raise etag_mismatch("profile", current.name)
            updated = pb.Profile()
            updated.CopyFrom(current)
            for path in paths:
                value = getattr(incoming, path)
                if path == "preferred_genres":
                    del updated.preferred_genres[:]
                    updated.preferred_genres.extend(value)
                elif path == "maturity_limit":
                    updated.maturity_limit = value or pb.MATURITY_LIMIT_ALL
                else:
                    setattr(updated, path, value.strip() if path == "display_name" else value)
            return updated

        return await self.repository.update_profile(*split_child(incoming.name, "profiles"), change)

    async def delete_profile(self, name: str, etag: str, caller: Caller) -> None:
        caller.check_owns_profile(name)
        await self.repository.delete_profile(*split_child(name, "profiles"), etag)

    # -- devices ----------------------------------------------------------------------------

    async def register_device(self, request: pb.RegisterDeviceRequest, caller: Caller) -> pb.Device:
        caller.check_owns_user(request.parent)
        device = pb.Device(
            device_id=request.device.device_id,
            type=request.device.type,
            display_name=request.device.display_name.strip(),
        )
        return await self.repository.register_device(
            user_id_of(request.parent), device_key(device.device_id), device, limit=MAX_DEVICES
        )

    async def list_devices(
        self, request: pb.ListDevicesRequest, caller: Caller
    ) -> pb.ListDevicesResponse:
        caller.check_owns_user(request.parent)
        offset = decode_page_token(
            self.page_tokens, LIST_DEVICES_SCOPE, request, request.page_token
        )
        size = request.page_size or _DEFAULT_DEVICE_PAGE
        rows = await self.repository.list_devices(user_id_of(request.parent), offset, size + 1)
        if rows is None:
            raise user_not_found(request.parent)
        response = pb.ListDevicesResponse(devices=rows[:size])
        if len(rows) > size:
            response.next_page_token = encode_page_token(
                self.page_tokens, LIST_DEVICES_SCOPE, request, offset + size
            )
        return response

    async def delete_device(self, name: str, caller: Caller) -> None:
        user_id, key = split_child(name, "devices")
        caller.check_owns_user(f"users/{user_id}")
        if not await self.repository.delete_device(user_id, key):
            raise device_not_found(name)
        _log.info("device.deleted", device=name)

    # -- sign-in and tokens -----------------------------------------------------------------

    async def login(
        self, email: str, password: str, device_id: str = ""
    ) -> tuple[pb.User, pb.Tokens]:
        key = email_key(email)
        now = self.clock()
        window = timedelta(seconds=self.policy.login_failure_window_s)
        failures = await self.repository.recent_failures(key, now - window)
        limit = self.policy.login_max_failures
        if len(failures) >= limit:
            # The count drops below the limit when the limit-th most recent failure ages out.
            unlock = sorted(failures, reverse=True)[limit - 1] + window
            retry_after = max((unlock - now).total_seconds(), 1.0)
            raise ResourceExhausted(
                f"too many failed sign-in attempts; retry in {int(retry_after + 0.999)} s",
                reason="TOO_MANY_LOGIN_ATTEMPTS",
                retry_after_s=retry_after,
            )
        found = await self.repository.credentials(key)
        ok = await self.passwords.verify(found[1] if found else None, password)
        if not ok or found is None:
            await self.repository.record_failure(key, now, now - window)
            _log.info("login.failed")
            raise _unauthenticated_login()
        user, password_hash = found
        if failures:
            await self.repository.clear_failures(key)
        if self.passwords.needs_rehash(password_hash):
            await self.repository.set_password_hash(
                user_id_of(user.name), await self.passwords.hash(password)
            )
        tokens = await self._issue(user, None, device_id, USER_SCOPES, family_id=None)
        _log.info("login.succeeded", user=user.name)
        return user, tokens

    async def issue_token(self, request: pb.IssueTokenRequest, caller: Caller) -> pb.Tokens:
        caller.check_owns_profile(request.profile)
        scopes = tuple(dict.fromkeys(request.scopes)) or PROFILE_SCOPES
        unknown = [
            FieldViolation(
                f"scopes[{i}]", f"unknown scope {s!r}; known: {', '.join(sorted(KNOWN_SCOPES))}"
            )
            for i, s in enumerate(request.scopes)
            if s not in KNOWN_SCOPES
        ]
        if unknown:
            raise InvalidArgument.of(unknown)
        user_id, profile_id = split_child(request.profile, "profiles")
        profile = await self.repository.get_profile(user_id, profile_id)
        if profile is None:
            raise profile_not_found(request.profile)
        user = await self.repository.get_user(user_id)
        if user is None:
            raise profile_not_found(request.profile)
        return await self._issue(user, profile, caller.device, scopes, family_id=None)

    async def refresh(self, refresh_token: str) -> pb.Tokens:
        now = self.clock()
        fresh = new_refresh_token()
        expire = now + timedelta(seconds=self.policy.refresh_token_ttl_s)

        def successor(found: RefreshOutcome) -> NewRefreshToken:
            assert found.user is not None
            return NewRefreshToken(
                token_hash=refresh_token_hash(fresh),
                family_id=found.family_id,
                user_id=user_id_of(found.user.name),
                profile_id=found.profile.name.rsplit("/", 1)[-1] if found.profile else "",
                device_id=found.device_id,
                scope=found.scope,
                create_time=now,
                expire_time=expire,
            )

        outcome = await self.repository.rotate_refresh_token(
            refresh_token_hash(refresh_token), successor, now
        )
        if outcome.status == "reused":
            _log.warning("refresh.reuse_detected", family=outcome.family_id)
            raise _unauthenticated_refresh()
        if outcome.status != "ok" or outcome.user is None:
            raise _unauthenticated_refresh()
        return self._tokens(
            outcome.user,
            outcome.profile,
            outcome.device_id,
            tuple(outcome.scope.split()),
            now=now,
            refresh=(fresh, expire),
        )

    async def _issue(
        self,
        user: pb.User,
        profile: pb.Profile | None,
        device_id: str,
        scopes: Sequence[str],
        *,
        family_id: str | None,
    ) -> pb.Tokens:
        now = self.clock()
        refresh = new_refresh_token()
        expire = now + timedelta(seconds=self.policy.refresh_token_ttl_s)
        await self.repository.add_refresh_token(
            NewRefreshToken(
                token_hash=refresh_token_hash(refresh),
                family_id=family_id or uuid.uuid4().hex,
                user_id=user_id_of(user.name),
                profile_id=profile.name.rsplit("/", 1)[-1] if profile else "",
                device_id=device_id,
                scope=" ".join(scopes),
                create_time=now,
                expire_time=expire,
            )
        )
        if device_id:
            await self.repository.touch_device(user_id_of(user.name), device_id, now)
        return self._tokens(user, profile, device_id, scopes, now=now, refresh=(refresh, expire))

    def _tokens(
        self,
        user: pb.User,
        profile: pb.Profile | None,
        device_id: str,
        scopes: Sequence[str],
        *,
        now: datetime,
        refresh: tuple[str, datetime],
    ) -> pb.Tokens:
        expire = now + timedelta(seconds=self.policy.access_token_ttl_s)
        claims: dict[str, Any] = {
            "iss": TOKEN_ISSUER,
            "aud": TOKEN_AUDIENCE,
            "sub": user.name,
            "plan": user.plan,
            "roles": roles_claim(user.roles),
            "scope": " ".join(scopes),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expire.timestamp()),
            "jti": uuid.uuid4().hex,
        }
        if profile is not None:
            claims["profile"] = profile.name
            claims["mat"] = _maturity_name(profile.maturity_limit)
        if device_id:
            claims["did"] = device_id
        token = sign_access_token(self.signing_key(now), claims)
        return pb.Tokens(
            access_token=token,
            token_type="Bearer",
            expire_time=ts(datetime.fromtimestamp(claims["exp"], UTC)),
            refresh_token=refresh[0],
            refresh_expire_time=ts(refresh[1]),
            scope=" ".join(scopes),
        )

    # -- signing keys -----------------------------------------------------------------------

    def signing_key(self, now: datetime | None = None) -> SigningKey:
        return current_key(self._keys, now or self.clock())

    def published_keys(self) -> list[SigningKey]:
        """Every key a verifier may meet, the one signing now first."""
        if not self._keys:
            return []
        current = self.signing_key()
        others = sorted(
            (k for k in self._keys if k.kid != current.kid),
            key=lambda k: k.activate_time,
            reverse=True,
        )
        return [current, *others]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return jwks_document(self.published_keys())

    async def load_keys(self) -> None:
        """Reload the keys from storage (another replica may have rotated them)."""
        self._keys = await self.repository.signing_keys()

    async def rotate_if_due(self) -> None:
        """Create, retire and delete keys as `plan_rotation` says; run at start and periodically."""
        now = self.clock()
        self._keys = await self.repository.change_signing_keys(
            lambda keys: plan_rotation(keys, now, self.policy)
        )

    async def prune(self) -> int:
        """Forget refresh tokens expired a day ago and login failures outside the window."""
        now = self.clock()
        return await self.repository.prune(
            now - timedelta(days=1), now - timedelta(seconds=self.policy.login_failure_window_s)
        )

    async def rotate_now(self) -> SigningKey:
        """Replace the signing key at once (tests; a suspected key compromise). Tokens signed
        by the old key keep verifying until they expire; the new key signs immediately, so a
        verifier caching the JWKS may reject new tokens until it refetches."""
        now = self.clock()
        fresh = new_signing_key(now, now)

        def decide(keys: list[SigningKey]) -> KeyChanges:
            changes = KeyChanges(add=[fresh])
            for key in keys:
                if key.retire_time is None:
                    changes.retire[key.kid] = now
            return changes

        self._keys = await self.repository.change_signing_keys(decide)
        _log.info("signing_key.rotated", kid=fresh.kid)
        return fresh


def _mask_paths(
    mask: field_mask_pb2.FieldMask,
    message: Any,
    mutable: Sequence[str],
    output_only: set[str],
) -> list[str]:
    if not mask.paths:
        return [fd.name for fd, _ in message.ListFields() if fd.name in mutable]
    problems = []
    for index, path in enumerate(mask.paths):
        if path in output_only:
            problems.append(
                FieldViolation(f"update_mask.paths[{index}]", f"{path!r} cannot be changed")
            )
        elif path not in mutable:
            problems.append(
                FieldViolation(
                    f"update_mask.paths[{index}]",
                    f"unknown field {path!r}; updatable: {', '.join(mutable)}",
                )
            )
    if problems:
        raise InvalidArgument.of(problems)
    return list(dict.fromkeys(mask.paths))


# --------------------------------------------------------------------------------------------
# Seeding


async def ensure_user(
    domain_or_engine: Any,
    *,
    email: str,
    password: str,
    plan: str,
    region: str,
    admin: bool = False,
    display_name: str = "",
) -> str:
    """The name of the user with `email`, created (with `plan`, home `region`, and the admin
    role when `admin`) if there is none; an existing user is left as it is. Idempotent; for the
    launcher's demo accounts. Accepts an `AccountsDomain` or the accounts schema's engine."""
    domain = domain_or_engine
    if not isinstance(domain, AccountsDomain):
        from .repository import PostgresAccountsRepository

        domain = AccountsDomain(PostgresAccountsRepository(domain_or_engine))
    found = await domain.repository.credentials(email_key(email))
    if found is not None:
        return found[0].name
    request = pb.CreateUserRequest(
        user=pb.User(
            email=email,
            display_name=display_name or email.split("@")[0],
            plan=plan if plan.startswith("plans/") else f"plans/{plan}",
            home_region=region.upper(),
            roles=["admin"] if admin else [],
        ),
        password=password,
    )
    from services.runtime import validation

    validation.check(request)
    try:
        user, _ = await domain.create_user(
            request, Caller(user="users/-", roles=frozenset({"admin"}))
        )
    except AlreadyExists:  # created concurrently
        found = await domain.repository.credentials(email_key(email))
        if found is None:
            raise
        return found[0].name
    return user.name
