"""The embedded engine: Tantivy, persisted under the data directory and reloaded on start.

Layout: `<data_dir>/index-<generation>/` holds one index; `<data_dir>/CURRENT` names the live
generation (replaced atomically). A rebuild writes `index-<generation+1>` beside the live index
and swaps `CURRENT` when it is committed, so readers never see a partial index.

Page tokens carry the generation-and-commit snapshot they were issued for; the engine keeps the
searchers of the last few commits so later pages read the same snapshot (stable pagination
while the index changes underneath).
"""

from __future__ import annotations

import math
import os
import shutil
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import tantivy

from services.search.documents import NEVER, TitleDoc
from services.search.engine import (
    EXACT_TITLE_BOOST,
    FIELD_WEIGHTS,
    EngineQuery,
    EngineResult,
    Filters,
    Sort,
)
from services.search.text import typo_budget

__all__ = ["TantivyEngine"]

Q = tantivy.Query
_MUST = tantivy.Occur.Must
_SHOULD = tantivy.Occur.Should
_TOKENIZER = "folded"
_SNAPSHOTS_KEPT = 16
_FACET_FIELDS = {
    "type": "type",
    "genre": "genre",
    "release_year": "release_year",
    "rating": "rating",
    "country": "country",
    "decade": "decade",
}
_SORT_FIELDS = {
    Sort.POPULARITY: "popularity",
    Sort.RELEASE: "release_sort",
    Sort.AVAILABLE_SINCE: "available_since",
}


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw", fast=True)
    sb.add_bytes_field("doc", stored=True)
    for name in FIELD_WEIGHTS:
        sb.add_text_field(name, tokenizer_name=_TOKENIZER, index_option="freq")
    for name in ("title_key", "genre_key", "person_key", "country_key", "region"):
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic")
    for name in ("type", "genre", "rating", "country", "decade"):
        sb.add_text_field(name, tokenizer_name="raw", fast=True, index_option="basic")
    sb.add_integer_field("release_year", indexed=True, fast=True)
    sb.add_integer_field("next_change", indexed=True, fast=True)
    sb.add_integer_field("release_sort", fast=True)
    sb.add_integer_field("available_since", fast=True)
    sb.add_integer_field("popularity", fast=True)
    sb.add_float_field("pop_boost", fast=True)
    return sb.build()


def _analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace())
        .filter(tantivy.Filter.remove_long(64))
        .build()
    )


def _open(path: Path, schema: tantivy.Schema) -> tantivy.Index:
    path.mkdir(parents=True, exist_ok=True)
    index = tantivy.Index(schema, path=str(path), reuse=True)
    index.register_tokenizer(_TOKENIZER, _analyzer())
    return index


