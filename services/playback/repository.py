"""PostgreSQL storage of playback (SQLAlchemy Core, async psycopg).

* The stream limit is checked and a session inserted in one transaction serialised per user by
  `pg_advisory_xact_lock`, so a burst of starts past the limit yields exactly the free slots.
* Heartbeats arrive in batches and are written with one statement: an UPDATE joined with
  `unnest` of the batch's arrays that only touches live sessions of the right owner (live at
  the flush), extending each lease to the one its heartbeat was answered with, chained (CTE)
  with the upsert of the resume points it moves.
* Every state change is written with its event (transactional outbox).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from vod.events.v1 import playback_events_pb2 as ev
from vod.playback.v1 import playback_pb2 as pb

from services.playback import schema as t
from services.playback.domain import (
    COMPLETE_FRACTION,
    CREDITS_MIN_DURATION_S,
    CREDITS_S,
    WATCH_SLACK_S,
    HeartbeatWrite,
    ResumeRecord,
    SessionRecord,
    StartedEvent,
    StartOutcome,
    StoppedEvent,
    is_completed,
)
from services.runtime.db import read_only
from services.runtime.outbox import enqueue

__all__ = ["PostgresPlaybackRepository"]

_ACTIVE = pb.SESSION_STATE_ACTIVE

# Positions count as "finished" by the same rule as domain.is_completed.
_COMPLETED_SQL = (
    f"(duration_s > 0 AND (position_s >= {COMPLETE_FRACTION} * duration_s OR "
    f"(duration_s >= {CREDITS_MIN_DURATION_S} AND duration_s - position_s <= {CREDITS_S})))"
)

_HEARTBEATS = sa.text(
    f"""
