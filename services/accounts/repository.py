"""PostgreSQL storage of accounts (SQLAlchemy Core, async psycopg).

Writes that check a per-user limit (profiles, devices) lock the user's row first, so two
concurrent requests cannot both slip under the limit.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from vod.accounts.v1 import accounts_pb2 as pb

from services.accounts import schema as t
from services.accounts.domain import (
    KeyChanges,
    NewRefreshToken,
    NewUser,
    ProfileChange,
    RefreshOutcome,
    UserChange,
    etag_for,
    etag_mismatch,
    profile_not_found,
    ts,
    user_not_found,
)
from services.accounts.tokens import SigningKey
from services.runtime.db import read_only
from services.runtime.errors import AlreadyExists, FailedPrecondition, ResourceExhausted

__all__ = ["PostgresAccountsRepository"]

_KEY_LOCK = 0x6163636F756E7473  # "accounts": serialises key rotation across replicas


def _now() -> datetime:
    return datetime.now(UTC)


def _user(row: Any) -> pb.User:
    return pb.User(
        name=f"users/{row.id}",
        email=row.email,
        display_name=row.display_name,
        plan=f"plans/{row.plan_id}",
        home_region=row.home_region,
        create_time=ts(row.create_time),
        update_time=ts(row.update_time),
        etag=etag_for("user", row.id, row.version),
        roles=list(row.roles),
    )


def _profile(row: Any) -> pb.Profile:
    return pb.Profile(
        name=f"users/{row.user_id}/profiles/{row.id}",
        display_name=row.display_name,
        maturity_limit=row.maturity_limit,
        language=row.language,
        preferred_genres=list(row.preferred_genres),
        avatar_uri=row.avatar_uri,
        autoplay_next_episode=row.autoplay_next_episode,
        create_time=ts(row.create_time),
        update_time=ts(row.update_time),
        etag=etag_for("profile", f"{row.user_id}/{row.id}", row.version),
    )


def _profile_values(profile: pb.Profile) -> dict[str, Any]:
    return {
        "display_name": profile.display_name,
        "maturity_limit": profile.maturity_limit,
        "language": profile.language,
        "preferred_genres": list(profile.preferred_genres),
        "avatar_uri": profile.avatar_uri,
        "autoplay_next_episode": profile.autoplay_next_episode,
    }


def _device(row: Any) -> pb.Device:
    return pb.Device(
        name=f"users/{row.user_id}/devices/{row.id}",
        device_id=row.device_id,
        type=row.type,
        display_name=row.display_name,
        create_time=ts(row.create_time),
        last_seen_time=ts(row.last_seen_time),
    )


def _plan(row: Any) -> pb.Plan:
    return pb.Plan(
        name=f"plans/{row.id}",
        display_name=row.display_name,
        max_streams=row.max_streams,
        max_resolution=row.max_resolution,
        monthly_price_minor=row.monthly_price_minor,
        currency_code=row.currency_code,
    )


def _key(row: Any) -> SigningKey:
    return SigningKey.from_pem(
        row.kid, row.private_pem, row.create_time, row.activate_time, row.retire_time
    )


def _name_taken(user_id: str, display_name: str) -> AlreadyExists:
    return AlreadyExists(
        message=f"users/{user_id} already has a profile called {display_name!r}",
        reason="PROFILE_NAME_TAKEN",
        resource_type="vod.accounts.v1.Profile",
        resource_name=f"users/{user_id}/profiles",
    )


class PostgresAccountsRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = read_only(engine)

    # -- plans ------------------------------------------------------------------------------

    async def list_plans(self) -> list[pb.Plan]:
        stmt = sa.select(t.plans).order_by(t.plans.c.monthly_price_minor, t.plans.c.id)
        async with self._reads.connect() as conn:
            return [_plan(row) for row in (await conn.execute(stmt)).all()]

    async def plan_exists(self, plan_id: str) -> bool:
        stmt = sa.select(t.plans.c.id).where(t.plans.c.id == plan_id)
        async with self._reads.connect() as conn:
            return (await conn.execute(stmt)).first() is not None

    # -- users ------------------------------------------------------------------------------

    async def create_user(self, user: NewUser, profile: pb.Profile) -> tuple[pb.User, pb.Profile]:
        now = _now()
        email_key = user.email.lower()
        try:
            async with self._engine.begin() as conn:
                taken = (
                    await conn.execute(
                        sa.select(t.users.c.id).where(t.users.c.email_key == email_key)
                    )
                ).first()
                if taken is not None:
                    raise AlreadyExists(
                        message="an account with this email exists already; sign in instead",
                        reason="EMAIL_TAKEN",
                        resource_type="vod.accounts.v1.User",
                        resource_name="",
                    )
                if (await _user_row(conn, user.user_id)) is not None:
                    raise _user_id_taken(user.user_id)
                await conn.execute(
                    t.users.insert().values(
                        id=user.user_id,
                        email=user.email,
                        email_key=email_key,
                        display_name=user.display_name,
                        password_hash=user.password_hash,
                        plan_id=user.plan_id,
                        home_region=user.home_region,
                        roles=list(user.roles),
                        version=1,
                        create_time=now,
                        update_time=now,
                    )
                )
                await conn.execute(
                    t.profiles.insert().values(
                        user_id=user.user_id,
                        id="main",
                        **_profile_values(profile),
                        version=1,
                        create_time=now,
                        update_time=now,
                    )
                )
                row = await _user_row(conn, user.user_id)
                main = await _profile_row(conn, user.user_id, "main")
        except IntegrityError as exc:  # a concurrent sign-up won the race
            raise AlreadyExists(
                message="an account with this email or id exists already",
                reason="USER_EXISTS",
                resource_type="vod.accounts.v1.User",
                resource_name="",
            ) from exc
        return _user(row), _profile(main)

    async def get_user(self, user_id: str) -> pb.User | None:
        async with self._reads.connect() as conn:
            row = await _user_row(conn, user_id)
        return None if row is None else _user(row)

    async def credentials(self, email_key: str) -> tuple[pb.User, str] | None:
        stmt = sa.select(t.users).where(t.users.c.email_key == email_key)
        async with self._reads.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else (_user(row), row.password_hash)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                t.users.update().where(t.users.c.id == user_id).values(password_hash=password_hash)
            )

    async def update_user(self, user_id: str, change: UserChange) -> pb.User:
        async with self._engine.begin() as conn:
            row = await _user_row(conn, user_id, lock=True)
            if row is None:
                raise user_not_found(f"users/{user_id}")
            current = _user(row)
            updated = change(current)
            if updated == current:
                return current
            await conn.execute(
                t.users.update()
                .where(t.users.c.id == user_id)
                .values(
                    display_name=updated.display_name,
                    plan_id=updated.plan.removeprefix("plans/"),
                    home_region=updated.home_region,
                    version=row.version + 1,
                    update_time=_now(),
                )
            )
            return _user(await _user_row(conn, user_id))

    # -- profiles ---------------------------------------------------------------------------

    async def create_profile(
        self, user_id: str, profile_id: str, profile: pb.Profile, *, limit: int, generated: bool
    ) -> pb.Profile:
        now = _now()
        async with self._engine.begin() as conn:
            if (await _user_row(conn, user_id, lock=True)) is None:
                raise user_not_found(f"users/{user_id}")
            rows = (
                await conn.execute(sa.select(t.profiles).where(t.profiles.c.user_id == user_id))
            ).all()
            if len(rows) >= limit:
                raise ResourceExhausted(
                    f"users/{user_id} already has {len(rows)} profiles, the most allowed; "
                    "delete one first",
                    reason="PROFILE_LIMIT",
                )
            if any(r.display_name.lower() == profile.display_name.lower() for r in rows):
                raise _name_taken(user_id, profile.display_name)
            ids = {r.id for r in rows}
            if profile_id in ids:
                if not generated:
                    raise AlreadyExists(
                        message=f"users/{user_id}/profiles/{profile_id} exists already",
                        reason="PROFILE_EXISTS",
                        resource_type="vod.accounts.v1.Profile",
                        resource_name=f"users/{user_id}/profiles/{profile_id}",
                    )
                base = profile_id[:56]
                while profile_id in ids:
                    profile_id = f"{base}-{secrets.token_hex(2)}"
            await conn.execute(
                t.profiles.insert().values(
                    user_id=user_id,
                    id=profile_id,
                    **_profile_values(profile),
                    version=1,
                    create_time=now,
                    update_time=now,
                )
            )
            return _profile(await _profile_row(conn, user_id, profile_id))

    async def get_profile(self, user_id: str, profile_id: str) -> pb.Profile | None:
        async with self._reads.connect() as conn:
            row = await _profile_row(conn, user_id, profile_id)
        return None if row is None else _profile(row)

    async def list_profiles(
        self, user_id: str, offset: int, limit: int | None
    ) -> list[pb.Profile] | None:
        stmt = (
            sa.select(t.profiles)
            .where(t.profiles.c.user_id == user_id)
            .order_by(t.profiles.c.seq)
            .offset(offset)
            .limit(limit)
        )
        async with self._reads.connect() as conn:
            if (await _user_row(conn, user_id)) is None:
                return None
            return [_profile(row) for row in (await conn.execute(stmt)).all()]

    async def update_profile(
        self, user_id: str, profile_id: str, change: ProfileChange
    ) -> pb.Profile:
        async with self._engine.begin() as conn:
            await _user_row(conn, user_id, lock=True)
            row = await _profile_row(conn, user_id, profile_id, lock=True)
            if row is None:
                raise profile_not_found(f"users/{user_id}/profiles/{profile_id}")
            current = _profile(row)
            updated = change(current)
            if updated == current:
                return current
            if updated.display_name.lower() != current.display_name.lower():
                clash = (
                    await conn.execute(
                        sa.select(t.profiles.c.id)
                        .where(t.profiles.c.user_id == user_id)
                        .where(t.profiles.c.id != profile_id)
                        .where(
                            sa.func.lower(t.profiles.c.display_name) == updated.display_name.lower()
                        )
                    )
                ).first()
                if clash is not None:
                    raise _name_taken(user_id, updated.display_name)
            await conn.execute(
                t.profiles.update()
                .where(t.profiles.c.user_id == user_id, t.profiles.c.id == profile_id)
                .values(**_profile_values(updated), version=row.version + 1, update_time=_now())
            )
            return _profile(await _profile_row(conn, user_id, profile_id))

    async def delete_profile(self, user_id: str, profile_id: str, etag: str) -> None:
        name = f"users/{user_id}/profiles/{profile_id}"
        async with self._engine.begin() as conn:
            await _user_row(conn, user_id, lock=True)
            row = await _profile_row(conn, user_id, profile_id)
            if row is None:
                raise profile_not_found(name)
            if etag and etag != etag_for("profile", f"{user_id}/{profile_id}", row.version):
                raise etag_mismatch("profile", name)
            count = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(t.profiles)
                    .where(t.profiles.c.user_id == user_id)
                )
            ).scalar_one()
            if count <= 1:
                raise FailedPrecondition(
                    message=f"{name} is the last profile of users/{user_id}; a user keeps at "
                    "least one",
                    reason="LAST_PROFILE",
                    violations=(("LAST_PROFILE", name, "a user keeps at least one profile"),),
                )
            await conn.execute(
                t.profiles.delete().where(
                    t.profiles.c.user_id == user_id, t.profiles.c.id == profile_id
                )
            )
            await conn.execute(
                t.refresh_tokens.update()
                .where(t.refresh_tokens.c.user_id == user_id)
                .where(t.refresh_tokens.c.profile_id == profile_id)
                .where(t.refresh_tokens.c.revoke_time.is_(None))
                .values(revoke_time=_now())
            )

    # -- devices ----------------------------------------------------------------------------

    async def register_device(
        self, user_id: str, key: str, device: pb.Device, *, limit: int
    ) -> pb.Device:
        now = _now()
        try:
            async with self._engine.begin() as conn:
                if (await _user_row(conn, user_id, lock=True)) is None:
                    raise user_not_found(f"users/{user_id}")
                existing = (
                    await conn.execute(
                        sa.select(t.devices)
                        .where(t.devices.c.user_id == user_id)
                        .where(t.devices.c.device_id == device.device_id)
                    )
                ).first()
                if existing is not None:
                    return _device(existing)
                count = (
                    await conn.execute(
                        sa.select(sa.func.count())
                        .select_from(t.devices)
                        .where(t.devices.c.user_id == user_id)
                    )
                ).scalar_one()
                if count >= limit:
                    raise ResourceExhausted(
                        f"users/{user_id} already has {count} devices, the most allowed; "
                        "remove one first",
                        reason="DEVICE_LIMIT",
                    )
                row = (
                    await conn.execute(
                        t.devices.insert()
                        .values(
                            user_id=user_id,
                            id=key,
                            device_id=device.device_id,
                            type=device.type,
                            display_name=device.display_name,
                            create_time=now,
                            last_seen_time=now,
                        )
                        .returning(*t.devices.c)
                    )
                ).one()
        except IntegrityError as exc:
            raise AlreadyExists(
                message=f"users/{user_id}/devices/{key} exists already",
                reason="DEVICE_EXISTS",
                resource_type="vod.accounts.v1.Device",
                resource_name=f"users/{user_id}/devices/{key}",
            ) from exc
        return _device(row)

    async def list_devices(self, user_id: str, offset: int, limit: int) -> list[pb.Device] | None:
        stmt = (
            sa.select(t.devices)
            .where(t.devices.c.user_id == user_id)
            .order_by(t.devices.c.last_seen_time.desc(), t.devices.c.id)
            .offset(offset)
            .limit(limit)
        )
        async with self._reads.connect() as conn:
            if (await _user_row(conn, user_id)) is None:
                return None
            return [_device(row) for row in (await conn.execute(stmt)).all()]

    async def delete_device(self, user_id: str, key: str) -> bool:
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    t.devices.delete()
                    .where(t.devices.c.user_id == user_id, t.devices.c.id == key)
                    .returning(t.devices.c.device_id)
                )
            ).first()
            if row is None:
                return False
            await conn.execute(
                t.refresh_tokens.update()
                .where(t.refresh_tokens.c.user_id == user_id)
                .where(t.refresh_tokens.c.device_id == row.device_id)
                .where(t.refresh_tokens.c.revoke_time.is_(None))
                .values(revoke_time=_now())
            )
        return True

    async def touch_device(self, user_id: str, device_id: str, at: datetime) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                t.devices.update()
                .where(t.devices.c.user_id == user_id, t.devices.c.device_id == device_id)
                .values(last_seen_time=at)
            )

    # -- refresh tokens ---------------------------------------------------------------------

    async def add_refresh_token(self, token: NewRefreshToken) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(t.refresh_tokens.insert().values(**token.__dict__))

    async def rotate_refresh_token(
        self, old_hash: bytes, new: Callable[[RefreshOutcome], NewRefreshToken], now: datetime
    ) -> RefreshOutcome:
        rt = t.refresh_tokens
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(rt).where(rt.c.token_hash == old_hash).with_for_update()
                )
            ).first()
            if row is None or row.revoke_time is not None:
                return RefreshOutcome("invalid")
            if row.used_time is not None:
                await _revoke_family(conn, row.family_id, now)
                return RefreshOutcome("reused", family_id=row.family_id)
            if row.expire_time <= now:
                return RefreshOutcome("invalid")
            user_row = await _user_row(conn, row.user_id)
            profile_row = (
                await _profile_row(conn, row.user_id, row.profile_id) if row.profile_id else None
            )
            if user_row is None or (row.profile_id and profile_row is None):
                await _revoke_family(conn, row.family_id, now)
                return RefreshOutcome("invalid")
            await conn.execute(rt.update().where(rt.c.token_hash == old_hash).values(used_time=now))
            outcome = RefreshOutcome(
                "ok",
                user=_user(user_row),
                profile=None if profile_row is None else _profile(profile_row),
                family_id=row.family_id,
                device_id=row.device_id,
                scope=row.scope,
            )
            await conn.execute(rt.insert().values(**new(outcome).__dict__))
        return outcome

    async def prune(self, tokens_before: datetime, failures_before: datetime) -> int:
        async with self._engine.begin() as conn:
            tokens = await conn.execute(
                t.refresh_tokens.delete().where(t.refresh_tokens.c.expire_time < tokens_before)
            )
            failures = await conn.execute(
                t.login_failures.delete().where(t.login_failures.c.failure_time < failures_before)
            )
        return int(tokens.rowcount or 0) + int(failures.rowcount or 0)

    # -- login failures ---------------------------------------------------------------------

    async def recent_failures(self, email_key: str, since: datetime) -> list[datetime]:
        lf = t.login_failures
        stmt = sa.select(lf.c.failure_time).where(
            lf.c.email_key == email_key, lf.c.failure_time > since
        )
        async with self._reads.connect() as conn:
            return [row.failure_time for row in (await conn.execute(stmt)).all()]

    async def record_failure(self, email_key: str, at: datetime, prune_before: datetime) -> None:
        lf = t.login_failures
        async with self._engine.begin() as conn:
            await conn.execute(lf.insert().values(email_key=email_key, failure_time=at))
            await conn.execute(
                lf.delete().where(lf.c.email_key == email_key, lf.c.failure_time <= prune_before)
            )

    async def clear_failures(self, email_key: str) -> None:
        lf = t.login_failures
        async with self._engine.begin() as conn:
            await conn.execute(lf.delete().where(lf.c.email_key == email_key))

    # -- signing keys -----------------------------------------------------------------------

    async def signing_keys(self) -> list[SigningKey]:
        async with self._reads.connect() as conn:
            rows = (await conn.execute(sa.select(t.signing_keys))).all()
        return [_key(row) for row in rows]

    async def change_signing_keys(
        self, decide: Callable[[list[SigningKey]], KeyChanges]
    ) -> list[SigningKey]:
        sk = t.signing_keys
        async with self._engine.begin() as conn:
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_KEY_LOCK)))
            keys = [_key(row) for row in (await conn.execute(sa.select(sk))).all()]
            changes = decide(keys)
            if not changes:
                return keys
            for key in changes.add:
                await conn.execute(
                    sk.insert().values(
                        kid=key.kid,
                        private_pem=key.private_pem,
                        create_time=key.create_time,
                        activate_time=key.activate_time,
                    )
                )
            for kid, at in changes.retire.items():
                await conn.execute(sk.update().where(sk.c.kid == kid).values(retire_time=at))
            if changes.delete:
                await conn.execute(sk.delete().where(sk.c.kid.in_(changes.delete)))
            return [_key(row) for row in (await conn.execute(sa.select(sk))).all()]


async def _user_row(conn: AsyncConnection, user_id: str, *, lock: bool = False) -> Any:
    stmt = sa.select(t.users).where(t.users.c.id == user_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).first()


async def _profile_row(
    conn: AsyncConnection, user_id: str, profile_id: str, *, lock: bool = False
) -> Any:
    stmt = sa.select(t.profiles).where(
        t.profiles.c.user_id == user_id, t.profiles.c.id == profile_id
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).first()


async def _revoke_family(conn: AsyncConnection, family_id: str, now: datetime) -> None:
    rt = t.refresh_tokens
    await conn.execute(
        rt.update()
        .where(rt.c.family_id == family_id, rt.c.revoke_time.is_(None))
        .values(revoke_time=now)
    )


def _user_id_taken(user_id: str) -> AlreadyExists:
    return AlreadyExists(
        message=f"users/{user_id} exists already; choose another user_id",
        reason="USER_ID_TAKEN",
        resource_type="vod.accounts.v1.User",
        resource_name=f"users/{user_id}",
    )