def _document(doc: TitleDoc) -> tantivy.Document:
    out = tantivy.Document()
    out.add_text("id", doc.id)
    out.add_bytes("doc", doc.to_json().encode())
    for name, text in doc.text_fields().items():
        if text:
            out.add_text(name, text)
    out.add_text("title_key", doc.title_key())
    for genre in doc.genres:
        out.add_text("genre", genre)
        out.add_text("genre_key", genre.casefold())
    for person in doc.person_keys():
        out.add_text("person_key", person)
    for country in doc.countries:
        out.add_text("country", country)
        out.add_text("country_key", country.casefold())
    for region in doc.region_codes:
        out.add_text("region", region)
    if doc.type:
        out.add_text("type", doc.type)
    if doc.maturity_rating:
        out.add_text("rating", doc.maturity_rating)
    if doc.decade:
        out.add_text("decade", doc.decade)
    out.add_integer("release_year", doc.release_year)
    out.add_integer("next_change", doc.next_change)
    # Sort keys end in 20 bits of a hash of the id, so ties are rare and resolve the same way
    # on every page.
    tie = zlib.crc32(doc.id.encode()) & 0xFFFFF
    day = min(max(doc.latest_start // 86400, 0), 0xFFFF)
    out.add_integer("release_sort", ((max(doc.release_year, 0) << 16 | day) << 20) | tie)
    out.add_integer("available_since", (max(doc.latest_start, 0) << 20) | tie)
    out.add_integer("popularity", (int(round(max(doc.popularity, 0.0) * 1000)) << 20) | tie)
    out.add_float("pop_boost", min(6.0, math.log1p(max(0.0, doc.popularity))))
    return out


class _Builder:
    def __init__(self, engine: TantivyEngine, generation: int) -> None:
        self._engine = engine
        self.generation = generation
        self.path = engine.data_dir / f"index-{generation}"
        shutil.rmtree(self.path, ignore_errors=True)
        self.index = _open(self.path, engine.schema)
        self.writer = self.index.writer(heap_size=engine.heap_size)

    def add(self, docs: Sequence[TitleDoc]) -> None:
        for doc in docs:
            self.writer.delete_documents_by_term("id", doc.id)
            self.writer.add_document(_document(doc))

    def delete(self, ids: Sequence[str]) -> None:
        for doc_id in ids:
            self.writer.delete_documents_by_term("id", doc_id)

    def swap(self) -> None:
        self.writer.commit()
        self._engine._install(self.generation, self.index, self.writer)

    def abort(self) -> None:
        self.writer.rollback()
        self.writer.wait_merging_threads()
        shutil.rmtree(self.path, ignore_errors=True)


class TantivyEngine:
    """A `SearchEngine` over an on-disk Tantivy index."""

    name = "tantivy"

    def __init__(self, data_dir: Path, *, heap_size: int = 64_000_000) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.heap_size = heap_size
        self.schema = _schema()
        self._lock = threading.RLock()
        self._commits = 0
        generation = self._current_generation()
        self._generation = generation
        self._index = _open(self.data_dir / f"index-{generation}", self.schema)
        self._writer: Any = self._index.writer(heap_size=heap_size)
        self._snapshots: OrderedDict[int, Any] = OrderedDict()
        self._refresh()
        self._drop_stale_generations()

    # -- lifecycle -------------------------------------------------------------------------

    def _current_generation(self) -> int:
        marker = self.data_dir / "CURRENT"
        try:
            return int(marker.read_text().strip())
        except (FileNotFoundError, ValueError):
            self._write_current(1)
            return 1

    def _write_current(self, generation: int) -> None:
        tmp = self.data_dir / "CURRENT.tmp"
        tmp.write_text(str(generation))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, self.data_dir / "CURRENT")

    def _drop_stale_generations(self) -> None:
        for child in self.data_dir.glob("index-*"):
            if child.name != f"index-{self._generation}":
                shutil.rmtree(child, ignore_errors=True)

    def _snapshot_id(self) -> int:
        return self._generation * 1_000_000_000 + self._commits

    def _refresh(self) -> None:
        self._index.reload()
        self._commits += 1
        self._snapshots[self._snapshot_id()] = self._index.searcher()
        while len(self._snapshots) > _SNAPSHOTS_KEPT:
            self._snapshots.popitem(last=False)

    def _searcher(self, snapshot: int | None = None) -> tuple[int, Any]:
        with self._lock:
            if snapshot is not None and snapshot in self._snapshots:
                return snapshot, self._snapshots[snapshot]
            current = next(reversed(self._snapshots))
            return current, self._snapshots[current]

    def _install(self, generation: int, index: Any, writer: Any) -> None:
        with self._lock:
            old_writer = self._writer
            self._index, self._writer, self._generation = index, writer, generation
            self._commits = 0
            self._refresh()
            self._write_current(generation)
        old_writer.rollback()
        old_writer.wait_merging_threads()
        self._drop_stale_generations()

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.wait_merging_threads()
                self._writer = None
            self._snapshots.clear()

    # -- writes ----------------------------------------------------------------------------

    def write(self, upserts: Sequence[TitleDoc], deletes: Sequence[str]) -> None:
        if not upserts and not deletes:
            return
        with self._lock:
            for doc_id in deletes:
                self._writer.delete_documents_by_term("id", doc_id)
            for doc in upserts:
                self._writer.delete_documents_by_term("id", doc.id)
                self._writer.add_document(_document(doc))
            self._writer.commit()
            self._refresh()

    def begin_rebuild(self) -> _Builder:
        with self._lock:
            return _Builder(self, self._generation + 1)

    # -- reads -----------------------------------------------------------------------------

    def count(self) -> int:
        return int(self._searcher()[1].num_docs)

    def get(self, ids: Iterable[str]) -> dict[str, TitleDoc]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        _, searcher = self._searcher()
        result = searcher.search(
            Q.term_set_query(self.schema, "id", wanted), len(wanted), count=False
        )
        docs = [self._load(searcher, address) for _, address in result.hits]
        return {doc.id: doc for doc in docs}

    def due(self, now_s: int, limit: int = 1000) -> list[str]:
        _, searcher = self._searcher()
        query = Q.range_query(self.schema, "next_change", tantivy.FieldType.Integer, None, now_s)
        result = searcher.search(query, limit, count=False)
        return [str(searcher.doc(address).get_first("id")) for _, address in result.hits]

    def next_change(self) -> int:
        _, searcher = self._searcher()
        if searcher.num_docs == 0:
            return NEVER
        found = searcher.aggregate(Q.all_query(), {"m": {"min": {"field": "next_change"}}})
        value = found.get("m", {}).get("value")
        return int(value) if value is not None else NEVER

    def search(self, query: EngineQuery) -> EngineResult:
        snapshot, searcher = self._searcher(query.snapshot)
        text = self._text_query(query)
        filters = self._filter_clauses(query.filters)
        full = self._combine(text, filters, query)
        ranked, total = self._ranked(searcher, full, query)
        hits = [(self._load(searcher, address), float(score)) for score, address in ranked]
        facets = {}
        for facet in query.facets:
            facet_query = self._combine(
                text, self._filter_clauses(query.filters.without(facet)), query
            )
            facets[facet] = self._facet(searcher, facet_query, facet)
        return EngineResult(hits=hits, total=total, facets=facets, snapshot=snapshot)

    def _ranked(self, searcher: Any, full: Any, query: EngineQuery) -> tuple[list[Any], int]:
        """The page of (key, address), ordered the same way every time for one snapshot.

        Tantivy breaks ties between equal keys arbitrarily (segments are searched in
        parallel), so this fetches past the page until the tie group at its end is complete,
        then orders ties by address, which is fixed within a snapshot."""
        end = query.offset + max(1, query.limit)
        fetch = end + 1
        while True:
            if query.sort is Sort.RELEVANCE and query.words:
                result = searcher.search(full, fetch, weight_by_field="pop_boost")
            else:
                result = searcher.search(
                    full,
                    fetch,
                    order_by_field=_SORT_FIELDS.get(query.sort, "popularity"),
                    order=tantivy.Order.Desc,
                )
            hits = result.hits
            if len(hits) < fetch or hits[-1][0] != hits[end - 1][0]:
                break
            fetch *= 2
        hits.sort(key=lambda h: (-h[0], h[1].segment_ord, h[1].doc))
        return hits[query.offset : end], int(result.count or 0)

    # -- query building ----------------------------------------------------------------------

    def _load(self, searcher: Any, address: Any) -> TitleDoc:
        return TitleDoc.from_json(searcher.doc(address).get_first("doc"))

    def _text_query(self, query: EngineQuery) -> Any | None:
        if not query.words:
            return None
        clauses = []
        last = len(query.words) - 1
        for index, word in enumerate(query.words):
            budget = typo_budget(word) if query.fuzzy else 0
            prefix = query.prefix_last and index == last
            alternatives = []
            for field in query.fields:
                weight = FIELD_WEIGHTS[field]
                alternatives.append(
                    (_SHOULD, Q.boost_query(Q.term_query(self.schema, field, word), weight))
                )
                if prefix or budget:
                    fuzzy = Q.fuzzy_term_query(
                        self.schema,
                        field,
                        word,
                        distance=budget,
                        transposition_cost_one=True,
                        prefix=prefix,
                    )
                    alternatives.append((_SHOULD, Q.boost_query(fuzzy, weight * 0.5)))
            clauses.append(Q.boolean_query(alternatives))
        if query.require_all:
            return Q.boolean_query([(_MUST, clause) for clause in clauses])
        return Q.boolean_query(
            [(_SHOULD, clause) for clause in clauses],
            minimum_number_should_match=max(1, query.min_words),
        )

    def _filter_clauses(self, filters: Filters) -> list[Any]:
        schema = self.schema
        out = []

        def const(q: Any) -> Any:
            return Q.const_score_query(q, 0.0)

        if filters.region:
            out.append(const(Q.term_query(schema, "region", filters.region)))
        if filters.types:
            out.append(const(Q.term_set_query(schema, "type", list(filters.types))))
        if filters.genres:
            out.append(const(Q.term_set_query(schema, "genre_key", list(filters.genres))))
        if filters.year_min or filters.year_max:
            out.append(
                const(
                    Q.range_query(
                        schema,
                        "release_year",
                        tantivy.FieldType.Integer,
                        filters.year_min or None,
                        filters.year_max or None,
                    )
                )
            )
        if filters.ratings:
            out.append(const(Q.term_set_query(schema, "rating", list(filters.ratings))))
        if filters.person:
            out.append(const(Q.term_query(schema, "person_key", filters.person)))
        if filters.country:
            out.append(const(Q.term_query(schema, "country_key", filters.country)))
        if filters.ids:
            out.append(const(Q.term_set_query(schema, "id", list(filters.ids))))
        return out

    def _combine(self, text: Any | None, filters: list[Any], query: EngineQuery) -> Any:
        clauses = [(_MUST, text if text is not None else Q.all_query())]
        clauses += [(_MUST, f) for f in filters]
        if text is not None:
            exact = Q.term_query(self.schema, "title_key", " ".join(query.words))
            clauses.append((_SHOULD, Q.boost_query(exact, EXACT_TITLE_BOOST)))
            for genre, boost in query.genre_boosts:
                clauses.append(
                    (
                        _SHOULD,
                        Q.const_score_query(Q.term_query(self.schema, "genre_key", genre), boost),
                    )
                )
        return Q.boolean_query(clauses)

    def _facet(self, searcher: Any, query: Any, facet: str) -> list[tuple[str, int]]:
        field = _FACET_FIELDS[facet]
        found = searcher.aggregate(query, {"f": {"terms": {"field": field, "size": 200}}})
        buckets = found.get("f", {}).get("buckets", [])
        values = [(_facet_key(b["key"]), int(b["doc_count"])) for b in buckets]
        return sorted(values, key=lambda kv: (-kv[1], kv[0]))


def _facet_key(key: Any) -> str:
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return str(key)
