"""GetHome: the rows of a profile's home feed, assembled from their sources in parallel, each
call with its own deadline, then the title data and artwork of every tile from one catalog call.

    CONTINUE_WATCHING    playback ListContinueWatching             -> omitted
    TOP_PICKS            recommendations TOP_PICKS                 -> search Trending (degraded)
    BECAUSE_YOU_WATCHED  recommendations, seeded by the most recent continue-watching title
                         (recommendations picks from the profile's history when there is none)
    TRENDING_NOW         search Trending                           -> recommendations TRENDING_NOW
    NEW_RELEASES         search NewReleases                        -> recommendations NEW_RELEASES

A fallback serves the row (marked degraded) when the primary source fails or comes back empty;
when both fail the row is omitted with the primary's reason. Search's Trending answer is
fetched once and serves both TRENDING_NOW and the TOP_PICKS fallback. Row calls finish by
`budget - catalog_deadline` after the request started, leaving the catalog its deadline; when
the catalog fails the rows keep what their sources said (ids, and the names and thumbnails
search gives) and are marked degraded. Every tile is checked against the profile's maturity
limit; rows left empty are omitted as EMPTY.

With experiments configured (gateway/home/experiments.py), the profile's assignments are asked
for in parallel with the rows (cached per profile); a variant's `row_order`/`top_row` reorders
the rows and its `artwork` picks the artwork kind; every response that applied an assignment
records one exposure after it is built, in the background.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

import grpc
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.gateway.v1 import gateway_pb2 as pb
from vod.recommendations.v1 import recommendations_pb2 as rpb
from vod.search.v1 import search_pb2 as spb

from gateway.home import maturity
from gateway.home.deps import (
    CatalogSource,
    Metadata,
    PlaybackSource,
    RecommendationsSource,
    SearchSource,
    SourceFailure,
)
from gateway.home.experiments import DEFAULT_ARTWORK, HomeExperiments, Treatment
from gateway.home.metrics import HomeMetrics
from services.runtime.logs import get_logger

__all__ = ["DEFAULT_ITEMS", "EMPTY", "HomeDomain", "HomeQuery", "Sources", "Timing"]

_log = get_logger("gateway.home")

DEFAULT_ITEMS = 20
EMPTY = "EMPTY"
_ARTWORK_PREFERENCE = DEFAULT_ARTWORK


@dataclass(frozen=True)
class Sources:
    playback: PlaybackSource
    recommendations: RecommendationsSource
    search: SearchSource
    catalog: CatalogSource


@dataclass(frozen=True)
class Timing:
    row_deadline_s: float = 0.15
    catalog_deadline_s: float = 0.08
    budget_s: float = 0.25


@dataclass(frozen=True)
class HomeQuery:
    profile: str
    region: str
    max_items: int
    maturity_limit: int
    plan: str = ""
    """The caller's plan, "plans/{plan}" (experiment targeting)."""
    response_id: str = ""
    """Identifies the response in its exposure record; generated when empty."""


@dataclass
class _Tile:
    title: str
    display_name: str = ""
    artwork_uri: str = ""
    watched_fraction: float = 0.0
    reason: str = ""
    release_year: int = 0
    rating_label: str = ""
    genres: tuple[str, ...] = ()

    @classmethod
    def of_summary(cls, summary: spb.TitleSummary, reason: str = "") -> _Tile:
        return cls(
            title=summary.title,
            display_name=summary.display_name,
            artwork_uri=summary.thumbnail_uri,
            reason=reason,
            release_year=summary.release_year,
            rating_label=summary.maturity_rating,
            genres=tuple(summary.genres),
        )


@dataclass
class _Draft:
    kind: int
    heading: str
    tiles: list[_Tile]
    degraded: bool = False
    because_of: str = ""


@dataclass
class _Call:
    """Deadlines of one GetHome, from its start."""

    timing: Timing
    clock: Callable[[], float]
    start: float = field(init=False)

    def __post_init__(self) -> None:
        self.start = self.clock()

    def row_timeout(self) -> float:
        rows_end = self.start + self.timing.budget_s - self.timing.catalog_deadline_s
        return min(self.timing.row_deadline_s, rows_end - self.clock())

    def catalog_timeout(self) -> float:
        end = self.start + self.timing.budget_s
        return min(self.timing.catalog_deadline_s, end - self.clock())


