"""Licensing logic, without gRPC: content keys for the packager, licences and HLS keys for
players bound to a live playback session, and the audit of every attempt.

A licence or key request passes, in order: the session token (HMAC, expiry), the session as
playback sees it now (active, unexpired, same title and region as the token), the platform
region of the request, the title's availability there, the device (not revoked), the keys
(known, of the session's media, of a track class the plan and session allow, deliverable
through the key system asked), and the per-session licence budget. The first failed check is
the refusal's reason. Every grant and every refusal is recorded (row + `LicenseAudited` event,
one transaction); key material and tokens are never part of a record, an event or a log line.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from vod.licensing.v1 import licensing_pb2 as pb
from vod.playback.v1 import playback_pb2 as ppb

from services.licensing import envelope
from services.licensing.envelope import EnvelopeError, MasterKeyRing, Sealed
from services.licensing.key_exchange import ClearKeyExchange, KeyExchange
from services.licensing.policy import LicensePolicy, allowed, policy_for
from services.runtime.errors import (
    AlreadyExists,
    DataLoss,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from services.runtime.logs import get_logger
from services.runtime.page_tokens import PageTokens, bad_page_token, default_page_tokens
from services.runtime.playback_tokens import SessionClaims, TokenError, verify_session_token

__all__ = [
    "AvailabilityChecker",
    "DeviceDirectory",
    "HlsKey",
    "KeyRecord",
    "License",
    "LicensingConfig",
    "LicensingDomain",
    "LicensingRepository",
    "SessionDirectory",
    "SessionView",
]

_log = get_logger("licensing")

DEFAULT_PAGE_SIZE = 50


# -- what the domain works with -----------------------------------------------------------------


@dataclass(frozen=True)
class KeyRecord:
    """A stored content key: identity, and its envelope (no plaintext)."""

    key_id: str
    media_asset: str
    track_type: int
    key_systems: tuple[int, ...]
    sealed: Sealed = field(repr=False)
    create_time: datetime
    seq: int = 0

    def to_proto(self, key: bytes = b"", iv: bytes = b"") -> pb.ContentKey:
        message = pb.ContentKey(
            name=f"contentKeys/{self.key_id}",
            key_id=self.key_id,
            media_asset=self.media_asset,
            track_type=self.track_type,  # type: ignore[arg-type]
            key_systems=list(self.key_systems),  # type: ignore[arg-type]
            key=key,
            iv=iv,
        )
        message.create_time.FromDatetime(self.create_time)
        return message


@dataclass(frozen=True)
class SessionView:
    """A playback session as `GetSession` describes it now."""

    name: str
    title: str
    profile: str
    user: str
    media_asset: str
    plan: str
    region: str
    device_id: str
    max_height: int
    state: int
    expire_time: datetime


@dataclass(frozen=True)
class License:
    """A granted ClearKey licence: (kid, k) base64url pairs and the policy."""

    keys: list[tuple[str, str]] = field(repr=False)
    type: str
    policy: pb.LicensePolicy


@dataclass(frozen=True)
class HlsKey:
    key: bytes = field(repr=False)
    policy: pb.LicensePolicy = field(default_factory=pb.LicensePolicy)


# -- dependencies -------------------------------------------------------------------------------


class SessionDirectory(Protocol):
    """Playback's `GetSession`."""

    async def get_session(self, name: str) -> SessionView | None: ...


class AvailabilityChecker(Protocol):
    """Catalog's `CheckAvailability`."""

    async def is_available(self, title: str, region: str, at: datetime) -> bool: ...


class DeviceDirectory(Protocol):
    """Accounts' `ListDevices`: the device ids a user has registered."""

    async def device_ids(self, user: str) -> frozenset[str]: ...


