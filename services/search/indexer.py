"""Keeping the index in step with the catalog and with what people watch.

- `Indexer.apply` turns catalog events into index writes. It is idempotent and order-safe:
  every change carries a version (the title's update_time, or the removal time), and a change
  older than what the index (or the tombstone ledger) already holds is dropped. So redelivery
  after a crash, or an old event replayed after a newer one, never duplicates, regresses or
  resurrects a title.
- `CatalogFeed` is a durable JetStream pull consumer on vod.catalog.*: it fetches a batch,
  applies it with one commit, and only then acks, so a crash mid-batch redelivers the batch.
- `ActivityFeed` replays the last 7 days of playback and feedback events into `Activity` on
  start and then follows them live.
- Availability windows open and close with time: documents whose `next_change` has passed are
  re-derived (before any search that could see them, and on a timer).
- `Indexer.rebuild` builds a whole new index from the catalog beside the live one, replays the
  changes that arrived meanwhile, and swaps it in.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import nats
from google.protobuf.message import Message
from nats.js import JetStreamContext, api
from opentelemetry import trace
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.events.v1 import catalog_events_pb2 as cev
from vod.events.v1 import feedback_events_pb2 as fev
from vod.events.v1 import playback_events_pb2 as pev
from vod.recommendations.v1 import recommendations_pb2 as rpb

from services.runtime import tracing
from services.runtime.errors import Aborted, Unavailable
from services.runtime.events import consumer_span
from services.runtime.logs import get_logger
from services.search.activity import Activity
from services.search.documents import NEVER, TitleDoc, doc_from_title
from services.search.engine import SearchEngine
from services.search.ledger import Ledger

__all__ = ["ActivityFeed", "CatalogFeed", "EngineRunner", "Indexer", "RebuildReport"]

_log = get_logger("search.indexer")
T = TypeVar("T")

CATALOG_EVENTS: dict[str, type[Message]] = {
    "vod.catalog.title_published": cev.TitlePublished,
    "vod.catalog.title_updated": cev.TitleUpdated,
    "vod.catalog.title_removed": cev.TitleRemoved,
}
ACTIVITY_EVENTS: dict[str, type[Message]] = {
    "vod.playback.started": pev.PlaybackStarted,
    "vod.playback.stopped": pev.PlaybackStopped,
    "vod.feedback.recorded": fev.FeedbackRecorded,
}
FEEDBACK_WEIGHTS = {
    rpb.FEEDBACK_KIND_VIEW: 0.5,
    rpb.FEEDBACK_KIND_LIKE: 1.0,
    rpb.FEEDBACK_KIND_COMPLETE: 0.5,
    rpb.FEEDBACK_KIND_DISLIKE: -0.5,
    rpb.FEEDBACK_KIND_NOT_INTERESTED: -0.5,
    rpb.FEEDBACK_KIND_ABANDON: 0.0,
}


class EngineRunner:
    """Runs the blocking engine calls in worker threads, off the event loop: the one way the
    service calls its engine (a call may be a whole use case that calls the engine several
    times, so it pays for one trip to a thread). The caller's context (request id, trace)
    goes along."""

    def __init__(self, engine: SearchEngine, workers: int = 4) -> None:
        self.engine = engine
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="search-engine")

    async def __call__(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            context = contextvars.copy_context()
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, functools.partial(context.run, fn, *args)
            )
        except (ConnectionError, OSError) as exc:
            _log.warning("engine.unavailable", engine=self.engine.name, error=str(exc))
            raise Unavailable(
                message="the search engine is unavailable; retry shortly",
                reason="ENGINE_UNAVAILABLE",
            ) from exc

    def close(self) -> None:
        self._pool.shutdown(wait=True)


@dataclass(frozen=True)
class _Change:
    id: str
    version: int
    doc: TitleDoc | None  # None: removed


@dataclass(frozen=True)
class RebuildReport:
    indexed: int
    skipped: int
    seconds: float


def _ns(ts: Any) -> int:
    return int(ts.ToNanoseconds()) if ts.seconds or ts.nanos else time.time_ns()


def change_of(event: Message) -> _Change | None:
    if isinstance(event, cev.TitlePublished | cev.TitleUpdated):
        if not event.title.name.startswith("titles/"):
            return None
        doc = doc_from_title(event.title)
        return _Change(doc.id, doc.update_ns or _ns(event.meta.occur_time), doc)
    if isinstance(event, cev.TitleRemoved):
        return _Change(event.name.removeprefix("titles/"), _ns(event.meta.occur_time), None)
    return None


class Indexer:
    def __init__(
        self,
        run: EngineRunner,
        ledger: Ledger,
        activity: Activity,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._run = run
        self._ledger = ledger
        self._activity = activity
        self._clock = clock
        self._write = asyncio.Lock()
        self._rebuilding = asyncio.Lock()
        self._journal: list[_Change] | None = None
        self._next_change = NEVER
        self.applied = 0

    async def start(self) -> None:
        self._next_change = await self._run(self._run.engine.next_change)

    def _now(self) -> int:
        return int(self._clock())

    def _prepare(self, doc: TitleDoc) -> TitleDoc:
        return doc.with_popularity(self._activity.popularity(doc.id)).at(self._now())

    # -- catalog changes -------------------------------------------------------------------

    async def apply(self, events: Sequence[Message]) -> int:
        """Apply catalog events (in stream order) with one engine write; returns how many
        changes took effect (stale ones are dropped)."""
        changes = [c for c in map(change_of, events) if c is not None]
        if not changes:
            return 0
        async with self._write:
            ids = list(dict.fromkeys(c.id for c in changes))
            current = await self._run(self._run.engine.get, ids)
            versions = {i: d.update_ns for i, d in current.items()}
            for doc_id, version in self._ledger.tombstones(ids).items():
                versions[doc_id] = max(versions.get(doc_id, 0), version)
            final: dict[str, _Change] = {}
            for change in changes:
                if change.version < versions.get(change.id, -1):
                    continue
                versions[change.id] = change.version
                final[change.id] = change
            await self._write_changes(list(final.values()), current)
            if self._journal is not None:
                self._journal.extend(final.values())
            self.applied += len(final)
            return len(final)

    async def _write_changes(self, changes: list[_Change], current: dict[str, TitleDoc]) -> None:
        upserts = [self._prepare(c.doc) for c in changes if c.doc is not None]
        deletes = [c.id for c in changes if c.doc is None and c.id in current]
        await self._run(self._run.engine.write, upserts, deletes)
        self._ledger.record(
            {c.id: c.version for c in changes if c.doc is None},
            [c.id for c in changes if c.doc is not None],
        )
        if upserts:
            self._next_change = min(self._next_change, *(d.next_change for d in upserts))

    # -- time and popularity ---------------------------------------------------------------

    async def ensure_fresh(self) -> None:
        """Re-derive documents whose availability changed since they were indexed."""
        if self._now() < self._next_change:
            return
        async with self._write:
            now = self._now()
            while True:
                due = await self._run(self._run.engine.due, now, 1000)
                if not due:
                    break
                docs = await self._run(self._run.engine.get, due)
                await self._run(self._run.engine.write, [d.at(now) for d in docs.values()], [])
            self._next_change = await self._run(self._run.engine.next_change)

    async def refresh_popularity(self) -> int:
        changed = sorted(self._activity.drain_changed())
        updated = 0
        for start in range(0, len(changed), 500):
            async with self._write:
                docs = await self._run(self._run.engine.get, changed[start : start + 500])
                fresh = [
                    d.with_popularity(p)
                    for d in docs.values()
                    if abs((p := self._activity.popularity(d.id)) - d.popularity) > 1e-3
                ]
                await self._run(self._run.engine.write, fresh, [])
                updated += len(fresh)
        return updated

    async def maintain(self, interval_s: float) -> None:
        """Background upkeep: availability transitions and popularity."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.ensure_fresh()
                await self.refresh_popularity()
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("indexer.maintenance_failed")

    # -- full rebuild ----------------------------------------------------------------------

    async def rebuild(self, titles: AsyncIterator[Sequence[cpb.Title]]) -> RebuildReport:
        """Build a new index from `titles` (pages of the whole catalog) and swap it in."""
        if self._rebuilding.locked():
            raise Aborted(
                message="a re-index is already running; wait for it to finish",
                reason="REINDEX_RUNNING",
                resource_type="vod.search.v1.Index",
                resource_name="index",
            )
        async with self._rebuilding:
            started = time.perf_counter()
            self._journal = []
            builder = await self._run(self._run.engine.begin_rebuild)
            versions: dict[str, int] = {}
            skipped = 0
            try:
                async for page in titles:
                    docs = []
                    for title in page:
                        try:
                            doc = doc_from_title(title)
                        except (ValueError, OverflowError):
                            skipped += 1
                            continue
                        versions[doc.id] = doc.update_ns
                        docs.append(self._prepare(doc))
                    await self._run(builder.add, docs)
                async with self._write:
                    tombstones = self._ledger.tombstones(versions)
                    gone = [i for i, v in tombstones.items() if v >= versions[i]]
                    late = [c for c in self._journal if c.version >= versions.get(c.id, -1)]
                    await self._run(builder.add, [self._prepare(c.doc) for c in late if c.doc])
                    await self._run(builder.delete, [*gone, *(c.id for c in late if c.doc is None)])
                    await self._run(builder.swap)
                    self._journal = None
                    self._next_change = await self._run(self._run.engine.next_change)
            except BaseException:
                self._journal = None
                await self._run(builder.abort)
                raise
            count = await self._run(self._run.engine.count)
            return RebuildReport(count, skipped, time.perf_counter() - started)


