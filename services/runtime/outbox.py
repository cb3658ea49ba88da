"""Transactional outbox: events are written in the same database transaction as the change
they describe, and a relay publishes them to JetStream afterwards.

So an event is never sent for a change that rolled back, and never lost when NATS is down: the
relay keeps the rows until JetStream acknowledges them. Delivery is at-least-once; the row id is
the event id and the `Nats-Msg-Id`, so JetStream drops the duplicate a relay crash can cause.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.runtime.events import EventBus, subject_of
from services.runtime.logs import get_logger

__all__ = ["OutboxRelay", "create_outbox_table", "enqueue", "outbox_table"]

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
    return sa.Table("outbox", metadata, *_columns())


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
    """Publishes pending outbox rows in commit order; wakes on `notify()` or every `poll_s`."""

    def __init__(
        self, engine: AsyncEngine, bus: EventBus, *, poll_s: float = 0.5, batch: int = 200
    ) -> None:
        self._engine = engine
        self._bus = bus
        self._poll_s = poll_s
        self._batch = batch
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
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

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

    async def _run(self) -> None:
        backoff = self._poll_s
        while not self._stopping:
            try:
                count = await self.drain_once()
                backoff = self._poll_s
                if count == self._batch:
                    continue
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