class HomeDomain:
    def __init__(
        self,
        sources: Sources,
        timing: Timing,
        metrics: HomeMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
        experiments: HomeExperiments | None = None,
    ) -> None:
        self._sources = sources
        self._timing = timing
        self._metrics = metrics
        self._clock = clock
        self._experiments = experiments

    async def home(self, query: HomeQuery, metadata: Metadata) -> pb.GetHomeResponse:
        call = _Call(self._timing, self._clock)
        n = query.max_items or DEFAULT_ITEMS
        trending = asyncio.ensure_future(
            self._sources.search.trending(query.region, n, metadata, call.row_timeout())
        )
        continue_watching = asyncio.ensure_future(self._continue_watching(query, n, metadata, call))
        assignments = self._assignments(query, metadata, call)
        rows = {
            pb.ROW_KIND_CONTINUE_WATCHING: continue_watching,
            pb.ROW_KIND_TOP_PICKS: self._top_picks(query, n, metadata, call, trending),
            pb.ROW_KIND_BECAUSE_YOU_WATCHED: self._because(
                query, n, metadata, call, continue_watching
            ),
            pb.ROW_KIND_TRENDING_NOW: self._trending(query, n, metadata, call, trending),
            pb.ROW_KIND_NEW_RELEASES: self._new_releases(query, n, metadata, call),
        }
        try:
            outcomes = await asyncio.gather(*rows.values(), return_exceptions=True)
            treatment = await assignments if assignments is not None else Treatment()
        finally:
            trending.cancel()
            continue_watching.cancel()
            if assignments is not None:
                assignments.cancel()
        drafts: dict[int, _Draft | str] = {}
        for kind, outcome in zip(rows, outcomes, strict=True):
            if isinstance(outcome, _Draft):
                drafts[kind] = outcome
            elif isinstance(outcome, SourceFailure):
                drafts[kind] = outcome.reason
            elif isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome  # cancelled: the client went away
            else:
                _log.error("home.row_failed", row=pb.RowKind.Name(kind), exc_info=outcome)
                drafts[kind] = "INTERNAL"
        names = list(
            dict.fromkeys(
                t.title for d in drafts.values() if isinstance(d, _Draft) for t in d.tiles
            )
        )
        titles: dict[str, cpb.Title] | None = {}
        if names:
            try:
                titles = await self._sources.catalog.titles(names, metadata, call.catalog_timeout())
            except SourceFailure:
                titles = None
        artwork_shown: list[str] = []
        response = self._response(drafts, titles, query, n, treatment, artwork_shown)
        if self._experiments is not None:
            self._experiments.record(
                profile=query.profile,
                region=query.region,
                response_id=query.response_id or uuid.uuid4().hex,
                treatment=treatment,
                response=response,
                artwork_shown=artwork_shown,
                metadata=metadata,
            )
        return response

    def _assignments(
        self, query: HomeQuery, metadata: Metadata, call: _Call
    ) -> asyncio.Future[Treatment] | None:
        experiments = self._experiments
        if experiments is None:
            return None

        async def treatment() -> Treatment:
            timeout = min(experiments.settings.deadline_s, call.row_timeout())
            found = await experiments.assignments(
                query.profile, query.region, query.plan, metadata, timeout
            )
            return Treatment.of(found, experiments.settings.layers)

        return asyncio.ensure_future(treatment())

    # -- rows -------------------------------------------------------------------------------

    async def _continue_watching(
        self, query: HomeQuery, n: int, metadata: Metadata, call: _Call
    ) -> _Draft:
        points = await self._sources.playback.continue_watching(
            query.profile, n, metadata, call.row_timeout()
        )
        tiles = [_Tile(p.title, watched_fraction=p.watched_fraction) for p in points]
        return _Draft(pb.ROW_KIND_CONTINUE_WATCHING, "Continue watching", tiles)

    def _recs(
        self, query: HomeQuery, kind: int, n: int, metadata: Metadata, call: _Call, seed: str = ""
    ) -> Awaitable[rpb.GetRecommendationsResponse]:
        return self._sources.recommendations.row(
            query.profile,
            kind,
            region=query.region,
            page_size=n,
            metadata=metadata,
            timeout_s=call.row_timeout(),
            seed_title=seed,
        )

    @staticmethod
    def _recs_draft(kind: int, response: rpb.GetRecommendationsResponse, heading: str) -> _Draft:
        tiles = [_Tile(r.title, reason=r.reason) for r in response.recommendations]
        return _Draft(
            kind,
            response.heading or heading,
            tiles,
            degraded=response.degraded,
            because_of=response.seed_title,
        )

    async def _top_picks(
        self,
        query: HomeQuery,
        n: int,
        metadata: Metadata,
        call: _Call,
        trending: asyncio.Future[list[spb.TitleSummary]],
    ) -> _Draft:
        async def primary() -> _Draft:
            response = await self._recs(query, rpb.ROW_KIND_TOP_PICKS, n, metadata, call)
            return self._recs_draft(pb.ROW_KIND_TOP_PICKS, response, "Top picks for you")

        async def fallback() -> _Draft:
            summaries = await asyncio.shield(trending)
            tiles = [_Tile.of_summary(s, f"Popular in {query.region}") for s in summaries]
            return _Draft(pb.ROW_KIND_TOP_PICKS, f"Popular in {query.region}", tiles)

        return await _with_fallback(primary, fallback)

    async def _because(
        self,
        query: HomeQuery,
        n: int,
        metadata: Metadata,
        call: _Call,
        continue_watching: asyncio.Future[_Draft],
    ) -> _Draft:
        seed = ""
        try:
            watching = await asyncio.shield(continue_watching)
            seed = watching.tiles[0].title if watching.tiles else ""
        except SourceFailure:
            pass  # recommendations picks the seed from the profile's history
        try:
            response = await self._recs(
                query, rpb.ROW_KIND_BECAUSE_YOU_WATCHED, n, metadata, call, seed
            )
        except SourceFailure as failure:
            # No seed and no history to pick one from (INVALID_ARGUMENT), or a seed the model
            # does not know yet (NOT_FOUND): nothing to show, not a failure.
            if failure.code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
                raise SourceFailure(EMPTY) from None
            raise
        return self._recs_draft(pb.ROW_KIND_BECAUSE_YOU_WATCHED, response, "Because you watched")

    async def _trending(
        self,
        query: HomeQuery,
        n: int,
        metadata: Metadata,
        call: _Call,
        trending: asyncio.Future[list[spb.TitleSummary]],
    ) -> _Draft:
        async def primary() -> _Draft:
            summaries = await asyncio.shield(trending)
            tiles = [_Tile.of_summary(s) for s in summaries]
            return _Draft(pb.ROW_KIND_TRENDING_NOW, "Trending now", tiles)

        async def fallback() -> _Draft:
            response = await self._recs(query, rpb.ROW_KIND_TRENDING_NOW, n, metadata, call)
            return self._recs_draft(pb.ROW_KIND_TRENDING_NOW, response, "Trending now")

        return await _with_fallback(primary, fallback)

    async def _new_releases(
        self, query: HomeQuery, n: int, metadata: Metadata, call: _Call
    ) -> _Draft:
        async def primary() -> _Draft:
            summaries = await self._sources.search.new_releases(
                query.region, n, metadata, call.row_timeout()
            )
            return _Draft(
                pb.ROW_KIND_NEW_RELEASES, "New releases", [_Tile.of_summary(s) for s in summaries]
            )

        async def fallback() -> _Draft:
            response = await self._recs(query, rpb.ROW_KIND_NEW_RELEASES, n, metadata, call)
            return self._recs_draft(pb.ROW_KIND_NEW_RELEASES, response, "New releases")

        return await _with_fallback(primary, fallback)

    # -- the response -----------------------------------------------------------------------

    def _response(
        self,
        drafts: dict[int, _Draft | str],
        titles: dict[str, cpb.Title] | None,
        query: HomeQuery,
        n: int,
        treatment: Treatment,
        artwork_shown: list[str],
    ) -> pb.GetHomeResponse:
        response = pb.GetHomeResponse()
        for kind in treatment.row_order:
            draft = drafts[kind]
            row_name = pb.RowKind.Name(kind).removeprefix("ROW_KIND_")
            if isinstance(draft, str):
                response.omitted.add(kind=kind, reason=draft)  # type: ignore[arg-type]
                self._metrics.rows.labels(row_name, "omitted", draft).inc()
                continue
            items = _items(draft, titles, query.maturity_limit, treatment.artwork)[:n]
            if not items:
                response.omitted.add(kind=kind, reason=EMPTY)  # type: ignore[arg-type]
                self._metrics.rows.labels(row_name, "omitted", EMPTY).inc()
                continue
            degraded = draft.degraded or titles is None
            response.rows.add(
                kind=kind,  # type: ignore[arg-type]
                heading=draft.heading,
                items=items,
                degraded=degraded,
                because_of=draft.because_of,
            )
            self._metrics.rows.labels(row_name, "degraded" if degraded else "served", "").inc()
        if treatment.artwork_experiment and titles is not None:
            kind = cpb.ArtworkKind.Name(treatment.artwork[0]).removeprefix("ARTWORK_KIND_")
            shown = dict.fromkeys(
                item.title
                for row in response.rows
                for item in row.items
                if _has_artwork(titles.get(item.title), treatment.artwork[0])
            )
            artwork_shown.extend(f"{title}={kind.lower()}" for title in shown)
        return response