# -- event feeds -----------------------------------------------------------------------------


class CatalogFeed:
    """Durable pull consumer of vod.catalog.*: fetch a batch, apply with one commit, then ack."""

    def __init__(
        self,
        js: JetStreamContext,
        indexer: Indexer,
        *,
        durable: str,
        batch: int = 256,
        ack_wait_s: float = 30.0,
    ) -> None:
        self._js = js
        self._indexer = indexer
        self._durable = durable
        self._batch = batch
        self._ack_wait_s = ack_wait_s

    async def run(self) -> None:
        sub = await self._js.pull_subscribe(
            "vod.catalog.>",
            durable=self._durable,
            stream="VOD_CATALOG",
            config=api.ConsumerConfig(
                ack_wait=self._ack_wait_s, max_deliver=-1, max_ack_pending=20_000
            ),
        )
        while True:
            try:
                messages = await sub.fetch(self._batch, timeout=0.25)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("catalog_feed.fetch_failed", error=str(exc))
                await asyncio.sleep(0.5)
                continue
            events = []
            received: list[trace.Link] = []
            for msg in messages:
                # Each message continues its publisher's trace; the batch applied below links
                # to all of them (one commit serves many traces).
                with consumer_span(msg.subject, msg.headers, durable=self._durable) as span:
                    received.append(trace.Link(span.get_span_context()))
                    kind = CATALOG_EVENTS.get(msg.subject)
                    if kind is None:
                        continue
                    try:
                        events.append(kind.FromString(msg.data))
                    except Exception:
                        _log.warning("catalog_feed.undecodable", subject=msg.subject)
            try:
                with tracing.tracer().start_as_current_span(
                    "index vod.catalog batch",
                    links=received,
                    attributes={"messaging.batch.message_count": len(messages)},
                ):
                    await self._indexer.apply(events)
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("catalog_feed.apply_failed", count=len(events))
                for msg in messages:
                    await msg.nak(delay=1.0)
                continue
            for msg in messages:
                await msg.ack()


