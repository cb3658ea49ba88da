"""Search use cases: Search, Suggest, Trending, NewReleases and Reindex over a `SearchEngine`.

No gRPC here: requests and responses are the generated messages, errors are
`services.runtime.errors` exceptions. The proto rules already ran in the interceptor; this module
checks what they cannot express (inverted ranges, unknown regions, unknown fields, page tokens).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import pycountry
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.search.v1 import search_pb2 as pb

from services.runtime.errors import FieldViolation, InvalidArgument
from services.runtime.page_tokens import PageTokens, bad_page_token, default_page_tokens
from services.search.activity import DAY, WEEK, Activity
from services.search.documents import TitleDoc
from services.search.engine import FACETS, EngineQuery, EngineResult, Filters, Sort
from services.search.indexer import EngineRunner, Indexer, RebuildReport
from services.search.text import MAX_QUERY_WORDS, MatchSpec, excerpt, find_matches, words

__all__ = ["SearchDomain", "decode_token", "encode_token"]

DEFAULT_PAGE_SIZE = 20
MAX_RESULT_WINDOW = 10_000  # deepest result reachable by paging
DEFAULT_SUGGESTIONS = 8
PREFERENCE_BOOST = 6.0  # additive boost of a profile's favourite genre (exact titles get 10,000)

_SORTS = {
    pb.SORT_ORDER_UNSPECIFIED: Sort.RELEVANCE,
    pb.SORT_ORDER_RELEVANCE: Sort.RELEVANCE,
    pb.SORT_ORDER_POPULARITY: Sort.POPULARITY,
    pb.SORT_ORDER_RELEASE_DATE: Sort.RELEASE,
}
_FACET_NAMES = {number: name for number, name in enumerate(FACETS, start=1)}


# -- page tokens ---------------------------------------------------------------------------


def _scope(request: Message) -> str:
    """`vod.search.v1.SearchService/<Method>` of a `<Method>Request`."""
    return f"vod.search.v1.SearchService/{request.DESCRIPTOR.name.removesuffix('Request')}"


def encode_token(
    codec: PageTokens, request: Message, extra: str, offset: int, snapshot: int | None
) -> str:
    """A signed token (`services.runtime.page_tokens`) for the page at `offset` of `request`
    (bound to its other fields and to `extra`, e.g. the region it resolved to)."""
    return codec.encode(_scope(request), request, {"o": offset, "s": snapshot}, bind=extra)


def decode_token(codec: PageTokens, request: Message, extra: str) -> tuple[int, int | None]:
    """(offset, snapshot) of the request's page token; (0, None) without one."""
    token = request.page_token  # type: ignore[attr-defined]
    if not token:
        return 0, None
    data = codec.decode(token, _scope(request), request, bind=extra)
    offset, snapshot = data.get("o"), data.get("s")
    if (
        not isinstance(offset, int)
        or isinstance(offset, bool)
        or not 0 <= offset <= MAX_RESULT_WINDOW
        or (snapshot is not None and (not isinstance(snapshot, int) or isinstance(snapshot, bool)))
    ):
        raise bad_page_token("does not hold a position in these results")
    return offset, snapshot


# -- checks ----------------------------------------------------------------------------------


def _unknown_fields(message: Message, path: str) -> list[FieldViolation]:
    return [
        FieldViolation(
            path or "request",
            f"has unknown field number {f.field_number}; this server does not support it",
        )
        for f in UnknownFieldSet(message)
    ]


def _is_region(code: str) -> bool:
    return pycountry.countries.get(alpha_2=code) is not None


def summary_of(doc: TitleDoc) -> pb.TitleSummary:
    return pb.TitleSummary(
        title=doc.name,
        display_name=doc.display_name,
        type=doc.type,
        release_year=doc.release_year,
        maturity_rating=doc.maturity_rating,
        genres=list(doc.genres),
        thumbnail_uri=doc.thumbnail_uri,
    )


def highlights_of(doc: TitleDoc, spec: MatchSpec) -> list[pb.Highlight]:
    out = []
    fields = (
        ("display_name", doc.display_name),
        ("credits", ", ".join(doc.people)),
        ("genres", ", ".join(doc.genres)),
        ("synopsis", doc.synopsis),
    )
    for name, text in fields:
        if not text:
            continue
        ranges = find_matches(text, spec)
        if not ranges:
            continue
        snippet, inside = excerpt(text, ranges, max_chars=300 if name == "display_name" else 160)
        out.append(
            pb.Highlight(
                field=name,
                snippet=snippet,
                ranges=[pb.HighlightRange(start=s, length=n) for s, n in inside],
            )
        )
    return out


