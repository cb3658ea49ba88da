"""PostgreSQL storage of licensing (SQLAlchemy Core, async psycopg).

* Content keys are stored sealed (see `envelope`); nothing here sees plaintext key material.
* A grant is counted against its session (`session_licenses`, an upsert that only increments
  below the limit) and recorded with its `LicenseAudited` event in one transaction, so a burst
  of requests past the limit yields exactly the allowed number of licences.
* Master-key rotation re-wraps records in batches, each row locked while it changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from vod.events.v1 import licensing_events_pb2 as ev
from vod.licensing.v1 import licensing_pb2 as pb

from services.licensing import schema as t
from services.licensing.domain import KeyRecord
from services.licensing.envelope import Sealed
from services.runtime.db import read_only
from services.runtime.events import new_meta
from services.runtime.outbox import enqueue

__all__ = ["PostgresLicensingRepository"]


def _record(row: sa.Row) -> KeyRecord:  # type: ignore[type-arg]
    return KeyRecord(
        key_id=row.key_id,
        media_asset=row.media_asset,
        track_type=row.track_type,
        key_systems=tuple(row.key_systems or ()),
        sealed=Sealed(row.master_key_id, bytes(row.wrapped_data_key), bytes(row.sealed_key)),
        create_time=row.create_time,
        seq=row.seq,
    )


def _audit(row: sa.Row) -> pb.LicenseAudit:  # type: ignore[type-arg]
    audit = pb.LicenseAudit(
        name=f"licenseAudits/{row.id}",
        decision=row.decision,
        reason=row.reason,
        key_system=row.key_system,
        session=row.session,
        title=row.title,
        profile=row.profile,
        region_code=row.region_code,
        requested_key_ids=list(row.requested_key_ids),
        granted_key_ids=list(row.granted_key_ids),
    )
    audit.create_time.FromDatetime(row.create_time)
    return audit


class _OverLimit(Exception):
    pass


class PostgresLicensingRepository:
    def __init__(
        self, engine: AsyncEngine, *, on_commit: Callable[[], None] = lambda: None
    ) -> None:
        self._engine = engine
        self._reads = read_only(engine)
        self._on_commit = on_commit

    # -- content keys ---------------------------------------------------------------------------

    async def insert_key(self, record: KeyRecord) -> bool:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    t.content_keys.insert().values(
                        key_id=record.key_id,
                        media_asset=record.media_asset,
                        track_type=record.track_type,
                        key_systems=list(record.key_systems),
                        master_key_id=record.sealed.master_key_id,
                        wrapped_data_key=record.sealed.wrapped_data_key,
                        sealed_key=record.sealed.sealed_key,
                        create_time=record.create_time,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def keys_by_id(self, key_ids: Sequence[str]) -> list[KeyRecord]:
        if not key_ids:
            return []
        async with self._reads.connect() as conn:
            rows = await conn.execute(
                sa.select(t.content_keys).where(t.content_keys.c.key_id.in_(list(key_ids)))
            )
            return [_record(r) for r in rows]

    async def keys_of_media(self, media_asset: str) -> list[KeyRecord]:
        async with self._reads.connect() as conn:
            rows = await conn.execute(
                sa.select(t.content_keys)
                .where(t.content_keys.c.media_asset == media_asset)
                .order_by(t.content_keys.c.seq)
            )
            return [_record(r) for r in rows]

    async def list_keys(self, media_asset: str, after_seq: int, limit: int) -> list[KeyRecord]:
        query = sa.select(t.content_keys).where(t.content_keys.c.seq > after_seq)
        if media_asset:
            query = query.where(t.content_keys.c.media_asset == media_asset)
        async with self._reads.connect() as conn:
            rows = await conn.execute(query.order_by(t.content_keys.c.seq).limit(limit))
            return [_record(r) for r in rows]

    async def master_key_ids(self) -> dict[str, int]:
        async with self._reads.connect() as conn:
            rows = await conn.execute(
                sa.select(t.content_keys.c.master_key_id, sa.func.count()).group_by(
                    t.content_keys.c.master_key_id
                )
            )
            return {row[0]: int(row[1]) for row in rows}

    async def rewrap_all(
        self, transform: Callable[[str, Sealed], Sealed], current: str, *, batch: int = 200
    ) -> int:
        changed = 0
        while True:
            async with self._engine.begin() as conn:
                rows = (
                    await conn.execute(
                        sa.select(t.content_keys)
                        .where(t.content_keys.c.master_key_id != current)
                        .order_by(t.content_keys.c.seq)
                        .limit(batch)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
                if not rows:
                    return changed
                now = datetime.now(UTC)
                for row in rows:
                    record = _record(row)
                    sealed = transform(record.key_id, record.sealed)
                    if sealed.sealed_key != record.sealed.sealed_key:
                        raise AssertionError("re-wrapping must not touch the sealed content key")
                    await conn.execute(
                        t.content_keys.update()
                        .where(t.content_keys.c.key_id == record.key_id)
                        .values(
                            master_key_id=sealed.master_key_id,
                            wrapped_data_key=sealed.wrapped_data_key,
                            rewrap_time=now,
                        )
                    )
                    changed += 1

    # -- audit ----------------------------------------------------------------------------------

    async def _write_audit(self, conn: AsyncConnection, audit: pb.LicenseAudit) -> None:
        await conn.execute(
            t.license_audits.insert().values(
                id=audit.name.removeprefix("licenseAudits/"),
                decision=audit.decision,
                reason=audit.reason,
                key_system=audit.key_system,
                session=audit.session,
                title=audit.title,
                profile=audit.profile,
                region_code=audit.region_code,
                requested_key_ids=list(audit.requested_key_ids),
                granted_key_ids=list(audit.granted_key_ids),
                create_time=audit.create_time.ToDatetime(tzinfo=UTC),
            )
        )
        event = ev.LicenseAudited(meta=new_meta("licensing"), audit=audit)
        await enqueue(conn, event)

    async def record_refusal(self, audit: pb.LicenseAudit) -> None:
        async with self._engine.begin() as conn:
            await self._write_audit(conn, audit)
        self._on_commit()

    async def record_grant(self, audit: pb.LicenseAudit, max_per_session: int) -> bool:
        now = datetime.now(UTC)
        try:
            async with self._engine.begin() as conn:
                await self._count_and_write(conn, audit, max_per_session, now)
        except _OverLimit:
            return False
        self._on_commit()
        return True

    async def _count_and_write(
        self, conn: AsyncConnection, audit: pb.LicenseAudit, max_per_session: int, now: datetime
    ) -> None:
        key_set = ",".join(sorted(audit.granted_key_ids))
        first_time = (
            await conn.execute(
                pg_insert(t.session_license_grants)
                .values(session=audit.session, key_set=key_set, create_time=now)
                .on_conflict_do_nothing()
                .returning(t.session_license_grants.c.session)
            )
        ).scalar_one_or_none()
        if first_time is None:  # the same keys again: delivered, not counted
            await self._write_audit(conn, audit)
            return
        insert = pg_insert(t.session_licenses).values(
            session=audit.session, granted=1, update_time=now
        )
        statement = insert.on_conflict_do_update(
            index_elements=[t.session_licenses.c.session],
            set_={"granted": t.session_licenses.c.granted + 1, "update_time": now},
            where=t.session_licenses.c.granted < max_per_session,
        ).returning(t.session_licenses.c.granted)
        counted = (await conn.execute(statement)).scalar_one_or_none()
        if counted is None or counted > max_per_session:
            raise _OverLimit  # rolls the increment back
        await self._write_audit(conn, audit)

    async def list_audits(
        self, session: str, decision: int, before_seq: int, limit: int
    ) -> list[tuple[int, pb.LicenseAudit]]:
        query = sa.select(t.license_audits)
        if session:
            query = query.where(t.license_audits.c.session == session)
        if decision:
            query = query.where(t.license_audits.c.decision == decision)
        if before_seq:
            query = query.where(t.license_audits.c.seq < before_seq)
        async with self._reads.connect() as conn:
            rows = await conn.execute(query.order_by(t.license_audits.c.seq.desc()).limit(limit))
            return [(row.seq, _audit(row)) for row in rows]
