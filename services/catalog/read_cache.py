"""The catalog's read cache: titles answered from memory, kept coherent with every write.

GetTitle and BatchGetTitles are the catalog's hottest calls and titles change rarely, so reads go
through `CachedTitleRepository` in front of PostgreSQL. Coherence:
- A write made by this process drops the titles it wrote once its transaction has committed,
  so a caller never reads back an older title than the one its own write returned (the etag
  shows it).
- A write made by another catalog process reaches this one as `vod.catalog.title_updated` /
  `title_removed` on NATS (`services.runtime.follow`) and drops the title there; a reconnect
  drops everything, and the TTL bounds what a lost event could leave behind.
- A read that was in flight while any title was dropped does not store its answer (the cache's
  generation), so an older row never replaces a newer one.
- Sibling processes on the same port (`VOD_CATALOG_PROCESSES`) share write counters: a write
  bumps its title's counter before the writer is answered, and a sibling serves a cached title
  only while the counter is unchanged, so no sibling reads back an older title after the reply.
Without NATS the cache is off (other replicas' writes would go unseen for a TTL).
Callers get copies: nothing they do to a returned title reaches the cache.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from vod.catalog.v1 import catalog_pb2 as pb

from services.catalog.domain import (
    Cursor,
    EventFactory,
    RemovalEvents,
    TitleChange,
    TitleQuery,
    TitleRepository,
)
from services.runtime.title_cache import TitleCache

__all__ = ["CachedTitleRepository"]


def _name(title_id: str) -> str:
    return f"titles/{title_id}"


def _copy(title: pb.Title) -> pb.Title:
    copy = pb.Title()
    copy.CopyFrom(title)
    return copy


class CachedTitleRepository:
    """A `TitleRepository` whose `get_many` is served from `cache` where it can."""

    def __init__(self, inner: TitleRepository, cache: TitleCache) -> None:
        self._inner = inner
        self.cache = cache

    async def get_many(self, title_ids: Sequence[str]) -> dict[str, pb.Title]:
        cached, missing = self.cache.get_many([_name(i) for i in title_ids])
        generation = self.cache.generation
        stamps = self.cache.stamps(missing)
        found = {
            title_id: _copy(cached[_name(title_id)])
            for title_id in title_ids
            if _name(title_id) in cached
        }
        if missing:
            fetched = await self._inner.get_many([m.removeprefix("titles/") for m in missing])
            self.cache.put_many([_copy(t) for t in fetched.values()], generation, stamps)
            found.update(fetched)
        return found

    async def list(
        self, query: TitleQuery, cursor: Cursor | None, limit: int
    ) -> tuple[builtins.list[tuple[pb.Title, Cursor]], int]:
        return await self._inner.list(query, cursor, limit)

    async def insert(
        self, items: Sequence[tuple[str, pb.Title]], make_events: EventFactory
    ) -> builtins.list[pb.Title]:
        created = await self._inner.insert(items, make_events)
        for title_id, _ in items:  # nothing cached can be older than its creation, but a
            self.cache.drop(_name(title_id), "written")  # read racing it must not store
        return created

    async def modify(self, title_id: str, change: TitleChange) -> pb.Title:
        try:
            return await self._inner.modify(title_id, change)
        finally:  # committed, failed or refused: a read in flight must not store what it saw
            self.cache.drop(_name(title_id), "written")

    async def delete(self, title_id: str, etag: str, make_events: RemovalEvents) -> None:
        removed: list[str] = [title_id]

        def events(ids: Sequence[str]) -> Sequence[object]:
            removed.extend(ids)
            return make_events(ids)

        try:
            await self._inner.delete(title_id, etag, events)  # type: ignore[arg-type]
        finally:
            for removed_id in dict.fromkeys(removed):
                self.cache.drop(_name(removed_id), "written")

    async def windows(
        self, title_id: str, region: str
    ) -> builtins.list[pb.AvailabilityWindow] | None:
        return await self._inner.windows(title_id, region)

    async def genres(self, limit: int) -> builtins.list[tuple[str, int]]:
        return await self._inner.genres(limit)