# -- the domain ------------------------------------------------------------------------------


TitlePages = Callable[[], AsyncIterator[Sequence[cpb.Title]]]


@dataclass
class SearchDomain:
    run: EngineRunner
    indexer: Indexer
    activity: Activity
    default_region: str = "US"
    catalog_pages: TitlePages | None = None
    clock: Callable[[], float] = field(default=time.time)
    page_tokens: PageTokens = field(default_factory=default_page_tokens)

    def _region(self, requested: str, caller: str, path: str) -> str:
        region = requested or caller or self.default_region
        if not _is_region(region):
            where = path if requested else "x-vod-region"
            raise InvalidArgument.for_field(where, f"{region!r} is not an ISO 3166-1 region")
        return region

    # -- Search ----------------------------------------------------------------------------

    async def search(self, request: pb.SearchRequest, caller_region: str = "") -> pb.SearchResponse:
        problems = _unknown_fields(request, "") + _unknown_fields(request.filter, "filter")
        f = request.filter
        if f.release_year_min and f.release_year_max and f.release_year_min > f.release_year_max:
            problems.append(
                FieldViolation(
                    "filter.release_year_max", "must not be before filter.release_year_min"
                )
            )
        for index, facet in enumerate(request.facets):
            if facet not in _FACET_NAMES:
                problems.append(FieldViolation(f"facets[{index}]", "must name a facet field"))
        if f.region_code and not _is_region(f.region_code):
            problems.append(
                FieldViolation(
                    "filter.region_code", f"{f.region_code!r} is not an ISO 3166-1 region"
                )
            )
        if problems:
            raise InvalidArgument.of(problems)
        region = self._region(f.region_code, caller_region, "filter.region_code")
        offset, snapshot = decode_token(self.page_tokens, request, region)
        limit = request.page_size or DEFAULT_PAGE_SIZE
        terms = tuple(words(request.query)[:MAX_QUERY_WORDS])
        sort = _SORTS[request.sort]
        if not terms and sort is Sort.RELEVANCE:
            sort = Sort.POPULARITY  # an empty query lists what is popular (trending) first
        query = EngineQuery(
            words=terms,
            filters=Filters(
                region=region,
                types=tuple(dict.fromkeys(f.types)),
                genres=tuple(dict.fromkeys(" ".join(g.split()).casefold() for g in f.genres)),
                year_min=f.release_year_min,
                year_max=f.release_year_max,
                ratings=tuple(dict.fromkeys(f.maturity_ratings)),
                person=" ".join(f.cast_member.split()).casefold(),
                country=" ".join(f.country.split()).casefold(),
            ),
            facets=tuple(dict.fromkeys(_FACET_NAMES[n] for n in request.facets)),
            sort=sort,
            offset=offset,
            limit=min(limit, MAX_RESULT_WINDOW - offset) or 1,
            genre_boosts=await self._preferences(request.profile) if request.profile else (),
            snapshot=snapshot,
        )
        await self.indexer.ensure_fresh()
        # One trip to the engine's worker threads: the engine calls, then the page's highlights
        # and the response, Python work that would otherwise hold up the event loop.
        return await self.run(self._search_page, request, region, query, offset)

    def _search_page(
        self, request: pb.SearchRequest, region: str, query: EngineQuery, offset: int
    ) -> pb.SearchResponse:
        """The response to a checked Search request (blocking: runs in a worker thread)."""
        engine = self.run.engine
        terms = query.words
        result = engine.search(query)
        # Nothing has every word: accept titles matching all but one word, then all but two, …
        # (ranked by how well they match), so a stray "2" or "and" does not empty the page.
        needed = len(terms)
        while result.total == 0 and needed > 1:
            needed -= 1
            query = EngineQuery(**{**query.__dict__, "require_all": False, "min_words": needed})
            result = engine.search(query)
        # "did you mean": chosen from the index (words found together), not from the hits
        corrected = engine.correct(terms, query.filters) if terms else ()
        return self._search_response(request, region, query, result, offset, corrected)

    def _search_response(
        self,
        request: pb.SearchRequest,
        region: str,
        query: EngineQuery,
        result: EngineResult,
        offset: int,
        corrected: Sequence[str] = (),
    ) -> pb.SearchResponse:
        # highlight what the correction names too ("strangerthings" → "Stranger Things"); the
        # typed words go last so the last one is still matched as a prefix
        extra = tuple(w for w in dict.fromkeys(corrected) if w not in query.words)
        spec = MatchSpec((*extra, *query.words))
        response = pb.SearchResponse(total_size=min(result.total, 2**31 - 1))
        for doc, score in result.hits:
            response.hits.add(
                summary=summary_of(doc),
                score=score,
                highlights=highlights_of(doc, spec) if query.words else [],
            )
        for number in dict.fromkeys(request.facets):
            name = _FACET_NAMES[number]
            response.facets.add(
                field=number,
                values=[
                    pb.FacetValue(value=value, count=count)
                    for value, count in result.facets.get(name, [])
                ],
            )
        end = offset + len(result.hits)
        if result.hits and end < min(result.total, MAX_RESULT_WINDOW):
            response.next_page_token = encode_token(
                self.page_tokens, request, region, end, result.snapshot
            )
        if corrected and tuple(corrected) != tuple(query.words):
            response.corrected_query = " ".join(corrected)
        return response

    async def _preferences(self, profile: str) -> tuple[tuple[str, float], ...]:
        """Genre boosts from what the profile watched: its favourite genre gets the full
        PREFERENCE_BOOST, others in proportion."""
        history = self.activity.profile_history(profile)
        if not history:
            return ()
        weights: dict[str, float] = {}
        for title_id, weight in history:
            weights[title_id] = weights.get(title_id, 0.0) + weight
        docs = await self.run(self.run.engine.get, list(weights))
        genres: dict[str, float] = {}
        for title_id, weight in weights.items():
            doc = docs.get(title_id)
            if doc is None or weight <= 0:
                continue
            for genre in doc.genres:
                genres[genre.casefold()] = genres.get(genre.casefold(), 0.0) + weight
        if not genres:
            return ()
        top = max(genres.values())
        ranked = sorted(genres.items(), key=lambda item: -item[1])[:10]  # as most_common
        return tuple((g, PREFERENCE_BOOST * w / top) for g, w in ranked)

    # -- Suggest ---------------------------------------------------------------------------

    async def suggest(
        self, request: pb.SuggestRequest, caller_region: str = ""
    ) -> pb.SuggestResponse:
        problems = _unknown_fields(request, "")
        if request.region_code and not _is_region(request.region_code):
            problems.append(
                FieldViolation(
                    "region_code", f"{request.region_code!r} is not an ISO 3166-1 region"
                )
            )
        if problems:
            raise InvalidArgument.of(problems)
        region = self._region(request.region_code, caller_region, "region_code")
        limit = request.limit or DEFAULT_SUGGESTIONS
        terms = tuple(words(request.prefix)[:MAX_QUERY_WORDS])
        if not terms:
            return pb.SuggestResponse()
        await self.indexer.ensure_fresh()
        return await self.run(self._suggestions, terms, region, limit)

    def _suggestions(self, terms: tuple[str, ...], region: str, limit: int) -> pb.SuggestResponse:
        """Titles and people whose names match the typed words (blocking: runs in a worker
        thread, like `_search_page`)."""
        base = EngineQuery(words=terms, filters=Filters(region=region), limit=max(30, limit * 4))
        titles = self.run.engine.search(EngineQuery(**{**base.__dict__, "fields": ("title",)}))
        people = self.run.engine.search(
            EngineQuery(**{**base.__dict__, "fields": ("cast", "directors")})
        )
        spec = MatchSpec(terms)
        typed = " ".join(terms)
        scored: list[tuple[float, pb.Suggestion]] = []
        seen_titles: set[str] = set()
        top_score = max((s for _, s in titles.hits), default=1.0) or 1.0
        for doc, score in titles.hits:
            key = " ".join(words(doc.display_name))
            if key in seen_titles:
                continue
            seen_titles.add(key)
            value = (
                (1.0 if key.startswith(typed) else 0.0)
                + score / top_score
                + math.log1p(doc.popularity) / 10
            )
            scored.append(
                (
                    value,
                    self._suggestion(
                        pb.SUGGESTION_KIND_TITLE, doc.display_name, spec, title=doc.name
                    ),
                )
            )
        persons: dict[str, list[float]] = defaultdict(list)
        display: dict[str, str] = {}
        for doc, _ in people.hits:
            for person in doc.people:
                key = " ".join(words(person))
                if key and all(
                    any(spec_word_match(spec, i, t) for t in key.split()) for i in range(len(terms))
                ):
                    persons[key].append(doc.popularity)
                    display.setdefault(key, person)
        for key, pops in persons.items():
            value = (
                (0.9 if key.startswith(typed) or f" {typed}" in f" {key}" else 0.5)
                + min(len(pops), 10) / 20
                + math.log1p(sum(pops)) / 10
            )
            scored.append((value, self._suggestion(pb.SUGGESTION_KIND_PERSON, display[key], spec)))
        scored.sort(key=lambda item: (-item[0], item[1].text))
        response = pb.SuggestResponse()
        for value, suggestion in scored[:limit]:
            suggestion.score = value
            response.suggestions.append(suggestion)
        return response

    @staticmethod
    def _suggestion(kind: int, text: str, spec: MatchSpec, title: str = "") -> pb.Suggestion:
        suggestion = pb.Suggestion(kind=kind, text=text, title=title)  # type: ignore[arg-type]
        ranges = find_matches(text, spec)
        if ranges:
            start = ranges[0][0]
            end = ranges[-1][0] + ranges[-1][1]
            suggestion.match.CopyFrom(pb.HighlightRange(start=start, length=end - start))
        return suggestion

    # -- Trending and new releases -----------------------------------------------------------

    async def trending(self, request: pb.TrendingRequest) -> pb.TrendingResponse:
        problems = _unknown_fields(request, "")
        if not _is_region(request.region_code):
            problems.append(
                FieldViolation(
                    "region_code", f"{request.region_code!r} is not an ISO 3166-1 region"
                )
            )
        if problems:
            raise InvalidArgument.of(problems)
        offset, _ = decode_token(self.page_tokens, request, "")
        limit = request.page_size or DEFAULT_PAGE_SIZE
        window = WEEK if request.window == pb.TRENDING_WINDOW_WEEK else DAY
        ranked = self.activity.trending(request.region_code, window)
        now = int(self.clock())
        visible: list[tuple[TitleDoc, float]] = []
        cursor = 0
        while len(visible) < offset + limit + 1 and cursor < len(ranked):
            chunk = ranked[cursor : cursor + 200]
            cursor += len(chunk)
            docs = await self.run(self.run.engine.get, [t for t, _ in chunk])
            for title_id, score in chunk:
                doc = docs.get(title_id)
                if doc is not None and doc.at(now).open_in(request.region_code) is not None:
                    visible.append((doc, score))
        response = pb.TrendingResponse()
        for rank, (doc, score) in enumerate(visible[offset : offset + limit], start=offset + 1):
            response.titles.add(summary=summary_of(doc), rank=rank, score=round(score, 4))
        if len(visible) > offset + limit:
            response.next_page_token = encode_token(
                self.page_tokens, request, "", offset + limit, None
            )
        return response

    async def new_releases(self, request: pb.NewReleasesRequest) -> pb.NewReleasesResponse:
        problems = _unknown_fields(request, "")
        if not _is_region(request.region_code):
            problems.append(
                FieldViolation(
                    "region_code", f"{request.region_code!r} is not an ISO 3166-1 region"
                )
            )
        if problems:
            raise InvalidArgument.of(problems)
        offset, snapshot = decode_token(self.page_tokens, request, "")
        limit = request.page_size or DEFAULT_PAGE_SIZE
        await self.indexer.ensure_fresh()
        query = EngineQuery(
            filters=Filters(region=request.region_code),
            sort=Sort.AVAILABLE_SINCE,
            offset=offset,
            limit=min(limit, MAX_RESULT_WINDOW - offset) or 1,
            snapshot=snapshot,
        )
        result = await self.run(self.run.engine.search, query)
        page = sorted(result.hits, key=lambda h: -(h[0].open_in(request.region_code) or 0))
        response = pb.NewReleasesResponse()
        for doc, _ in page:
            release = response.releases.add(summary=summary_of(doc))
            release.available_time.FromSeconds(doc.open_in(request.region_code) or 0)
        end = offset + len(result.hits)
        if result.hits and end < min(result.total, MAX_RESULT_WINDOW):
            response.next_page_token = encode_token(
                self.page_tokens, request, "", end, result.snapshot
            )
        return response

    # -- Reindex ---------------------------------------------------------------------------

    async def reindex(self) -> RebuildReport:
        if self.catalog_pages is None:
            from services.runtime.errors import FailedPrecondition

            raise FailedPrecondition(
                message="no catalog is configured (VOD_CATALOG_ADDRESS); cannot re-index",
                reason="CATALOG_NOT_CONFIGURED",
                violations=(
                    ("CATALOG", "VOD_CATALOG_ADDRESS", "must point at the catalog service"),
                ),
            )
        return await self.indexer.rebuild(self.catalog_pages())


def spec_word_match(spec: MatchSpec, index: int, token: str) -> bool:
    """Whether query word `index` matches `token` (prefix for the last word)."""
    single = MatchSpec(
        (spec.words[index],), prefix_last=spec.prefix_last and index == len(spec.words) - 1
    )
    return single.matches(token)