class ActivityFeed:
    """Replays the last 7 days of playback and feedback events, then follows them live."""

    def __init__(
        self,
        js: JetStreamContext,
        activity: Activity,
        *,
        replay_s: float = 7 * 86400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._js = js
        self._activity = activity
        self._replay_s = replay_s
        self._clock = clock

    async def run(self) -> None:
        await asyncio.gather(
            self._follow("VOD_PLAYBACK", "vod.playback.>"),
            self._follow("VOD_FEEDBACK", "vod.feedback.>"),
        )

    async def _follow(self, stream: str, subject: str) -> None:
        since = datetime.fromtimestamp(self._clock() - self._replay_s, UTC)
        sub = await self._js.pull_subscribe(
            subject,
            stream=stream,
            config=api.ConsumerConfig(
                deliver_policy=api.DeliverPolicy.BY_START_TIME,
                opt_start_time=since,  # nats-py writes it as RFC 3339 UTC
                ack_policy=api.AckPolicy.EXPLICIT,
                inactive_threshold=timedelta(minutes=5).total_seconds(),
            ),
        )
        while True:
            try:
                messages = await sub.fetch(512, timeout=0.5)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("activity_feed.fetch_failed", error=str(exc))
                await asyncio.sleep(0.5)
                continue
            for msg in messages:
                with consumer_span(msg.subject, msg.headers, durable=f"search-activity-{stream}"):
                    self.record(msg.subject, msg.data)
                    await msg.ack()

    def record(self, subject: str, data: bytes) -> None:
        kind = ACTIVITY_EVENTS.get(subject)
        if kind is None:
            return
        try:
            event: Any = kind.FromString(data)
        except Exception:
            _log.warning("activity_feed.undecodable", subject=subject)
            return
        at = (
            event.meta.occur_time.ToSeconds()
            if event.meta.HasField("occur_time")
            else self._clock()
        )
        if isinstance(event, pev.PlaybackStarted):
            self._activity.record(
                event.meta.event_id,
                event.title,
                weight=1.0,
                at_s=at,
                region=event.region_code,
                profile=event.profile,
            )
        elif isinstance(event, pev.PlaybackStopped):
            if event.completed:
                self._activity.record(
                    event.meta.event_id,
                    event.title,
                    weight=0.5,
                    at_s=at,
                    region=event.region_code,
                    profile=event.profile,
                )
        elif isinstance(event, fev.FeedbackRecorded):
            self._activity.record(
                event.meta.event_id,
                event.title,
                weight=FEEDBACK_WEIGHTS.get(event.kind, 0.0),
                at_s=at,
                profile=event.profile,
            )


Coro = Callable[[], Awaitable[None]]
