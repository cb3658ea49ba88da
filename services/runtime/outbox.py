"""Transactional outbox: events are written in the same database transaction as the change
they describe, and a relay publishes them to JetStream afterwards.

So an event is never sent for a change that rolled back, and never lost when NATS is down: the
relay keeps the rows until JetStream acknowledges them. Delivery is at-least-once; the row id is
the event id and the `Nats-Msg-Id`, so JetStream drops the duplicate a relay crash can cause.

Published rows are kept for `retention_s` (an hour by default: enough to look at what was sent
recently, and much longer than JetStream's duplicate window) and then deleted by the relay, at most
`prune_batch` rows per pass and a pass every `prune_interval_s` (sooner while a backlog remains),
so the table stays small and no single delete holds locks for long.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.runtime.events import EventBus, subject_of
from services.runtime.logs import get_logger
from services.runtime.tasks import cancel_and_wait

__all__ = [
    "DEFAULT_RETENTION_S",
    "OutboxRelay",
    "create_outbox_table",
    "enqueue",
    "outbox_table",
]

DEFAULT_RETENTION_S = 3600.0

_log = get_logger("outbox")


def _columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    ]


def outbox_table(metadata: sa.MetaData) -> sa.Table:
    """The outbox as a model, with the partial index the relay reads pending rows through."""
    table = sa.Table("outbox", metadata, *_columns())
    sa.Index("outbox_pending", table.c.seq, postgresql_where=sa.text("published_at IS NULL"))
    return table


def create_outbox_table() -> None:
    """For a service's first Alembic migration: creates the outbox in the service's schema."""
    from alembic import op

    op.create_table("outbox", *_columns())
    op.create_index(
        "outbox_pending", "outbox", ["seq"], postgresql_where=sa.text("published_at IS NULL")
    )


_TABLE = outbox_table(sa.MetaData())


async def enqueue(conn: AsyncConnection, event: Message) -> None:
    """Add an event to the outbox inside the caller's transaction."""
    await conn.execute(
        _TABLE.insert().values(
            id=event.meta.event_id,  # type: ignore[attr-defined]
            subject=subject_of(event),
            payload=event.SerializeToString(),
            created_at=datetime.now(UTC),
        )
    )


class OutboxRelay:
    """Publishes pending outbox rows in commit order; wakes on `notify()` or every `poll_s`.
    Deletes rows published more than `retention_s` ago, `prune_batch` at a time."""

    def __init__(
        self,
        engine: AsyncEngine,
        bus: EventBus,
        *,
        poll_s: float = 0.5,
        batch: int = 200,
        retention_s: float = DEFAULT_RETENTION_S,
        prune_batch: int = 1000,
        prune_interval_s: float = 60.0,
    ) -> None:
        if retention_s < 0 or prune_batch < 1:
            raise ValueError("retention_s must be >= 0 and prune_batch >= 1")
        self._engine = engine
        self._bus = bus
        self._poll_s = poll_s
        self._batch = batch
        self._retention = timedelta(seconds=retention_s)
        self._prune_batch = prune_batch
        self._prune_interval_s = prune_interval_s
        self._next_prune = 0.0  # monotonic; the first idle moment prunes
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Finish the batch in flight (never cancel mid-transaction), then stop. Rows still
        pending stay in the outbox for the next start."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=timeout_s)
        except TimeoutError:
            await cancel_and_wait([self._task])

    async def drain_once(self) -> int:
        """Publish what is pending now; returns how many rows were published."""
        published = 0
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    sa.select(_TABLE.c.id, _TABLE.c.subject, _TABLE.c.payload)
                    .where(_TABLE.c.published_at.is_(None))
                    .order_by(_TABLE.c.seq)
                    .limit(self._batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                await self._bus.publish_raw(row.subject, row.payload, row.id)
                await conn.execute(
                    _TABLE.update()
                    .where(_TABLE.c.id == row.id)
                    .values(published_at=datetime.now(UTC))
                )
                published += 1
        return published

    async def prune_once(self, now: datetime | None = None) -> int:
        """Delete up to `prune_batch` rows published before `now - retention_s`, oldest first;
        returns how many. Never touches unpublished rows."""
        cutoff = (now or datetime.now(UTC)) - self._retention
        doomed = (
            sa.select(_TABLE.c.id)
            .where(_TABLE.c.published_at.is_not(None), _TABLE.c.published_at < cutoff)
            .order_by(_TABLE.c.seq)
            .limit(self._prune_batch)
            .with_for_update(skip_locked=True)
        )
        async with self._engine.begin() as conn:
            result = await conn.execute(_TABLE.delete().where(_TABLE.c.id.in_(doomed)))
        return int(result.rowcount or 0)

    async def _maybe_prune(self) -> None:
        if time.monotonic() < self._next_prune:
            return
        try:
            pruned = await self.prune_once()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log.warning("outbox.prune_failed", error=str(exc))
            pruned = 0
        if pruned:
            _log.info("outbox.pruned", rows=pruned)
        # A full batch means more are due: go on at the next idle moment, not an interval later.
        self._next_prune = time.monotonic() + (
            0.0 if pruned == self._prune_batch else self._prune_interval_s
        )

    async def _run(self) -> None:
        backoff = self._poll_s
        while not self._stopping:
            try:
                count = await self.drain_once()
                backoff = self._poll_s
                if count == self._batch:
                    continue
                await self._maybe_prune()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("outbox.publish_failed", error=str(exc), retry_in_s=backoff)
                backoff = min(backoff * 2, 5.0)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            except TimeoutError:
                pass
            self._wake.clear()
