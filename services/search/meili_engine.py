"""The Meilisearch engine (used when `VOD_MEILI_URL` is set), through the `meilisearch` client.

Documents carry the same pre-folded text fields as the Tantivy index, so both engines see the
same words; the query text sent as `q` is those folded words joined by spaces, which contain no
quotes or leading minus signs and so can never form a phrase or negation. Filter values are
always quoted and escaped. Typo tolerance, ranking rules and synonyms are index settings (see
`MeiliSettings`). Re-indexing builds a second index and swaps it in with `swap_indexes`.

Closeness of typos, whole-title ("exactness") and joined or split words are Meilisearch's own
ranking rules and query handling. "Did you mean" (`correct`) reads the words of the documents
the query finds (Meilisearch does not expose its term dictionary), so a correction is always a
word found together with the other query words.

Known differences from the Tantivy engine: the profile genre boost is not applied (Meilisearch
has no per-query additive boosts), page tokens are not pinned to a snapshot, and `correct` sees
only the first `_CORRECTION_SAMPLE` documents the query finds.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import meilisearch
from meilisearch.errors import MeilisearchCommunicationError, MeilisearchTimeoutError

from services.search.config import MeiliSettings
from services.search.documents import NEVER, TitleDoc
from services.search.engine import EngineQuery, EngineResult, Filters, Sort
from services.search.text import best_correction, osa_distance, typo_budget
from services.search.text import words as split_words

__all__ = ["MeiliEngine"]

_CORRECTION_SAMPLE = 100

_FACET_ATTRIBUTES = {
    "type": "type",
    "genre": "genre",
    "release_year": "release_year",
    "rating": "rating",
    "country": "country",
    "decade": "decade",
}
_SORTS = {
    Sort.POPULARITY: ["popularity:desc", "id:asc"],
    Sort.RELEASE: ["release_sort:desc", "id:asc"],
    Sort.AVAILABLE_SINCE: ["available_since:desc", "id:asc"],
}


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # "…" with \\ and \" escaped


def _any_of(attribute: str, values: Iterable[str]) -> str:
    return f"{attribute} IN [{', '.join(_quote(v) for v in values)}]"


def _filter(filters: Filters) -> list[str]:
    out = []
    if filters.region:
        out.append(f"region = {_quote(filters.region)}")
    if filters.types:
        out.append(_any_of("type", filters.types))
    if filters.genres:
        out.append(_any_of("genre_key", filters.genres))
    if filters.year_min:
        out.append(f"release_year >= {int(filters.year_min)}")
    if filters.year_max:
        out.append(f"release_year <= {int(filters.year_max)}")
    if filters.ratings:
        out.append(_any_of("rating", filters.ratings))
    if filters.person:
        out.append(f"person_key = {_quote(filters.person)}")
    if filters.country:
        out.append(f"country_key = {_quote(filters.country)}")
    if filters.ids:
        out.append(_any_of("id", filters.ids))
    return out


def _document(doc: TitleDoc) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": doc.id,
        "doc": doc.to_json(),
        **doc.text_fields(),
        "title_key": doc.title_key(),
        "genre": list(doc.genres),
        "genre_key": [g.casefold() for g in doc.genres],
        "person_key": doc.person_keys(),
        "country": list(doc.countries),
        "country_key": [c.casefold() for c in doc.countries],
        "region": list(doc.region_codes),
        "type": doc.type,
        "rating": doc.maturity_rating,
        "decade": doc.decade,
        "release_year": doc.release_year,
        "next_change": doc.next_change,
        "release_sort": doc.release_year * 10_000_000_000 + doc.latest_start,
        "available_since": doc.latest_start,
        "popularity": doc.popularity,
    }
    return body


def _unjoined(word: str, titles: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """The 2 or 3 adjacent title words that `word` is written together from, or ()."""
    for title in titles:
        for size in (2, 3):
            for start in range(len(title) - size + 1):
                if "".join(title[start : start + size]) == word:
                    return title[start : start + size]
    return ()


class _Builder:
    def __init__(self, engine: MeiliEngine) -> None:
        self._engine = engine
        self.uid = f"{engine.uid}_rebuild_{uuid.uuid4().hex[:8]}"
        engine._configure(self.uid)

    def add(self, docs: Sequence[TitleDoc]) -> None:
        if docs:
            self._engine._wait(
                self._engine.client.index(self.uid).add_documents(
                    [_document(d) for d in docs], primary_key="id"
                )
            )

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._engine._wait(self._engine.client.index(self.uid).delete_documents(list(ids)))

    def swap(self) -> None:
        self._engine._wait(
            self._engine.client.swap_indexes([{"indexes": [self._engine.uid, self.uid]}])
        )
        self._engine._wait(self._engine.client.delete_index(self.uid))

    def abort(self) -> None:
        self._engine._wait(self._engine.client.delete_index(self.uid))


class MeiliEngine:
    name = "meilisearch"

    def __init__(self, settings: MeiliSettings) -> None:
        self.settings = settings
        self.uid = settings.index
        self.client = meilisearch.Client(
            settings.url, settings.api_key or None, timeout=int(max(1, settings.timeout_s))
        )
        self._guard(lambda: self._configure(self.uid))

    # -- plumbing --------------------------------------------------------------------------

    def _guard(self, fn: Any) -> Any:
        try:
            return fn()
        except (MeilisearchCommunicationError, MeilisearchTimeoutError) as exc:
            raise ConnectionError(f"meilisearch unreachable: {type(exc).__name__}") from exc

    def _wait(self, task: Any) -> None:
        done = self.client.wait_for_task(
            task.task_uid, timeout_in_ms=int(self.settings.timeout_s * 1000 * 12)
        )
        if getattr(done, "status", "succeeded") != "succeeded":
            raise RuntimeError(f"meilisearch task {task.task_uid} {done.status}: {done.error}")

    def _configure(self, uid: str) -> None:
        s = self.settings
        try:
            self._wait(self.client.create_index(uid, {"primaryKey": "id"}))
        except RuntimeError:
            pass  # exists already
        filterable = list(dict.fromkeys([*s.filterable, *_FACET_ATTRIBUTES.values()]))
        self._wait(
            self.client.index(uid).update_settings(
                {
                    "searchableAttributes": list(s.searchable),
                    "filterableAttributes": filterable,
                    "sortableAttributes": list(dict.fromkeys([*s.sortable, "id", "next_change"])),
                    "rankingRules": list(s.ranking_rules),
                    "displayedAttributes": ["id", "doc"],
                    "typoTolerance": {
                        "enabled": True,
                        "minWordSizeForTypos": {
                            "oneTypo": s.min_word_size_one_typo,
                            "twoTypos": s.min_word_size_two_typos,
                        },
                    },
                    "synonyms": {word: list(alts) for word, alts in s.synonyms},
                    "pagination": {"maxTotalHits": 10_000},
                    "faceting": {"maxValuesPerFacet": 200},
                }
            )
        )

    @property
    def _index(self) -> Any:
        return self.client.index(self.uid)

    # -- SearchEngine ----------------------------------------------------------------------

    def write(self, upserts: Sequence[TitleDoc], deletes: Sequence[str]) -> None:
        def run() -> None:
            if deletes:
                self._wait(self._index.delete_documents(list(deletes)))
            if upserts:
                self._wait(
                    self._index.add_documents([_document(d) for d in upserts], primary_key="id")
                )

        self._guard(run)

    def get(self, ids: Iterable[str]) -> dict[str, TitleDoc]:
        wanted = list(dict.fromkeys(ids))
        out: dict[str, TitleDoc] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found = self._guard(
                lambda c=chunk: self._index.search(
                    "",
                    {
                        "filter": _any_of("id", c),
                        "limit": len(c),
                        "attributesToRetrieve": ["doc"],
                    },
                )
            )
            for hit in found["hits"]:
                doc = TitleDoc.from_json(hit["doc"])
                out[doc.id] = doc
        return out

    def due(self, now_s: int, limit: int = 1000) -> list[str]:
        found = self._guard(
            lambda: self._index.search(
                "",
                {
                    "filter": f"next_change <= {int(now_s)}",
                    "limit": limit,
                    "attributesToRetrieve": ["id"],
                },
            )
        )
        return [hit["id"] for hit in found["hits"]]

    def next_change(self) -> int:
        found = self._guard(
            lambda: self._index.search(
                "",
                {
                    "sort": ["next_change:asc"],
                    "limit": 1,
                    "attributesToRetrieve": ["doc"],
                },
            )
        )
        if not found["hits"]:
            return NEVER
        return TitleDoc.from_json(found["hits"][0]["doc"]).next_change

    def correct(self, words: Sequence[str], filters: Filters) -> tuple[str, ...]:
        typed = tuple(words)
        if not typed:
            return typed
        conditions = _filter(filters)
        params: dict[str, Any] = {"limit": _CORRECTION_SAMPLE, "attributesToRetrieve": ["doc"]}
        if conditions:
            params["filter"] = " AND ".join(conditions)
        found: list[dict[str, Any]] = []
        for strategy in ("all", "last"):
            found = self._guard(
                lambda s=strategy: self._index.search(
                    " ".join(typed), {**params, "matchingStrategy": s}
                )
            )["hits"]
            if found:
                break
        counts: dict[str, int] = {}
        titles: set[tuple[str, ...]] = set()
        for hit in found:
            doc = TitleDoc.from_json(hit["doc"])
            titles.add(tuple(split_words(doc.display_name)))
            for term in set(" ".join(doc.text_fields().values()).split()):
                counts[term] = counts.get(term, 0) + 1
        out: list[str] = []
        last = len(typed) - 1
        for index, word in enumerate(typed):
            budget = typo_budget(word)
            parts = _unjoined(word, titles)
            if word in counts or (index == last and any(t.startswith(word) for t in counts)):
                out.append(word)
            elif parts:
                out.extend(parts)
            elif budget:
                near = [
                    (term, d, n)
                    for term, n in counts.items()
                    if abs(len(term) - len(word)) <= budget
                    and (d := osa_distance(term, word, budget)) <= budget
                ]
                out.append(best_correction(word, near))
            else:
                out.append(word)
        return tuple(out)

    def count(self) -> int:
        stats = self._guard(lambda: self._index.get_stats())
        return int(getattr(stats, "number_of_documents", 0))

    def search(self, query: EngineQuery) -> EngineResult:
        params: dict[str, Any] = {
            "offset": query.offset,
            "limit": max(1, query.limit),
            "attributesToRetrieve": ["doc"],
            "showRankingScore": True,
            "matchingStrategy": "all" if query.require_all else "last",
            "attributesToSearchOn": list(query.fields),
        }
        conditions = _filter(query.filters)
        if conditions:
            params["filter"] = " AND ".join(conditions)
        if query.sort in _SORTS:
            params["sort"] = _SORTS[query.sort]
        text = " ".join(query.words)
        queries = [{"indexUid": self.uid, "q": text, **params}]
        for facet in query.facets:
            facet_filter = _filter(query.filters.without(facet))
            facet_query: dict[str, Any] = {
                "indexUid": self.uid,
                "q": text,
                "limit": 0,
                "facets": [_FACET_ATTRIBUTES[facet]],
                "matchingStrategy": params["matchingStrategy"],
                "attributesToSearchOn": params["attributesToSearchOn"],
            }
            if facet_filter:
                facet_query["filter"] = " AND ".join(facet_filter)
            queries.append(facet_query)
        found = self._guard(lambda: self.client.multi_search(queries))["results"]
        main = found[0]
        hits = [
            (TitleDoc.from_json(h["doc"]), float(h.get("_rankingScore", 0.0))) for h in main["hits"]
        ]
        facets = {}
        for facet, result in zip(query.facets, found[1:], strict=True):
            counts = result.get("facetDistribution", {}).get(_FACET_ATTRIBUTES[facet], {})
            facets[facet] = sorted(
                ((str(v), int(n)) for v, n in counts.items()), key=lambda kv: (-kv[1], kv[0])
            )
        total = int(main.get("estimatedTotalHits", main.get("totalHits", len(hits))))
        return EngineResult(hits=hits, total=total, facets=facets, snapshot=None)

    def begin_rebuild(self) -> _Builder:
        return self._guard(lambda: _Builder(self))

    def close(self) -> None:
        pass
