"""PostgreSQL storage of the catalog (SQLAlchemy Core, async psycopg).

Every write runs in one transaction with the events it causes (transactional outbox), so an
event is published exactly for the changes that committed.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from vod.catalog.v1 import catalog_pb2 as pb

from services.catalog import schema as t
from services.catalog.domain import (
    Cursor,
    EventFactory,
    RemovalEvents,
    TitleChange,
    TitleQuery,
    etag_for,
    etag_mismatch,
    not_found,
)
from services.runtime.db import read_only
from services.runtime.errors import AlreadyExists
from services.runtime.outbox import enqueue

__all__ = ["PostgresTitleRepository"]

_ORDER_COLUMNS = {
    "display_name": t.titles.c.sort_name,
    "release_year": t.titles.c.release_year,
    "create_time": t.titles.c.create_time,
    "number": t.titles.c.number,
}


class PostgresTitleRepository:
    def __init__(self, engine: AsyncEngine, on_commit: Callable[[], None] = lambda: None) -> None:
        self._engine = engine
        self._reads = read_only(engine)
        self._on_commit = on_commit  # wakes the outbox relay

    # -- reads -----------------------------------------------------------------------------

    async def get_many(self, title_ids: Sequence[str]) -> dict[str, pb.Title]:
        if not title_ids:
            return {}
        async with self._reads.connect() as conn:
            rows = (
                await conn.execute(_select_titles().where(t.titles.c.id.in_(list(title_ids))))
            ).all()
            return {row.id: _title(row) for row in rows}

    async def list(
        self, query: TitleQuery, cursor: Cursor | None, limit: int
    ) -> tuple[list[tuple[pb.Title, Cursor]], int]:
        conditions = _conditions(query)
        order_col = _ORDER_COLUMNS[query.order_field]
        page = _select_titles().where(*conditions)
        if cursor is not None:
            key = cursor.key.lower() if query.order_field == "display_name" else cursor.key
            after = sa.tuple_(order_col, t.titles.c.id)
            bound = sa.tuple_(sa.literal(key), sa.literal(cursor.title_id))
            page = page.where(after < bound if query.descending else after > bound)
        if query.descending:
            page = page.order_by(order_col.desc(), t.titles.c.id.desc())
        else:
            page = page.order_by(order_col.asc(), t.titles.c.id.asc())
        page = page.limit(limit)
        count = sa.select(sa.func.count()).select_from(t.titles).where(*conditions)
        async with self._reads.connect() as conn:
            rows = (await conn.execute(page)).all()
            total = (await conn.execute(count)).scalar_one()
        titles = [_title(row) for row in rows]
        cursors = [Cursor(_cursor_key(row, query.order_field), row.id) for row in rows]
        return list(zip(titles, cursors, strict=True)), int(total)

    async def windows(
        self, title_id: str, region: str
    ) -> builtins.list[pb.AvailabilityWindow] | None:
        async with self._reads.connect() as conn:
            exists = (
                await conn.execute(sa.select(t.titles.c.id).where(t.titles.c.id == title_id))
            ).first()
            if exists is None:
                return None
            rows = (
                await conn.execute(
                    sa.select(t.availability)
                    .where(t.availability.c.title_id == title_id)
                    .where(t.availability.c.region_code == region)
                    .order_by(t.availability.c.start_time)
                )
            ).all()
        return [_window(row) for row in rows]

    async def genres(self, limit: int) -> builtins.list[tuple[str, int]]:
        genre = sa.func.unnest(t.titles.c.genres).label("genre")
        inner = sa.select(genre).subquery()
        stmt = (
            sa.select(inner.c.genre, sa.func.count().label("n"))
            .group_by(inner.c.genre)
            .order_by(sa.desc("n"), inner.c.genre)
            .limit(limit)
        )
        async with self._reads.connect() as conn:
            return [(row.genre, int(row.n)) for row in (await conn.execute(stmt)).all()]

    # -- writes ----------------------------------------------------------------------------

    async def insert(
        self, items: Sequence[tuple[str, pb.Title]], make_events: EventFactory
    ) -> builtins.list[pb.Title]:
        now = datetime.now(UTC)
        try:
            async with self._engine.begin() as conn:
                await self._ensure_unique_many(conn, items)
                people = await _upsert_people(conn, [title for _, title in items])
                await conn.execute(
                    t.titles.insert(),
                    [
                        {
                            "id": title_id,
                            **_row(title),
                            "version": 1,
                            "create_time": now,
                            "update_time": now,
                        }
                        for title_id, title in items
                    ],
                )
                await _write_children_many(conn, items, people)
                ids = [title_id for title_id, _ in items]
                rows = (await conn.execute(_select_titles().where(t.titles.c.id.in_(ids)))).all()
                by_id = {row.id: _title(row) for row in rows}
                stored = [by_id[title_id] for title_id in ids]
                for title in stored:
                    for event in make_events(title):
                        await enqueue(conn, event)
        except IntegrityError as exc:  # a concurrent create won the race
            raise _duplicate(
                items[0][0] if len(items) == 1 else None,
                items[0][1].external_id if len(items) == 1 else "",
            ) from exc
        self._on_commit()
        return stored

    async def modify(self, title_id: str, change: TitleChange) -> pb.Title:
        try:
            async with self._engine.begin() as conn:
                row = (
                    await conn.execute(
                        _select_titles()
                        .where(t.titles.c.id == title_id)
                        .with_for_update(of=t.titles)
                    )
                ).first()
                if row is None:
                    raise not_found(f"titles/{title_id}")
                current = _title(row)
                updated, events = await change(current)
                if not events and updated is current:
                    return current  # nothing changed: no write, no event
                if updated.external_id != current.external_id:
                    await self._ensure_unique(conn, None, updated.external_id)
                await conn.execute(
                    t.titles.update()
                    .where(t.titles.c.id == title_id)
                    .values(**_row(updated), version=row.version + 1, update_time=datetime.now(UTC))
                )
                await conn.execute(t.credits.delete().where(t.credits.c.title_id == title_id))
                await conn.execute(
                    t.availability.delete().where(t.availability.c.title_id == title_id)
                )
                await _write_children(
                    conn, title_id, updated, await _upsert_people(conn, [updated])
                )
                stored = _title(await _row_of(conn, title_id))
                for event in events:
                    event.title.CopyFrom(stored)  # type: ignore[attr-defined]
                    await enqueue(conn, event)
        except IntegrityError as exc:
            raise _duplicate(None, updated.external_id) from exc
        self._on_commit()
        return stored

    async def delete(self, title_id: str, etag: str, make_events: RemovalEvents) -> None:
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(t.titles.c.id, t.titles.c.version)
                    .where(t.titles.c.id == title_id)
                    .with_for_update()
                )
            ).first()
            if row is None:
                raise not_found(f"titles/{title_id}")
            if etag and etag != etag_for(title_id, row.version):
                raise etag_mismatch(f"titles/{title_id}")
            tree = sa.text(
                "WITH RECURSIVE tree(id) AS (SELECT CAST(:root AS text) UNION ALL "
                "SELECT c.id FROM titles c JOIN tree ON c.parent_id = tree.id) SELECT id FROM tree"
            )
            removed = [r.id for r in (await conn.execute(tree, {"root": title_id})).all()]
            await conn.execute(t.titles.delete().where(t.titles.c.id == title_id))
            for event in make_events(removed):
                await enqueue(conn, event)
        self._on_commit()

    async def _ensure_unique_many(
        self, conn: AsyncConnection, items: Sequence[tuple[str, pb.Title]]
    ) -> None:
        ids = [title_id for title_id, _ in items]
        externals = [title.external_id for _, title in items if title.external_id]
        taken = (
            await conn.execute(
                sa.select(t.titles.c.id, t.titles.c.external_id)
                .where(sa.or_(t.titles.c.id.in_(ids), t.titles.c.external_id.in_(externals)))
                .limit(1)
            )
        ).first()
        if taken is None:
            if len(set(externals)) != len(externals):
                raise _duplicate(None, next(e for e in externals if externals.count(e) > 1))
            return
        if taken.id in ids:
            raise _duplicate(taken.id, "")
        raise _duplicate(None, taken.external_id, existing=taken.id)

    async def _ensure_unique(
        self, conn: AsyncConnection, title_id: str | None, external_id: str
    ) -> None:
        if title_id is not None:
            taken = (
                await conn.execute(sa.select(t.titles.c.id).where(t.titles.c.id == title_id))
            ).first()
            if taken is not None:
                raise _duplicate(title_id, "")
        if external_id:
            taken = (
                await conn.execute(
                    sa.select(t.titles.c.id).where(t.titles.c.external_id == external_id)
                )
            ).first()
            if taken is not None:
                raise _duplicate(None, external_id, existing=taken.id)


# -- mapping ---------------------------------------------------------------------------------


def _duplicate(
    title_id: str | None, external_id: str, existing: str | None = None
) -> AlreadyExists:
    if not title_id and not external_id:
        return AlreadyExists(
            message="one of the titles already exists (id or external_id taken)",
            reason="TITLE_ALREADY_EXISTS",
            resource_type="vod.catalog.v1.Title",
        )
    if title_id:
        return AlreadyExists(
            message=f"titles/{title_id} already exists",
            reason="TITLE_ALREADY_EXISTS",
            resource_type="vod.catalog.v1.Title",
            resource_name=f"titles/{title_id}",
        )
    return AlreadyExists(
        message=f"a title with external_id {external_id!r} already exists",
        reason="EXTERNAL_ID_TAKEN",
        resource_type="vod.catalog.v1.Title",
        resource_name=f"titles/{existing}" if existing else "",
        metadata={"external_id": external_id},
    )


def _row(title: pb.Title) -> dict[str, Any]:
    return {
        "type": title.type,
        "display_name": title.display_name,
        "sort_name": title.display_name.lower(),
        "parent_id": title.parent.removeprefix("titles/") or None,
        "number": title.number,
        "synopsis": title.synopsis,
        "release_year": title.release_year,
        "duration_seconds": title.duration_seconds,
        "maturity_rating": title.maturity_rating,
        "genres": list(title.genres),
        "genre_keys": [g.lower() for g in title.genres],
        "countries": list(title.countries),
        "artwork": [{"kind": a.kind, "uri": a.uri} for a in title.artwork],
        "external_id": title.external_id or None,
        "media": (
            {
                "state": title.media.state,
                "asset": title.media.asset,
                "duration_seconds": title.media.duration_seconds,
            }
            if title.HasField("media")
            else {}
        ),
    }


async def _row_of(conn: AsyncConnection, title_id: str) -> Any:
    return (await conn.execute(_select_titles().where(t.titles.c.id == title_id))).one()


async def _upsert_people(conn: AsyncConnection, titles: Sequence[pb.Title]) -> dict[str, int]:
    """Ids of every credited person (by normalised key), inserting the new ones. Keys are
    inserted in sorted order so concurrent transactions lock people rows in the same order."""
    names = {
        " ".join(c.person.split()).lower(): " ".join(c.person.split())
        for title in titles
        for c in title.credits
    }
    if not names:
        return {}
    keys = sorted(names)
    await conn.execute(
        sa.dialects.postgresql.insert(t.people)
        .values([{"name": names[key], "name_key": key} for key in keys])
        .on_conflict_do_nothing(index_elements=["name_key"])
    )
    rows = await conn.execute(
        sa.select(t.people.c.name_key, t.people.c.id).where(t.people.c.name_key.in_(keys))
    )
    return {row.name_key: row.id for row in rows}


async def _write_children(
    conn: AsyncConnection, title_id: str, title: pb.Title, people: dict[str, int]
) -> None:
    await _write_children_many(conn, [(title_id, title)], people)


async def _write_children_many(
    conn: AsyncConnection, items: Sequence[tuple[str, pb.Title]], people: dict[str, int]
) -> None:
    """Credits and availability windows of several titles, one multi-row insert each."""
    credit_rows = [
        {
            "title_id": title_id,
            "position": i,
            "person_id": people[" ".join(c.person.split()).lower()],
            "role": c.role,
            "character": c.character,
        }
        for title_id, title in items
        for i, c in enumerate(title.credits)
    ]
    if credit_rows:
        await conn.execute(t.credits.insert(), credit_rows)
    window_rows = [
        {
            "title_id": title_id,
            "position": i,
            "region_code": w.region_code,
            "start_time": w.start_time.ToDatetime(tzinfo=UTC),
            "end_time": w.end_time.ToDatetime(tzinfo=UTC) if w.HasField("end_time") else None,
        }
        for title_id, title in items
        for i, w in enumerate(title.availability)
    ]
    if window_rows:
        await conn.execute(t.availability.insert(), window_rows)


def _select_titles() -> sa.Select[Any]:
    """Titles with their credits and windows aggregated in the same row: one round trip."""
    c, p, a = t.credits.c, t.people.c, t.availability.c  # SQL text below names these tables
    credits_json = (
        sa.select(
            sa.func.coalesce(
                sa.func.json_agg(
                    sa.text(
                        "json_build_array(people.name, credits.role, credits.character) "
                        "ORDER BY credits.position"
                    )
                ),
                sa.text("'[]'::json"),
            )
        )
        .select_from(t.credits.join(t.people, p.id == c.person_id))
        .where(c.title_id == t.titles.c.id)
        .scalar_subquery()
        .label("credits_json")
    )
    windows_json = (
        sa.select(
            sa.func.coalesce(
                sa.func.json_agg(
                    sa.text(
                        "json_build_array(availability.region_code, availability.start_time, "
                        "availability.end_time) ORDER BY availability.position"
                    )
                ),
                sa.text("'[]'::json"),
            )
        )
        .where(a.title_id == t.titles.c.id)
        .scalar_subquery()
        .label("windows_json")
    )
    return sa.select(t.titles, credits_json, windows_json)


def _window(row: Any) -> pb.AvailabilityWindow:
    window = pb.AvailabilityWindow(region_code=row.region_code)
    window.start_time.FromDatetime(row.start_time)
    if row.end_time is not None:
        window.end_time.FromDatetime(row.end_time)
    return window


def _title(row: Any) -> pb.Title:
    credits = [pb.Credit(person=n, role=r, character=ch) for n, r, ch in row.credits_json]
    windows = []
    for region, start, end in row.windows_json:
        window = pb.AvailabilityWindow(region_code=region)
        window.start_time.FromDatetime(datetime.fromisoformat(start))
        if end is not None:
            window.end_time.FromDatetime(datetime.fromisoformat(end))
        windows.append(window)
    title = pb.Title(
        name=f"titles/{row.id}",
        type=row.type,
        display_name=row.display_name,
        parent=f"titles/{row.parent_id}" if row.parent_id else "",
        number=row.number,
        synopsis=row.synopsis,
        release_year=row.release_year,
        duration_seconds=row.duration_seconds,
        maturity_rating=row.maturity_rating,
        genres=row.genres,
        credits=credits,
        countries=row.countries,
        artwork=[pb.Artwork(kind=a["kind"], uri=a["uri"]) for a in row.artwork],
        availability=windows,
        external_id=row.external_id or "",
        etag=etag_for(row.id, row.version),
    )
    media = row.media or {}
    if media:
        title.media.state = int(media.get("state", 0))
        title.media.asset = str(media.get("asset", ""))
        title.media.duration_seconds = float(media.get("duration_seconds", 0.0))
    title.create_time.FromDatetime(row.create_time)
    title.update_time.FromDatetime(row.update_time)
    return title


def _cursor_key(row: Any, order_field: str) -> Any:
    if order_field == "display_name":
        return row.sort_name
    return getattr(row, order_field)


def _conditions(query: TitleQuery) -> list[Any]:
    c = t.titles.c
    conditions: list[Any] = []
    if query.type:
        conditions.append(c.type == query.type)
    if query.genre:
        conditions.append(sa.literal(query.genre) == sa.any_(c.genre_keys))
    if query.year_min:
        conditions.append(c.release_year >= query.year_min)
    if query.year_max:
        conditions.append(c.release_year <= query.year_max)
    if query.parent_id:
        conditions.append(c.parent_id == query.parent_id)
    if query.person:
        conditions.append(
            sa.exists()
            .where(t.credits.c.title_id == c.id)
            .where(t.credits.c.person_id == t.people.c.id)
            .where(t.people.c.name_key == query.person)
        )
    if query.region:
        a = t.availability.c
        conditions.append(
            sa.exists()
            .where(a.title_id == c.id)
            .where(a.region_code == query.region)
            .where(a.start_time <= query.at)
            .where(sa.or_(a.end_time.is_(None), a.end_time > query.at))
        )
    return conditions
