"""Catalog titles kept between requests, coherent with the catalog's events.

Titles are read far more often than written. The home feed needs title data for up to a hundred
tiles on every request, and the catalog answers GetTitle/BatchGetTitles from the same kind of cache
in front of PostgreSQL. Both keep titles keyed by name and drop a title when the catalog says it
changed (`vod.catalog.title_updated`, `vod.catalog.title_removed`, on NATS; see
`services.runtime.follow`); the catalog also drops what it writes itself, on commit. A fetch that
was in flight while any title was dropped is not stored (a generation counter), so an update is
never overwritten by an older answer. The TTL bounds staleness if an event is missed; a NATS
reconnect drops everything. Without NATS the cache is off: titles would otherwise be served stale
for up to the TTL after a write. Supervised sibling processes (`services.runtime.processes`) also
share write counters (`siblings`): an entry is served only while its title's counter still has the
value it was fetched under, so a write answered by one sibling is never read back older from
another, events or not.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError
from prometheus_client import Counter
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.events.v1 import catalog_events_pb2 as ev

from services.runtime.events import subject_of
from services.runtime.logs import get_logger
from services.runtime.processes import SiblingVersions

__all__ = ["UPDATED_SUBJECT", "REMOVED_SUBJECT", "TitleCache"]

_log = get_logger("title_cache")

UPDATED_SUBJECT = subject_of(ev.TitleUpdated)
REMOVED_SUBJECT = subject_of(ev.TitleRemoved)


@dataclass
class TitleCache:
    ttl_s: float
    size: int
    lookups: Counter
    """<prefix>_title_cache_lookups_total{result=hit|miss}"""
    invalidations: Counter
    """<prefix>_title_cache_invalidations_total{reason=updated|removed|written|reconnect|
    undecodable}"""
    clock: Callable[[], float] = time.monotonic
    siblings: SiblingVersions | None = None
    """Write counters shared with sibling processes; None when there are none."""
    generation: int = 0
    """Bumped by every drop; `put_many` stores only under the generation its fetch began in."""
    _entries: OrderedDict[str, tuple[float, cpb.Title, int]] = field(default_factory=OrderedDict)

    def stamps(self, names: Sequence[str]) -> dict[str, int]:
        """The sibling write counters of `names`, taken before fetching them ({} without
        siblings); `put_many` stores each title under its stamp."""
        siblings = self.siblings
        return {} if siblings is None else {n: siblings.stamp(n) for n in names}

    def get_many(self, names: Sequence[str]) -> tuple[dict[str, cpb.Title], list[str]]:
        """(cached titles by name, names to fetch)."""
        now = self.clock()
        found: dict[str, cpb.Title] = {}
        missing: list[str] = []
        siblings = self.siblings
        for name in names:
            entry = self._entries.get(name)
            if (
                entry is not None
                and entry[0] > now
                and (siblings is None or siblings.stamp(name) == entry[2])
            ):
                self._entries.move_to_end(name)
                found[name] = entry[1]
            else:
                missing.append(name)
        if found:
            self.lookups.labels("hit").inc(len(found))
        if missing:
            self.lookups.labels("miss").inc(len(missing))
        return found, missing

    def put_many(
        self, titles: Iterable[cpb.Title], generation: int, stamps: dict[str, int] | None = None
    ) -> None:
        if generation != self.generation:
            return  # a title changed while these were fetched: they may be older than that
        expires = self.clock() + self.ttl_s
        for title in titles:
            if self.siblings is not None and (stamps is None or title.name not in stamps):
                continue  # no stamp from before the fetch: a sibling's write could be missed
            self._entries[title.name] = (expires, title, (stamps or {}).get(title.name, 0))
            self._entries.move_to_end(title.name)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def drop(self, name: str, reason: str) -> None:
        """Forget `name`; a "written" drop (this process committed a write of it) also tells the
        sibling processes, before the writer is answered."""
        if reason == "written" and self.siblings is not None:
            self.siblings.bump(name)
        self.generation += 1
        self._entries.pop(name, None)
        self.invalidations.labels(reason).inc()

    def clear(self, reason: str = "reconnect") -> None:
        self.generation += 1
        self._entries.clear()
        self.invalidations.labels(reason).inc()

    def __len__(self) -> int:
        return len(self._entries)

    # -- events ---------------------------------------------------------------------------------

    def on_updated(self, payload: bytes) -> None:
        try:
            name = ev.TitleUpdated.FromString(payload).title.name
        except DecodeError:
            _log.warning("title_cache.undecodable", subject=UPDATED_SUBJECT)
            self.clear("undecodable")
            return
        self.drop(name, "updated")

    def on_removed(self, payload: bytes) -> None:
        try:
            name = ev.TitleRemoved.FromString(payload).name
        except DecodeError:
            _log.warning("title_cache.undecodable", subject=REMOVED_SUBJECT)
            self.clear("undecodable")
            return
        self.drop(name, "removed")
