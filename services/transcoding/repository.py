"""PostgreSQL storage of uploads, jobs and media assets (SQLAlchemy Core, async psycopg).

Every state change and the events it causes commit in one transaction (transactional outbox)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.runtime.outbox import enqueue
from services.transcoding import schema as t

__all__ = ["JobFilter", "Repository", "UploadRow"]


@dataclass
class UploadRow:
    upload: pb.Upload
    append_state: dict[str, Any]
    probe: dict[str, Any] | None
    source_key: str


@dataclass(frozen=True)
class JobFilter:
    title: str = ""
    upload: str = ""
    state: int = 0


def _upload_row(row: Any) -> UploadRow:
    upload = pb.Upload.FromString(row.doc)
    upload.committed_offset = row.committed_offset
    upload.state = row.state  # type: ignore[assignment]
    upload.update_time.FromDatetime(row.update_time)
    return UploadRow(upload, dict(row.append_state or {}), row.probe, row.source_key)


def _job(row: Any) -> pb.Job:
    job = pb.Job.FromString(row.doc)
    job.etag = str(row.version)
    return job


JobChange = Callable[[pb.Job], Awaitable[Sequence[Message]] | Sequence[Message]]


class Repository:
    def __init__(self, engine: AsyncEngine, on_commit: Callable[[], None] = lambda: None) -> None:
        self._engine = engine
        self._on_commit = on_commit

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    # -- uploads ---------------------------------------------------------------------------

    async def get_upload(self, upload_id: str) -> UploadRow | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(sa.select(t.uploads).where(t.uploads.c.id == upload_id))
            ).first()
        return None if row is None else _upload_row(row)

    async def insert_upload(
        self, upload: pb.Upload, append_state: dict[str, Any], source_key: str
    ) -> bool:
        """Insert a new upload; False when the id is taken (a concurrent create)."""
        now = upload.create_time.ToDatetime(tzinfo=UTC)
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    t.uploads.insert().values(
                        id=upload.name.removeprefix("uploads/"),
                        title=upload.title,
                        state=upload.state,
                        committed_offset=0,
                        doc=upload.SerializeToString(),
                        append_state=append_state,
                        source_key=source_key,
                        create_time=now,
                        update_time=now,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def chunks_between(
        self, upload_id: str, start: int, end: int
    ) -> list[tuple[int, int, str]]:
        c = t.upload_chunks.c
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(c.offset, c.length, c.sha256)
                    .where(c.upload_id == upload_id, c.offset < end, c.offset + c.length > start)
                    .order_by(c.offset)
                )
            ).all()
        return [(int(r.offset), int(r.length), str(r.sha256)) for r in rows]

    async def commit_chunk(
        self,
        upload_id: str,
        expected_offset: int,
        offset: int,
        length: int,
        sha256: str,
        append_state: dict[str, Any],
    ) -> bool:
        """Record a stored chunk; False when another stream moved the offset first."""
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                t.uploads.update()
                .where(
                    t.uploads.c.id == upload_id,
                    t.uploads.c.committed_offset == expected_offset,
                    t.uploads.c.state == pb.UPLOAD_STATE_UPLOADING,
                )
                .values(
                    committed_offset=offset + length, append_state=append_state, update_time=now
                )
            )
            if result.rowcount != 1:
                return False
            await conn.execute(
                t.upload_chunks.delete().where(
                    t.upload_chunks.c.upload_id == upload_id, t.upload_chunks.c.offset >= offset
                )
            )
            await conn.execute(
                t.upload_chunks.insert().values(
                    upload_id=upload_id, offset=offset, length=length, sha256=sha256
                )
            )
        return True

    async def finish_upload(
        self,
        upload_id: str,
        state: int,
        events: Sequence[Message] = (),
        probe: dict[str, Any] | None = None,
    ) -> UploadRow:
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            await conn.execute(
                t.uploads.update()
                .where(t.uploads.c.id == upload_id)
                .values(state=state, update_time=now, probe=probe)
            )
            row = (
                await conn.execute(sa.select(t.uploads).where(t.uploads.c.id == upload_id))
            ).one()
            stored = _upload_row(row)
            for event in events:
                event.upload.CopyFrom(stored.upload)
                await enqueue(conn, event)
        self._on_commit()
        return stored

    # -- jobs ------------------------------------------------------------------------------

    async def insert_job(self, job: pb.Job, events: Sequence[Message]) -> pb.Job | None:
        """Insert a queued job with its events; None when the id is taken."""
        job_id = job.name.removeprefix("jobs/")
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    t.jobs.insert().values(
                        id=job_id,
                        upload_id=job.upload.removeprefix("uploads/"),
                        title=job.title,
                        state=job.state,
                        doc=job.SerializeToString(),
                        version=1,
                        create_time=job.create_time.ToDatetime(tzinfo=UTC),
                    )
                )
                for event in events:
                    await enqueue(conn, event)
        except IntegrityError:
            return None
        self._on_commit()
        job.etag = "1"
        return job

    async def get_job(self, job_id: str) -> pb.Job | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(t.jobs).where(t.jobs.c.id == job_id))).first()
        return None if row is None else _job(row)

    async def list_jobs(
        self, flt: JobFilter, after: tuple[datetime, str] | None, limit: int
    ) -> list[pb.Job]:
        c = t.jobs.c
        stmt = sa.select(t.jobs)
        if flt.title:
            stmt = stmt.where(c.title == flt.title)
        if flt.upload:
            stmt = stmt.where(c.upload_id == flt.upload.removeprefix("uploads/"))
        if flt.state:
            stmt = stmt.where(c.state == flt.state)
        if after is not None:
            stmt = stmt.where(
                sa.tuple_(c.create_time, c.id)
                < sa.tuple_(sa.literal(after[0]), sa.literal(after[1]))
            )
        stmt = stmt.order_by(c.create_time.desc(), c.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            return [_job(row) for row in (await conn.execute(stmt)).all()]

    async def update_job(
        self,
        job_id: str,
        change: JobChange,
        *,
        media: pb.MediaAsset | None = None,
    ) -> pb.Job | None:
        """Apply `change` to the stored job under a row lock; it returns the events to enqueue.
        With `media`, the media asset is inserted (or replaced) in the same transaction."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(sa.select(t.jobs).where(t.jobs.c.id == job_id).with_for_update())
            ).first()
            if row is None:
                return None
            job = _job(row)
            result = change(job)
            events = await result if not isinstance(result, Sequence) else result
            job.etag = str(row.version + 1)
            await conn.execute(
                t.jobs.update()
                .where(t.jobs.c.id == job_id)
                .values(state=job.state, doc=job.SerializeToString(), version=row.version + 1)
            )
            if media is not None:
                await _put_media(conn, media, job_id)
            for event in events:
                await enqueue(conn, event)
        if events:
            self._on_commit()
        return job

    # -- media -----------------------------------------------------------------------------

    async def get_media(self, media_id: str) -> pb.MediaAsset | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(t.media_assets.c.doc).where(t.media_assets.c.id == media_id)
                )
            ).first()
        return None if row is None else pb.MediaAsset.FromString(row.doc)

    async def published_media_ids(self, title_id: str) -> set[str]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(t.media_assets.c.id).where(t.media_assets.c.title == title_id)
                )
            ).all()
        return {r.id for r in rows}


async def _put_media(conn: AsyncConnection, media: pb.MediaAsset, job_id: str) -> None:
    media_id = media.name.removeprefix("media/")
    await conn.execute(t.media_assets.delete().where(t.media_assets.c.id == media_id))
    await conn.execute(
        t.media_assets.insert().values(
            id=media_id,
            title=media.title,
            job_id=job_id,
            doc=media.SerializeToString(),
            create_time=media.create_time.ToDatetime(tzinfo=UTC),
        )
    )
