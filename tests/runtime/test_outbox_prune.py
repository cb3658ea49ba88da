"""The outbox relay deletes rows published longer ago than the retention, a bounded batch at a
time, and never a row still waiting to be published. Real Postgres and real NATS JetStream."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.runtime.db import async_url
from services.runtime.events import EventBus, StreamSpec
from services.runtime.outbox import DEFAULT_RETENTION_S, OutboxRelay, outbox_table

TABLE = outbox_table(sa.MetaData())
NOW = datetime.now(UTC)


@pytest.fixture
async def engine(fresh_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(async_url(fresh_database))
    async with engine.begin() as conn:
        await conn.run_sync(TABLE.create)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def bus(nats_server) -> AsyncIterator[tuple[EventBus, str]]:  # type: ignore[no-untyped-def]
    suffix = uuid.uuid4().hex[:8]
    bus = await EventBus.connect(nats_server.url, name="outbox-prune-test")
    subject = f"test.outbox.{suffix}"
    await bus.ensure_streams([StreamSpec(f"TEST_OUTBOX_{suffix.upper()}", (subject,))])
    try:
        yield bus, subject
    finally:
        await bus.close()


async def insert(
    engine: AsyncEngine, subject: str, label: str, published_at: datetime | None
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            TABLE.insert().values(
                id=label,
                subject=subject,
                payload=label.encode(),
                created_at=(published_at or NOW) - timedelta(seconds=1),
                published_at=published_at,
            )
        )


async def rows(engine: AsyncEngine) -> dict[str, bool]:
    """id -> published?"""
    async with engine.connect() as conn:
        result = await conn.execute(sa.select(TABLE.c.id, TABLE.c.published_at))
        return {row.id: row.published_at is not None for row in result}


async def test_prune_once_deletes_only_old_published_rows_in_batches(engine, bus) -> None:
    the_bus, subject = bus
    for index in range(5):
        await insert(engine, subject, f"old-{index}", NOW - timedelta(hours=2, minutes=index))
    await insert(engine, subject, "recent", NOW - timedelta(minutes=10))
    await insert(engine, subject, "pending", None)
    relay = OutboxRelay(engine, the_bus, retention_s=3600, prune_batch=2)
    assert [await relay.prune_once(NOW) for _ in range(4)] == [2, 2, 1, 0]
    assert await rows(engine) == {"recent": True, "pending": False}
    # Later, the recent row ages out too; the pending one never does.
    assert await relay.prune_once(NOW + timedelta(hours=1)) == 1
    assert await relay.prune_once(NOW + timedelta(days=30)) == 0
    assert await rows(engine) == {"pending": False}


async def test_the_relay_loop_prunes_while_it_publishes(engine, bus) -> None:
    the_bus, subject = bus
    for index in range(3):
        await insert(engine, subject, f"old-{index}", NOW - timedelta(hours=3))
    await insert(engine, subject, "new", None)
    relay = OutboxRelay(
        engine, the_bus, poll_s=0.05, retention_s=3600, prune_batch=2, prune_interval_s=3600
    )
    relay.start()
    try:
        deadline = time.monotonic() + 15
        # Two passes are needed (batch of 2 for 3 rows): a full batch does not wait an interval.
        while await rows(engine) != {"new": True}:
            assert time.monotonic() < deadline, await rows(engine)
            await asyncio.sleep(0.05)
    finally:
        await relay.stop()


def test_the_default_retention_is_an_hour_and_bad_settings_are_refused(engine) -> None:
    assert DEFAULT_RETENTION_S == 3600.0
    with pytest.raises(ValueError):
        OutboxRelay(engine, None, retention_s=-1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        OutboxRelay(engine, None, prune_batch=0)  # type: ignore[arg-type]