class LicensingRepository(Protocol):
    async def insert_key(self, record: KeyRecord) -> bool:
        """False when the asset already has a key for the track type."""
        ...

    async def keys_by_id(self, key_ids: Sequence[str]) -> list[KeyRecord]: ...

    async def keys_of_media(self, media_asset: str) -> list[KeyRecord]: ...

    async def list_keys(self, media_asset: str, after_seq: int, limit: int) -> list[KeyRecord]: ...

    async def record_refusal(self, audit: pb.LicenseAudit) -> None:
        """Store a refusal and its event (one transaction)."""
        ...

    async def record_grant(self, audit: pb.LicenseAudit, max_per_session: int) -> bool:
        """Count a licence against its session and store the grant and its event, in one
        transaction; False (nothing stored) when the session reached `max_per_session`."""
        ...

    async def list_audits(
        self, session: str, decision: int, before_seq: int, limit: int
    ) -> list[tuple[int, pb.LicenseAudit]]: ...

    async def rewrap_all(self, transform: Callable[[str, Sealed], Sealed], current: str) -> int:
        """Apply `transform` to every record not wrapped by master key `current`."""
        ...

    async def master_key_ids(self) -> dict[str, int]:
        """Master key id -> number of records it wraps."""
        ...


@dataclass(frozen=True)
class LicensingConfig:
    playback_secret: bytes = field(repr=False)
    packager_secret: bytes = field(repr=False)
    max_licenses_per_session: int = 32
    cache_ttl_s: float = 5.0


# -- helpers -------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _kid_hex(kid: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(kid + "=" * (-len(kid) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise InvalidArgument.for_field(
            "license_request.kids", "must be 16-byte key ids in base64url without padding"
        )
    return raw.hex()


LIST_CONTENT_KEYS_SCOPE = "vod.licensing.v1.LicensingService/ListContentKeys"
LIST_LICENSE_AUDITS_SCOPE = "vod.licensing.v1.LicensingService/ListLicenseAudits"


def _decode_token(codec: PageTokens, scope: str, token: str, filters: str) -> int:
    """The sequence number a signed token (`services.runtime.page_tokens`) resumes after,
    issued by `scope` for the same `filters`."""
    position = codec.decode(token, scope, None, bind=filters).get("p")
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise bad_page_token("does not hold a position in this list")
    return position


class _TtlCache:
    """Small per-key cache of dependency answers; an entry lives `ttl_s`, never past `cap`."""

    def __init__(self, clock: Callable[[], float], size: int = 4096) -> None:
        self._clock = clock
        self._size = size
        self._entries: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: Any, value: Any, until: float) -> None:
        if until <= self._clock():
            return
        if len(self._entries) >= self._size:
            now = self._clock()
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= self._size:
                self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (until, value)


_HEX_KID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class _Attempt:
    """What an audit record of one licence/key request will say."""

    key_system: int
    requested: list[str] = field(default_factory=list)
    session: str = ""
    title: str = ""
    profile: str = ""
    region: str = ""

    def audit(
        self, decision: int, reason: str, granted: Sequence[str], at: datetime
    ) -> pb.LicenseAudit:
        record = pb.LicenseAudit(
            name=f"licenseAudits/{uuid.uuid4().hex}",
            decision=decision,  # type: ignore[arg-type]
            reason=reason,
            key_system=self.key_system,  # type: ignore[arg-type]
            session=self.session,
            title=self.title,
            profile=self.profile,
            region_code=self.region,
            requested_key_ids=self.requested,
            granted_key_ids=list(granted),
        )
        record.create_time.FromDatetime(at)
        return record


@dataclass(frozen=True)
class _Bound:
    session: SessionView
    policy: LicensePolicy
    max_height: int


# -- the domain ----------------------------------------------------------------------------------