async def _with_fallback(
    primary: Callable[[], Awaitable[_Draft]], fallback: Callable[[], Awaitable[_Draft]]
) -> _Draft:
    """The primary's row; the fallback's (degraded) when the primary fails or is empty; the
    primary's failure (or EMPTY) when the fallback cannot do better."""
    try:
        draft = await primary()
        if draft.tiles:
            return draft
        failure = SourceFailure(EMPTY)
    except SourceFailure as exc:
        failure = exc
    try:
        alternative = await fallback()
    except SourceFailure:
        raise failure from None
    if not alternative.tiles:
        raise failure
    return replace(alternative, degraded=True)


def _has_artwork(title: cpb.Title | None, kind: int) -> bool:
    return title is not None and any(a.kind == kind for a in title.artwork)


def _artwork(title: cpb.Title, preference: Sequence[int] = _ARTWORK_PREFERENCE) -> str:
    for kind in preference:
        for artwork in title.artwork:
            if artwork.kind == kind:
                return artwork.uri
    return title.artwork[0].uri if title.artwork else ""


def _items(
    draft: _Draft,
    titles: dict[str, cpb.Title] | None,
    limit: int,
    artwork: Sequence[int] = _ARTWORK_PREFERENCE,
) -> Sequence[pb.HomeItem]:
    items: list[pb.HomeItem] = []
    seen: set[str] = set()
    for tile in draft.tiles:
        if tile.title in seen:
            continue
        seen.add(tile.title)
        item = pb.HomeItem(
            title=tile.title, watched_fraction=tile.watched_fraction, reason=tile.reason
        )
        if titles is not None:
            title = titles.get(tile.title)
            if title is None or not maturity.allows(limit, title.maturity_rating):
                continue  # gone from the catalog, or above the profile's limit
            item.display_name = title.display_name
            item.artwork_uri = _artwork(title, artwork)
            item.release_year = title.release_year
            item.maturity_rating = maturity.rating_label(title.maturity_rating)
            item.genres.extend(title.genres)
            item.synopsis = title.synopsis
            if title.media.state == cpb.MEDIA_STATE_READY:
                item.duration_seconds = title.media.duration_seconds
        else:
            # No catalog: what the source said. A tile whose rating is unknown is shown only
            # when the profile has no limit, except the profile's own continue watching.
            watching = draft.kind == pb.ROW_KIND_CONTINUE_WATCHING
            if not watching and not maturity.allows_label(limit, tile.rating_label):
                continue
            item.display_name = tile.display_name
            item.artwork_uri = tile.artwork_uri
            item.release_year = tile.release_year
            item.maturity_rating = tile.rating_label
            item.genres.extend(tile.genres)
        items.append(item)
    return items
