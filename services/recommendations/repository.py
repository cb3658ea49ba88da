"""PostgreSQL storage of recommendations (SQLAlchemy Core, async psycopg): the interaction log,
the catalog items seen in events, profile preferences and trained models.

RecordFeedback writes the interaction and its vod.feedback.recorded event in one transaction
(transactional outbox); the event id is the primary key, so a retried or redelivered event is a
no-op.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.events.v1 import feedback_events_pb2 as fev

from services.recommendations import schema as t
from services.recommendations.model import ModelArtifact
from services.recommendations.signals import Interaction
from services.runtime.outbox import enqueue

__all__ = ["PostgresRecsRepository", "RecsRepository"]

_TRAINING_LOCK = 0x5EC5  # advisory lock: one trainer at a time across processes


class RecsRepository(Protocol):
    async def record(
        self, interaction: Interaction, event: fev.FeedbackRecorded | None
    ) -> bool: ...
    async def history(self, profile: str, limit: int = 500) -> list[Interaction]: ...
    async def preferences(self, profile: str) -> tuple[list[str], int] | None: ...
    async def set_preferences(
        self, profile: str, genres: Sequence[str], max_rating: int
    ) -> None: ...
    async def upsert_item(self, title: cpb.Title) -> None: ...
    async def remove_item(self, name: str) -> None: ...
    async def load_items(self) -> list[cpb.Title]: ...


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class PostgresRecsRepository:
    def __init__(self, engine: AsyncEngine, on_commit: Callable[[], None] = lambda: None) -> None:
        self._engine = engine
        self._on_commit = on_commit  # wakes the outbox relay

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    # -- interaction log ----------------------------------------------------------------------

    async def record(
        self, interaction: Interaction, event: fev.FeedbackRecorded | None = None
    ) -> bool:
        """Append an interaction (and its event to the outbox); False if its id was seen."""
        statement = (
            insert(t.interactions)
            .values(
                event_id=interaction.event_id,
                profile=interaction.profile,
                title=interaction.title,
                kind=interaction.kind,
                weight=interaction.weight,
                watched_fraction=interaction.watched_fraction,
                region_code=interaction.region_code,
                source=interaction.source,
                throttled=interaction.throttled,
                occur_time=_dt(interaction.occur_time),
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(t.interactions.c.event_id)
        )
        async with self._engine.begin() as conn:
            inserted = (await conn.execute(statement)).first() is not None
            if inserted and event is not None:
                await enqueue(conn, event)
        if inserted and event is not None:
            self._on_commit()
        return inserted

    async def history(self, profile: str, limit: int = 500) -> list[Interaction]:
        """The profile's latest interactions, oldest first."""
        c = t.interactions.c
        statement = (
            sa.select(t.interactions)
            .where(c.profile == profile)
            .order_by(c.occur_time.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        return [_interaction(row) for row in reversed(rows)]

    async def training_interactions(
        self, *, per_profile: int = 500
    ) -> list[tuple[str, str, float]]:
        """(profile, title, summed weight) over non-throttled events, at most `per_profile`
        titles per profile (its latest), so no profile dominates a training run."""
        c = t.interactions.c
        grouped = (
            sa.select(
                c.profile,
                c.title,
                sa.func.sum(c.weight).label("weight"),
                sa.func.max(c.occur_time).label("last"),
            )
            .where(c.throttled.is_(False))
            .group_by(c.profile, c.title)
            .subquery()
        )
        ranked = sa.select(
            grouped.c.profile,
            grouped.c.title,
            grouped.c.weight,
            sa.func.row_number()
            .over(partition_by=grouped.c.profile, order_by=grouped.c.last.desc())
            .label("n"),
        ).subquery()
        statement = sa.select(ranked.c.profile, ranked.c.title, ranked.c.weight).where(
            ranked.c.n <= per_profile
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        return [(row.profile, row.title, float(row.weight)) for row in rows]

    async def popularity(self, *, window_s: float = 7 * 86400.0) -> list[tuple[str, str, int]]:
        """(title, region, count) of positive non-throttled interactions in the window."""
        c = t.interactions.c
        since = datetime.now(UTC) - timedelta(seconds=window_s)
        statement = (
            sa.select(c.title, c.region_code, sa.func.count().label("n"))
            .where(c.occur_time >= since, c.weight > 0, c.throttled.is_(False))
            .group_by(c.title, c.region_code)
        )
        async with self._engine.connect() as conn:
            return [
                (row.title, row.region_code, int(row.n))
                for row in (await conn.execute(statement)).all()
            ]

    async def count_since(self, seq: int) -> tuple[int, int]:
        """(events logged after `seq`, highest seq)."""
        c = t.interactions.c
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(c.seq), seq)).where(
                        c.seq > seq
                    )
                )
            ).one()
        return int(row[0]), int(row[1])

    # -- preferences --------------------------------------------------------------------------

    async def preferences(self, profile: str) -> tuple[list[str], int] | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(sa.select(t.profiles).where(t.profiles.c.profile == profile))
            ).first()
        return (list(row.genres), int(row.max_maturity_rating)) if row else None

    async def set_preferences(self, profile: str, genres: Sequence[str], max_rating: int) -> None:
        values = {
            "genres": list(genres),
            "max_maturity_rating": max_rating,
            "updated_at": datetime.now(UTC),
        }
        statement = (
            insert(t.profiles)
            .values(profile=profile, **values)
            .on_conflict_do_update(index_elements=["profile"], set_=values)
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    # -- items --------------------------------------------------------------------------------

    async def upsert_item(self, title: cpb.Title) -> None:
        values = {"title": title.SerializeToString(), "updated_at": datetime.now(UTC)}
        statement = (
            insert(t.items)
            .values(name=title.name, **values)
            .on_conflict_do_update(index_elements=["name"], set_=values)
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def remove_item(self, name: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(t.items.delete().where(t.items.c.name == name))

    async def load_items(self) -> list[cpb.Title]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(sa.select(t.items.c.title))).all()
        return [cpb.Title.FromString(row.title) for row in rows]

    # -- models -------------------------------------------------------------------------------

    async def save_model(self, artifact: ModelArtifact) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                t.models.insert().values(
                    version=artifact.version,
                    created_at=_dt(artifact.created_at),
                    artifact=artifact.to_bytes(),
                    stats=json.loads(json.dumps(artifact.stats)),
                )
            )
            # keep the last few versions for rollback
            keep = (
                sa.select(t.models.c.seq).order_by(t.models.c.seq.desc()).limit(5).scalar_subquery()
            )
            await conn.execute(t.models.delete().where(t.models.c.seq.not_in(keep)))

    async def latest_model_version(self) -> str | None:
        async with self._engine.connect() as conn:
            return (
                await conn.execute(
                    sa.select(t.models.c.version).order_by(t.models.c.seq.desc()).limit(1)
                )
            ).scalar_one_or_none()

    async def load_model(self, version: str) -> ModelArtifact | None:
        async with self._engine.connect() as conn:
            data = (
                await conn.execute(
                    sa.select(t.models.c.artifact).where(t.models.c.version == version)
                )
            ).scalar_one_or_none()
        return ModelArtifact.from_bytes(data) if data is not None else None

    async def try_training_lock(self, conn: AsyncConnection) -> bool:
        return bool(
            (await conn.execute(sa.select(sa.func.pg_try_advisory_lock(_TRAINING_LOCK)))).scalar()
        )


def _interaction(row: sa.Row) -> Interaction:  # type: ignore[type-arg]
    return Interaction(
        event_id=row.event_id,
        profile=row.profile,
        title=row.title,
        kind=row.kind,
        weight=row.weight,
        watched_fraction=row.watched_fraction,
        occur_time=row.occur_time.timestamp(),
        region_code=row.region_code,
        source=row.source,
        throttled=row.throttled,
    )