class LicensingDomain:
    def __init__(
        self,
        config: LicensingConfig,
        repository: LicensingRepository,
        ring: MasterKeyRing,
        *,
        sessions: SessionDirectory,
        catalog: AvailabilityChecker,
        devices: DeviceDirectory,
        exchange: KeyExchange | None = None,
        clock: Callable[[], float] = time.time,
        page_tokens: PageTokens | None = None,
    ) -> None:
        self._config = config
        self._page_tokens = page_tokens or default_page_tokens()
        self._repo = repository
        self._ring = ring
        self._sessions = sessions
        self._catalog = catalog
        self._devices = devices
        self._exchange: KeyExchange = exchange or ClearKeyExchange()
        self._clock = clock
        self._availability = _TtlCache(clock)
        self._device_cache = _TtlCache(clock)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # -- packager (internal) --------------------------------------------------------------------

    def check_packager(self, presented: str) -> None:
        """PERMISSION_DENIED unless `presented` is the packager secret (constant time)."""
        secret = self._config.packager_secret
        if not secret or not hmac.compare_digest(presented.encode(), secret):
            raise PermissionDenied(
                "content keys are for the packager only (x-vod-packager)", reason="NOT_PACKAGER"
            )

    async def create_content_key(
        self, media_asset: str, track_type: int, key_systems: Sequence[int]
    ) -> KeyRecord:
        track_type = track_type or pb.TRACK_TYPE_ALL
        systems = tuple(dict.fromkeys(key_systems))
        for _ in range(3):  # a random 128-bit KID colliding is all but impossible; retry anyway
            (info,) = await self._exchange.content_keys(media_asset, [track_type])
            sealed = envelope.seal_content_key(
                self._ring, info.key_id, media_asset, info.key, info.iv
            )
            record = KeyRecord(info.key_id, media_asset, track_type, systems, sealed, self._now())
            if await self._repo.insert_key(record):
                _log.info(
                    "content_key.created",
                    key_id=record.key_id,
                    media_asset=media_asset,
                    track_type=pb.TrackType.Name(track_type),  # type: ignore[arg-type]
                    master_key_id=sealed.master_key_id,
                )
                return record
            existing = [k for k in await self._repo.keys_of_media(media_asset)]
            if any(k.track_type == track_type for k in existing):
                raise AlreadyExists(
                    f"{media_asset} already has a {pb.TrackType.Name(track_type)} key "  # type: ignore[arg-type]
                    "(fetch it with GetContentKeys)",
                    reason="CONTENT_KEY_EXISTS",
                    resource_type="vod.licensing.v1.ContentKey",
                    resource_name=next(
                        f"contentKeys/{k.key_id}" for k in existing if k.track_type == track_type
                    ),
                )
        raise AlreadyExists("could not allocate a unique key id; retry", reason="KEY_ID_COLLISION")

    def _open(self, record: KeyRecord) -> tuple[bytes, bytes]:
        try:
            return envelope.open_content_key(
                self._ring, record.key_id, record.media_asset, record.sealed
            )
        except EnvelopeError as exc:
            _log.error("content_key.unreadable", key_id=record.key_id, error=str(exc))
            raise DataLoss(
                f"content key {record.key_id} cannot be read", reason="KEY_UNREADABLE"
            ) from None

    async def get_content_keys(
        self, media_asset: str, key_ids: Sequence[str]
    ) -> list[tuple[KeyRecord, bytes, bytes]]:
        records = await self._repo.keys_of_media(media_asset)
        if key_ids:
            by_id = {r.key_id: r for r in records}
            missing = [k for k in dict.fromkeys(key_ids) if k not in by_id]
            if missing:
                raise NotFound(
                    f"{media_asset} has no content key {missing[0]}",
                    reason="CONTENT_KEY_NOT_FOUND",
                    resource_type="vod.licensing.v1.ContentKey",
                    resource_name=f"contentKeys/{missing[0]}",
                )
            records = [by_id[k] for k in dict.fromkeys(key_ids)]
        out = []
        for record in records:
            key, iv = self._open(record)
            out.append((record, key, iv))
        _log.info("content_keys.delivered", media_asset=media_asset, count=len(out))
        return out

    async def list_content_keys(
        self, media_asset: str, page_size: int, page_token: str
    ) -> tuple[list[KeyRecord], str]:
        size = page_size or DEFAULT_PAGE_SIZE
        scope = LIST_CONTENT_KEYS_SCOPE
        after = (
            _decode_token(self._page_tokens, scope, page_token, media_asset) if page_token else 0
        )
        rows = await self._repo.list_keys(media_asset, after, size + 1)
        more = len(rows) > size
        rows = rows[:size]
        token = (
            self._page_tokens.encode(scope, None, {"p": rows[-1].seq}, bind=media_asset)
            if more
            else ""
        )
        return rows, token

    # -- players (public) -----------------------------------------------------------------------

    async def acquire_clearkey(
        self, token: str, kids: Sequence[str], license_type: str, platform_region: str
    ) -> License:
        attempt = _Attempt(pb.KEY_SYSTEM_CLEARKEY)
        license_type = license_type or "temporary"

        async def run() -> License:
            key_ids = list(dict.fromkeys(_kid_hex(k) for k in kids))
            attempt.requested = key_ids
            claims = self._claims(attempt, token)
            if not key_ids:
                raise InvalidArgument.for_field("license_request.kids", "name at least one key id")
            bound = await self._bind(attempt, claims, platform_region)
            if license_type == "persistent-license" and not bound.policy.persistent:
                raise PermissionDenied(
                    f"{bound.session.plan or 'this plan'} does not allow persistent licences",
                    reason="PERSISTENT_LICENSE_NOT_ALLOWED",
                )
            records = await self._owned_keys(bound, key_ids)
            deliverable = [r for r in records if self._system_ok(r, pb.KEY_SYSTEM_CLEARKEY)]
            if not deliverable:
                raise PermissionDenied(
                    "none of the keys may be delivered as a ClearKey licence",
                    reason="KEY_SYSTEM_NOT_ALLOWED",
                )
            granted = [r for r in deliverable if allowed(r.track_type, bound.max_height)]
            if not granted:
                raise PermissionDenied(
                    f"the keys asked for are above this session's {bound.max_height}p limit",
                    reason="RESOLUTION_NOT_IN_PLAN",
                )
            keys = [(_b64url(bytes.fromhex(r.key_id)), _b64url(self._open(r)[0])) for r in granted]
            policy = self._policy_proto(bound, persistent=license_type == "persistent-license")
            await self._grant(attempt, bound, [r.key_id for r in granted])
            return License(keys, license_type, policy)

        return await self._audited(attempt, run)

    async def get_hls_key(self, token: str, key_id: str, platform_region: str) -> HlsKey:
        attempt = _Attempt(pb.KEY_SYSTEM_HLS_AES_128, requested=[key_id])

        async def run() -> HlsKey:
            bound = await self._bind(attempt, self._claims(attempt, token), platform_region)
            (record,) = await self._owned_keys(bound, [key_id])
            if not self._system_ok(record, pb.KEY_SYSTEM_HLS_AES_128):
                raise PermissionDenied(
                    f"key {key_id} may not be delivered through HLS AES-128",
                    reason="KEY_SYSTEM_NOT_ALLOWED",
                )
            if not allowed(record.track_type, bound.max_height):
                raise PermissionDenied(
                    f"key {key_id} is above this session's {bound.max_height}p limit",
                    reason="RESOLUTION_NOT_IN_PLAN",
                )
            key, _iv = self._open(record)
            policy = self._policy_proto(bound, persistent=False)
            await self._grant(attempt, bound, [key_id])
            return HlsKey(key, policy)

        return await self._audited(attempt, run)

    async def refuse_malformed(self, key_system: int, token: str, key_ids: Sequence[str]) -> None:
        """Audits a licence or key request refused as malformed before it reached the domain
        (the contract's validation rules). The session is recorded only when the token is
        genuine; the key ids only when they look like key ids."""
        attempt = _Attempt(key_system, requested=[k for k in key_ids if _HEX_KID.match(k)][:16])
        try:
            claims = verify_session_token(self._config.playback_secret, token, now=0)
        except TokenError:
            pass
        else:
            attempt.session = f"sessions/{claims.session}"
            attempt.title = f"titles/{claims.title}"
            attempt.region = claims.region
        await self._refuse(attempt, "INVALID_REQUEST")

    async def _audited(self, attempt: _Attempt, run: Callable[[], Any]) -> Any:
        try:
            return await run()
        except DomainError as exc:
            await self._refuse(attempt, exc.reason)
            raise
        except Exception:
            await self._refuse(attempt, "INTERNAL")
            raise

    async def _refuse(self, attempt: _Attempt, reason: str) -> None:
        audit = attempt.audit(pb.LICENSE_DECISION_REFUSED, reason, (), self._now())
        try:
            await self._repo.record_refusal(audit)
        except Exception as exc:  # the refusal stands; the audit store is down
            _log.error("audit.failed", reason=reason, session=attempt.session, error=str(exc))
        _log.info(
            "license.refused",
            reason=reason,
            key_system=pb.KeySystem.Name(attempt.key_system),  # type: ignore[arg-type]
            session=attempt.session,
            title=attempt.title,
            key_ids=attempt.requested,
        )

    async def _grant(self, attempt: _Attempt, bound: _Bound, key_ids: list[str]) -> None:
        audit = attempt.audit(pb.LICENSE_DECISION_GRANTED, "GRANTED", key_ids, self._now())
        if not await self._repo.record_grant(audit, bound.policy.max_licenses_per_session):
            raise ResourceExhausted(
                f"{bound.session.name} has had its {bound.policy.max_licenses_per_session} "
                "licences; start a new session",
                reason="TOO_MANY_LICENSES",
            )
        _log.info(
            "license.granted",
            key_system=pb.KeySystem.Name(attempt.key_system),  # type: ignore[arg-type]
            session=attempt.session,
            title=attempt.title,
            key_ids=key_ids,
        )

    def _claims(self, attempt: _Attempt, token: str) -> SessionClaims:
        """The token's claims (HMAC checked, then expiry), noted on the attempt."""
        try:
            # Expiry is checked below, so an expired token is told apart from a forged one.
            claims = verify_session_token(self._config.playback_secret, token, now=0)
        except TokenError:
            raise Unauthenticated(
                "the session token is not valid; start playback again", reason="TOKEN_INVALID"
            ) from None
        attempt.session = f"sessions/{claims.session}"
        attempt.title = f"titles/{claims.title}"
        attempt.region = claims.region
        if claims.expires < self._clock():
            raise Unauthenticated(
                "the session token has expired; start playback again", reason="TOKEN_EXPIRED"
            )
        return claims

    async def _bind(self, attempt: _Attempt, claims: SessionClaims, platform_region: str) -> _Bound:
        now = self._clock()
        session = await self._sessions.get_session(attempt.session)  # never cached: may stop
        if session is None:
            raise FailedPrecondition(
                f"{attempt.session} does not exist", reason="SESSION_NOT_FOUND"
            )
        attempt.profile = session.profile
        if session.title != attempt.title or session.region != claims.region:
            raise Unauthenticated(
                "the session token does not match its session", reason="TOKEN_INVALID"
            )
        if session.state == ppb.SESSION_STATE_EXPIRED or (
            session.state == ppb.SESSION_STATE_ACTIVE and session.expire_time.timestamp() <= now
        ):
            raise FailedPrecondition(
                f"{session.name} has expired; start playback again",
                reason="SESSION_EXPIRED",
                violations=(("SESSION_STATE", session.name, "the session expired"),),
            )
        if session.state != ppb.SESSION_STATE_ACTIVE:
            raise FailedPrecondition(
                f"{session.name} was stopped; start playback again",
                reason="SESSION_STOPPED",
                violations=(("SESSION_STATE", session.name, "the session was stopped"),),
            )
        if platform_region and platform_region != session.region:
            raise PermissionDenied(
                f"{session.name} plays in {session.region}, not {platform_region}",
                reason="REGION_MISMATCH",
            )
        until = min(now + self._config.cache_ttl_s, session.expire_time.timestamp())
        await self._check_available(session, until)
        await self._check_device(session, until)
        policy = policy_for(
            session.plan, max_licenses_per_session=self._config.max_licenses_per_session
        )
        cap = policy.max_height
        if session.max_height > 0:
            cap = min(cap, session.max_height)
        return _Bound(session, policy, cap)

    async def _check_available(self, session: SessionView, until: float) -> None:
        key = session.name  # per session: a burst of one player's requests
        available = self._availability.get(key)
        if available is None:
            available = await self._catalog.is_available(session.title, session.region, self._now())
            if available:  # refusals are not cached: a window may open any moment
                self._availability.put(key, True, until)
        if not available:
            raise FailedPrecondition(
                f"{session.title} is not available in {session.region} now",
                reason="NOT_AVAILABLE_IN_REGION",
                violations=(("AVAILABILITY", session.title, f"not available in {session.region}"),),
            )

    async def _check_device(self, session: SessionView, until: float) -> None:
        if not session.user:
            return
        devices = self._device_cache.get(session.name)
        if devices is None:
            devices = await self._devices.device_ids(session.user)
            self._device_cache.put(session.name, devices, until)
        if devices and session.device_id not in devices:
            raise PermissionDenied(
                f"the device of {session.name} is no longer registered to its account",
                reason="DEVICE_REVOKED",
            )

    async def _owned_keys(self, bound: _Bound, key_ids: Sequence[str]) -> list[KeyRecord]:
        records = {r.key_id: r for r in await self._repo.keys_by_id(key_ids)}
        for key_id in key_ids:
            if key_id not in records:
                raise NotFound(
                    f"there is no content key {key_id}",
                    reason="UNKNOWN_KEY",
                    resource_type="vod.licensing.v1.ContentKey",
                    resource_name=f"contentKeys/{key_id}",
                )
        for key_id in key_ids:
            if records[key_id].media_asset != bound.session.media_asset:
                raise PermissionDenied(
                    f"key {key_id} does not belong to {bound.session.title}",
                    reason="KEY_OF_ANOTHER_TITLE",
                )
        return [records[k] for k in key_ids]

    @staticmethod
    def _system_ok(record: KeyRecord, system: int) -> bool:
        return not record.key_systems or system in record.key_systems

    def _policy_proto(self, bound: _Bound, *, persistent: bool) -> pb.LicensePolicy:
        now = self._now()
        duration = timedelta(seconds=bound.policy.license_duration_s)
        expires = min(now + duration, bound.session.expire_time)
        policy = pb.LicensePolicy(session=bound.session.name, persistent=persistent)
        policy.license_duration.FromTimedelta(duration)
        policy.expire_time.FromDatetime(expires)
        return policy

    # -- audit (admin) --------------------------------------------------------------------------

    async def list_audits(
        self, session: str, decision: int, page_size: int, page_token: str
    ) -> tuple[list[pb.LicenseAudit], str]:
        size = page_size or DEFAULT_PAGE_SIZE
        filters = f"{session}|{decision}"
        scope = LIST_LICENSE_AUDITS_SCOPE
        before = _decode_token(self._page_tokens, scope, page_token, filters) if page_token else 0
        rows = await self._repo.list_audits(session, decision, before, size + 1)
        more = len(rows) > size
        rows = rows[:size]
        token = (
            self._page_tokens.encode(scope, None, {"p": rows[-1][0]}, bind=filters) if more else ""
        )
        return [audit for _, audit in rows], token

    # -- master key rotation --------------------------------------------------------------------

    async def rewrap_all(self, ring: MasterKeyRing | None = None) -> int:
        """Re-wrap every record's data key under `ring`'s (default: the configured ring's)
        current master key; content keys are unchanged. Returns how many records changed."""
        target = ring or self._ring

        def transform(key_id: str, sealed: Sealed) -> Sealed:
            return envelope.rewrap(target, key_id, sealed)

        count = await self._repo.rewrap_all(transform, target.current.id)
        _log.info("master_key.rewrapped", records=count, master_key_id=target.current.id)
        return count
