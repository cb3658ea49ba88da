"""QoE storage in Postgres (schema `qoe`): accepted batches with their outbox event in one
transaction, and the aggregator's idempotent fold of a batch into per-minute aggregates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from vod.events.v1 import qoe_events_pb2 as qev

from gateway.qoe import schema as t
from gateway.qoe.aggregation import BatchDelta, Counters, Key, SessionState, ttff_bucket
from services.runtime.db import read_only
from services.runtime.outbox import enqueue

__all__ = ["PostgresQoeRepository"]

Fold = Callable[[SessionState], BatchDelta]


def _minute(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(second=0, microsecond=0)


class PostgresQoeRepository:
    def __init__(self, engine: AsyncEngine, *, on_commit: Callable[[], None]) -> None:
        self._engine = engine
        self._reads = read_only(engine)
        self._on_commit = on_commit

    async def record_batch(self, event: qev.QoeBatchRecorded, now: datetime) -> bool:
        """Store the batch's idempotency key and its event (outbox) together; False when the
        (session, batch_id) was recorded before (nothing written)."""
        async with self._engine.begin() as conn:
            inserted = await conn.execute(
                insert(t.batches)
                .values(
                    session=event.session,
                    batch_id=event.batch_id,
                    profile=event.profile,
                    events=len(event.events),
                    record_time=now,
                )
                .on_conflict_do_nothing()
                .returning(t.batches.c.session)
            )
            if inserted.first() is None:
                return False
            await enqueue(conn, event)
        self._on_commit()
        return True

    async def apply_batch(
        self, session: str, batch_id: str, at: datetime, fold: Fold
    ) -> BatchDelta | None:
        """Fold a batch into the aggregates once: None when it was applied before (a
        redelivery). The session's row is locked so its batches fold one at a time."""
        minute = _minute(at)
        async with self._engine.begin() as conn:
            first = await conn.execute(
                insert(t.applied)
                .values(session=session, batch_id=batch_id, apply_time=datetime.now(UTC))
                .on_conflict_do_nothing()
                .returning(t.applied.c.session)
            )
            if first.first() is None:
                return None
            row = (
                await conn.execute(
                    sa.select(t.sessions).where(t.sessions.c.session == session).with_for_update()
                )
            ).first()
            state = (
                SessionState(row.played, row.errored, row.rendition, row.bitrate_bps)
                if row is not None
                else SessionState()
            )
            delta = fold(state)
            new = delta.state
            values = {
                "played": new.played,
                "errored": new.errored,
                "rendition": new.rendition,
                "bitrate_bps": new.bitrate_bps,
                "update_time": datetime.now(UTC),
            }
            stmt = insert(t.sessions).values(session=session, **values)
            await conn.execute(
                stmt.on_conflict_do_update(index_elements=[t.sessions.c.session], set_=values)
            )
            for key, counters in sorted(delta.counters.items()):
                data = counters.as_dict()
                stmt = insert(t.minute_counters).values(minute=minute, **_key(key), **data)
                await conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["minute", "title", "region", "edge", "rendition"],
                        set_={
                            name: t.minute_counters.c[name] + stmt.excluded[name]
                            for name in t.COUNTER_COLUMNS
                        },
                    )
                )
            for key, value_ms in delta.ttff_ms:
                stmt = insert(t.minute_ttff).values(
                    minute=minute, **_key(key), bucket=ttff_bucket(value_ms), count=1
                )
                await conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["minute", "title", "region", "edge", "rendition", "bucket"],
                        set_={"count": t.minute_ttff.c["count"] + 1},
                    )
                )
        return delta

    async def prune(self, before: datetime) -> int:
        """Drop aggregates, applied-batch keys and batch keys older than `before` (the longest
        window the contract allows is 90 days); returns the aggregate rows dropped."""
        async with self._engine.begin() as conn:
            dropped = await conn.execute(
                t.minute_counters.delete().where(t.minute_counters.c.minute < before)
            )
            await conn.execute(t.minute_ttff.delete().where(t.minute_ttff.c.minute < before))
            await conn.execute(t.applied.delete().where(t.applied.c.apply_time < before))
            await conn.execute(t.batches.delete().where(t.batches.c.record_time < before))
            await conn.execute(t.sessions.delete().where(t.sessions.c.update_time < before))
        return int(dropped.rowcount or 0)

    async def rows(
        self, since: datetime, *, title: str | None = None
    ) -> list[tuple[Key, Counters, dict[int, int]]]:
        """Counters and TTFF histogram per key, summed over the minutes from `since`."""
        c, h = t.minute_counters, t.minute_ttff
        key_cols = (c.c.title, c.c.region, c.c.edge, c.c.rendition)
        counters = sa.select(
            *key_cols, *(sa.func.sum(c.c[name]).label(name) for name in t.COUNTER_COLUMNS)
        ).where(c.c.minute >= _minute(since))
        hist = sa.select(
            h.c.title, h.c.region, h.c.edge, h.c.rendition, h.c.bucket, sa.func.sum(h.c["count"])
        ).where(h.c.minute >= _minute(since))
        if title is not None:
            counters = counters.where(c.c.title == title)
            hist = hist.where(h.c.title == title)
        counters = counters.group_by(*key_cols)
        hist = hist.group_by(h.c.title, h.c.region, h.c.edge, h.c.rendition, h.c.bucket)
        async with self._reads.connect() as conn:
            counter_rows = (await conn.execute(counters)).all()
            hist_rows = (await conn.execute(hist)).all()
        histograms: dict[Key, dict[int, int]] = {}
        for title_, region, edge, rendition, bucket, count in hist_rows:
            histograms.setdefault(Key(title_, region, edge, rendition), {})[bucket] = int(count)
        out = []
        for row in counter_rows:
            key = Key(row.title, row.region, row.edge, row.rendition)
            values = Counters(**{name: int(getattr(row, name)) for name in t.COUNTER_COLUMNS})
            out.append((key, values, histograms.get(key, {})))
        return out


def _key(key: Key) -> dict[str, str]:
    return {"title": key.title, "region": key.region, "edge": key.edge, "rendition": key.rendition}