WITH v AS (
    SELECT * FROM unnest(
        CAST(:ids AS text[]), CAST(:users AS text[]),
        CAST(:positions AS float8[]), CAST(:playing AS boolean[]),
        CAST(:expires AS timestamptz[])
    ) AS v(id, user_id, position_s, playing, expire_time)
),
upd AS (
    UPDATE sessions AS s SET
        watch_time_s = s.watch_time_s + CASE WHEN s.playing THEN LEAST(
            GREATEST(v.position_s - s.position_s, 0),
            EXTRACT(EPOCH FROM (CAST(:now AS timestamptz) - s.heartbeat_time)) + {WATCH_SLACK_S}
        ) ELSE 0 END,
        position_s = v.position_s,
        playing = v.playing,
        heartbeat_time = CAST(:now AS timestamptz),
        expire_time = GREATEST(s.expire_time, v.expire_time)
    FROM v
    WHERE s.id = v.id AND s.user_id = v.user_id AND s.state = {_ACTIVE}
      AND s.expire_time > CAST(:now AS timestamptz)
    RETURNING s.id, s.profile, s.title, s.position_s, s.duration_s
),
latest AS (
    SELECT DISTINCT ON (profile, title) profile, title, position_s, duration_s
    FROM upd ORDER BY profile, title, position_s DESC
),
saved AS (
    INSERT INTO resume_points (profile, title, position_s, duration_s, completed, update_time)
    SELECT profile, title, position_s, duration_s, {_COMPLETED_SQL}, CAST(:now AS timestamptz)
    FROM latest ORDER BY profile, title
    ON CONFLICT (profile, title) DO UPDATE SET
        position_s = EXCLUDED.position_s,
        duration_s = EXCLUDED.duration_s,
        completed = EXCLUDED.completed,
        update_time = EXCLUDED.update_time
)
SELECT id FROM upd
"""
)


def _record(row: Any) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        user=row.user_id,
        profile=row.profile,
        title=row.title,
        media=row.media,
        device_type=row.device_type,
        device_id=row.device_id,
        region=row.region,
        protocol=row.protocol,
        max_height=row.max_height,
        video_tracks=tuple(row.video_tracks),
        encrypted=row.encrypted,
        duration_s=row.duration_s,
        start_position_s=row.start_position_s,
        position_s=row.position_s,
        watch_time_s=row.watch_time_s,
        state=row.state,
        start_time=row.start_time,
        expire_time=row.expire_time,
        token_expires=row.token_expires,
        end_time=row.end_time,
        plan=row.plan,
    )


def _resume(row: Any) -> ResumeRecord:
    return ResumeRecord(
        row.profile, row.title, row.position_s, row.duration_s, row.completed, row.update_time
    )


def _is_deadlock(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", "") in ("40P01", "40001")


class PostgresPlaybackRepository:
    def __init__(self, engine: AsyncEngine, on_commit: Callable[[], None] = lambda: None) -> None:
        self._engine = engine
        self._reads = read_only(engine)
        self._on_commit = on_commit  # wakes the outbox relay

    # -- reads -------------------------------------------------------------------------------

    async def get_session(self, session_id: str) -> SessionRecord | None:
        async with self._reads.connect() as conn:
            row = (
                await conn.execute(sa.select(t.sessions).where(t.sessions.c.id == session_id))
            ).first()
        return _record(row) if row is not None else None

    async def get_resume_point(self, profile: str, title: str) -> ResumeRecord | None:
        async with self._reads.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(t.resume_points)
                    .where(t.resume_points.c.profile == profile)
                    .where(t.resume_points.c.title == title)
                )
            ).first()
        return _resume(row) if row is not None else None

    async def list_continue_watching(
        self, profile: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[ResumeRecord]:
        rp = t.resume_points
        query = (
            sa.select(rp)
            .where(rp.c.profile == profile, sa.not_(rp.c.completed), rp.c.position_s > 0)
            .order_by(rp.c.update_time.desc(), rp.c.title.asc())
            .limit(limit)
        )
        if after is not None:
            at, title = after
            query = query.where(
                sa.or_(rp.c.update_time < at, sa.and_(rp.c.update_time == at, rp.c.title > title))
            )
        async with self._reads.connect() as conn:
            return [_resume(row) for row in (await conn.execute(query)).all()]

    # -- start ---------------------------------------------------------------------------------

    async def start_session(
        self,
        new: SessionRecord,
        *,
        max_streams: int,
        resume_from: Callable[[ResumeRecord | None], float] | None,
        started: StartedEvent,
        stopped: StoppedEvent,
    ) -> StartOutcome:
        s = t.sessions
        now = new.start_time
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext("playback:" + new.user)))
            )
            live = [
                _record(row)
                for row in (
                    await conn.execute(
                        sa.select(s)
                        .where(s.c.user_id == new.user, s.c.state == _ACTIVE)
                        .where(s.c.expire_time > now)
                        .order_by(s.c.start_time, s.c.id)
                        .with_for_update()
                    )
                ).all()
            ]
            # The same device restarting the same title replaces its session.
            replaced = [x for x in live if x.device_id == new.device_id and x.title == new.title]
            for old in replaced:
                await self._end(conn, old, None, now, pb.SESSION_STATE_STOPPED, stopped)
            in_use = [x for x in live if x not in replaced]
            gone = tuple(x.id for x in replaced)
            if len(in_use) >= max_streams:  # the replaced sessions stay stopped (commit)
                return StartOutcome(None, tuple(in_use), gone)
            if resume_from is not None:
                saved = (
                    await conn.execute(
                        sa.select(t.resume_points)
                        .where(t.resume_points.c.profile == new.profile)
                        .where(t.resume_points.c.title == new.title)
                    )
                ).first()
                start = min(resume_from(_resume(saved) if saved else None), new.duration_s)
                new = SessionRecord(
                    **{**new.__dict__, "start_position_s": start, "position_s": start}
                )
            await conn.execute(
                s.insert().values(
                    id=new.id,
                    user_id=new.user,
                    plan=new.plan,
                    profile=new.profile,
                    title=new.title,
                    media=new.media,
                    device_type=new.device_type,
                    device_id=new.device_id,
                    region=new.region,
                    protocol=new.protocol,
                    max_height=new.max_height,
                    video_tracks=list(new.video_tracks),
                    encrypted=new.encrypted,
                    duration_s=new.duration_s,
                    start_position_s=new.start_position_s,
                    position_s=new.position_s,
                    watch_time_s=0.0,
                    playing=True,
                    state=_ACTIVE,
                    start_time=now,
                    heartbeat_time=now,
                    expire_time=new.expire_time,
                    token_expires=new.token_expires,
                )
            )
            await enqueue(conn, started(new))
        self._on_commit()
        return StartOutcome(new, replaced=gone)

    # -- heartbeats ------------------------------------------------------------------------------

    async def apply_heartbeats(self, writes: Sequence[HeartbeatWrite], now: datetime) -> set[str]:
        ordered = sorted(writes, key=lambda w: w.session)
        params = {
            "ids": [w.session for w in ordered],
            "users": [w.user for w in ordered],
            "positions": [w.position_s for w in ordered],
            "playing": [w.playing for w in ordered],
            "expires": [w.expire for w in ordered],
            "now": now,
        }
        for attempt in range(4):
            try:
                async with self._engine.begin() as conn:
                    rows = (await conn.execute(_HEARTBEATS, params)).all()
                return {row.id for row in rows}
            except DBAPIError as exc:
                if not _is_deadlock(exc) or attempt == 3:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        return set()  # pragma: no cover - the loop returns or raises

    # -- stop and expiry -------------------------------------------------------------------------

    async def stop_session(
        self, session_id: str, position_s: float | None, now: datetime, stopped: StoppedEvent
    ) -> SessionRecord | None:
        s = t.sessions
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(sa.select(s).where(s.c.id == session_id).with_for_update())
            ).first()
            if row is None:
                return None
            session = _record(row)
            if session.state != _ACTIVE:
                return session
            state = pb.SESSION_STATE_STOPPED
            if session.expire_time <= now:  # ran out before the sweeper got to it
                state, position_s = pb.SESSION_STATE_EXPIRED, None
            ended = await self._end(conn, session, position_s, now, state, stopped, row=row)
        self._on_commit()
        return ended

    async def expire_due(self, now: datetime, limit: int, stopped: StoppedEvent) -> int:
        s = t.sessions
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    sa.select(s)
                    .where(s.c.state == _ACTIVE, s.c.expire_time <= now)
                    .order_by(s.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                await self._end(
                    conn, _record(row), None, now, pb.SESSION_STATE_EXPIRED, stopped, row=row
                )
        if rows:
            self._on_commit()
        return len(rows)

    async def _end(
        self,
        conn: AsyncConnection,
        session: SessionRecord,
        position_s: float | None,
        now: datetime,
        state: int,
        stopped: StoppedEvent,
        *,
        row: Any = None,
    ) -> SessionRecord:
        """Mark a live session ended at `position_s` (the last heartbeat's when None), save the
        resume point and enqueue the stopped event. An explicit final position while playing
        adds its progress (bounded by the wall clock) to the watch time."""
        watch = session.watch_time_s
        position = session.position_s
        if position_s is not None:
            playing = bool(row.playing) if row is not None else True
            if playing and row is not None:
                elapsed = (now - row.heartbeat_time).total_seconds() + WATCH_SLACK_S
                watch += min(max(position_s - session.position_s, 0.0), max(elapsed, 0.0))
            position = position_s
        ended = SessionRecord(
            **{
                **session.__dict__,
                "position_s": position,
                "watch_time_s": watch,
                "state": state,
                "end_time": now,
            }
        )
        await conn.execute(
            t.sessions.update()
            .where(t.sessions.c.id == session.id)
            .values(position_s=position, watch_time_s=watch, state=state, end_time=now)
        )
        rp = t.resume_points
        completed = is_completed(position, session.duration_s)
        upsert = pg_insert(rp).values(
            profile=session.profile,
            title=session.title,
            position_s=position,
            duration_s=session.duration_s,
            completed=completed,
            update_time=now,
        )
        await conn.execute(
            upsert.on_conflict_do_update(
                index_elements=[rp.c.profile, rp.c.title],
                set_={
                    "position_s": upsert.excluded.position_s,
                    "duration_s": upsert.excluded.duration_s,
                    "completed": upsert.excluded.completed,
                    "update_time": upsert.excluded.update_time,
                },
            )
        )
        reason = (
            ev.PLAYBACK_STOP_REASON_EXPIRED
            if state == pb.SESSION_STATE_EXPIRED
            else ev.PLAYBACK_STOP_REASON_STOPPED
        )
        await enqueue(conn, stopped(ended, reason))
        return ended
