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
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import tantivy

from services.runtime.logs import get_logger
from services.search.documents import NEVER, TitleDoc
from services.search.engine import (
    CLOSENESS,
    EXACT_TITLE_BOOST,
    FIELD_WEIGHTS,
    WHOLE_TITLE_BOOST,
    EngineQuery,
    EngineResult,
    Filters,
    Sort,
)
from services.search.text import (
    MAX_WORD_LEN,
    best_correction,
    joined_terms,
    osa_distance,
    typo_budget,
)

__all__ = ["TantivyEngine"]

_log = get_logger("search.tantivy")

Q = tantivy.Query
_MUST = tantivy.Occur.Must
_SHOULD = tantivy.Occur.Should
_TOKENIZER = "folded"
_SNAPSHOTS_KEPT = 16
# Bumped when the schema or what is indexed changes: an index of another version is re-indexed
# on open from the documents it stores (see `_migrate`).
SCHEMA_VERSION = "2"
# Title words written together ("strangerthings") match a little below the words themselves.
_JOINED_WEIGHT = FIELD_WEIGHTS["title"] * 0.9
# Queries of up to this many words also try each pair of adjacent words written together
# ("mind hunter" → "mindhunter").
_MAX_WORDS_TO_JOIN = 6
# entries remembered per snapshot (term lookups, corrections)
_MEMO_SIZE = 8192
# values returned per facet (the most frequent)
_FACET_SIZE = 200
# Two typos are looked for in titles and cast only: elsewhere noise, and costly to look for
# (title words written together included: a run-together title with two typos still meets the
# whole-title match, see `_title_clauses`).
_FIELD_MAX_TYPOS = {"directors": 1, "genres": 1, "synopsis": 1, "title_joined": 1}
# rank_boost (see `_rank_boost`) per title word fewer than _SHORT_TITLE_WORDS, and per unit of
# log1p(popularity) (capped at 6 units)
_SHORT_TITLE_WORDS = 12
_SHORT_TITLE_STEP = 4e-4
_POP_TIE_BREAK = 2e-4 / 6
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
    sb.add_text_field("title_joined", tokenizer_name=_TOKENIZER, index_option="basic")
    for name in ("title_key", "title_compact", "genre_key", "person_key", "country_key", "region"):
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic")
    for name in ("type", "genre", "rating", "country", "decade"):
        sb.add_text_field(name, tokenizer_name="raw", fast=True, index_option="basic")
    sb.add_integer_field("release_year", indexed=True, fast=True)
    sb.add_integer_field("next_change", indexed=True, fast=True)
    sb.add_integer_field("release_sort", fast=True)
    sb.add_integer_field("available_since", fast=True)
    sb.add_integer_field("popularity", fast=True)
    sb.add_float_field("rank_boost", fast=True)
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
    title_words = doc.title_key().split()
    out.add_text("title_key", doc.title_key())
    out.add_text("title_compact", "".join(title_words))
    joined = joined_terms(title_words)
    if joined:
        out.add_text("title_joined", " ".join(joined))
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
    out.add_float("rank_boost", _rank_boost(len(title_words), doc.popularity))
    return out


def _rank_boost(title_words: int, popularity: float) -> float:
    """What breaks ties of the text score: the engine multiplies a score by
    log2(2 + rank_boost), here at most 1.0033, less than any difference of closeness. A title
    one word shorter gains 0.03 % (shorter titles first among equally close matches), and
    popularity at most 0.014 %, less than one word of title length (it breaks the ties left)."""
    shortness = max(0, _SHORT_TITLE_WORDS - title_words) * _SHORT_TITLE_STEP
    return shortness + min(6.0, math.log1p(max(0.0, popularity))) * _POP_TIE_BREAK


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
        if self._schema_version() != SCHEMA_VERSION:
            generation = self._migrate(generation)
        self._generation = generation
        self._index = _open(self.data_dir / f"index-{generation}", self.schema)
        self._writer: Any = self._index.writer(heap_size=heap_size)
        self._snapshots: OrderedDict[int, Any] = OrderedDict()
        self._memo_lock = threading.Lock()
        self._memo: dict[Any, Any] = {}
        self._memo_snapshot = -1
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

    def _migrate(self, generation: int) -> int:
        """Re-index the documents of an index written by another version (they are stored
        whole) into a new generation with this schema; its generation."""
        old_path = self.data_dir / f"index-{generation}"
        docs: list[TitleDoc] = []
        if (old_path / "meta.json").exists():
            try:
                old = tantivy.Index.open(str(old_path))
                searcher = old.searcher()
                found = searcher.search(Q.all_query(), max(1, searcher.num_docs), count=False)
                docs = [self._load(searcher, address) for _, address in found.hits]
            except (ValueError, OSError, KeyError, TypeError) as error:
                _log.warning("search.index_unreadable", path=str(old_path), error=str(error))
            generation += 1
        path = self.data_dir / f"index-{generation}"
        shutil.rmtree(path, ignore_errors=True)
        index = _open(path, self.schema)
        writer = index.writer(heap_size=self.heap_size)
        for doc in docs:
            writer.add_document(_document(doc))
        writer.commit()
        writer.wait_merging_threads()
        self._write_current(generation)
        (self.data_dir / "SCHEMA").write_text(SCHEMA_VERSION)
        _log.info("search.index_migrated", generation=generation, documents=len(docs))
        return generation

    def _schema_version(self) -> str:
        try:
            return (self.data_dir / "SCHEMA").read_text().strip()
        except FileNotFoundError:
            return ""

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
        # Words the index holds as typed (in a searched field). They are matched as typed (and
        # as the typed prefix) only: the fuzzy alternatives, the joined readings of two known
        # words and the whole title with typos are what costs, and they only matter when the
        # typed words do not find anything together; then the query is run again with them.
        known = frozenset(
            w for w in query.words if self._knows(snapshot, searcher, query.fields, w)
        )
        text = self._text_query(query, known, strict=True)
        filters = self._filter_clauses(query.filters)
        full = self._combine(text, filters, query, known=known, strict=True)
        ranked, total = self._ranked(searcher, full, query)
        if total == 0 and known and query.fuzzy:
            text = self._text_query(query, known, strict=False)
            full = self._combine(text, filters, query, known=known, strict=False)
            ranked, total = self._ranked(searcher, full, query)
        page = ranked[query.offset : query.offset + max(1, query.limit)]
        hits = [(self._doc(snapshot, searcher, address), float(score)) for score, address in page]
        facets = {}
        if query.facets:
            # every match is in hand when there are few: count those (the documents of a page
            # are loaded anyway) rather than run the text query again to aggregate
            matches = [address for _, address in ranked] if total <= len(ranked) else None
            facets = self._facets(snapshot, searcher, text, query, total, matches)
        return EngineResult(hits=hits, total=total, facets=facets, snapshot=snapshot)

    def _facets(
        self,
        snapshot: int,
        searcher: Any,
        text: Any | None,
        query: EngineQuery,
        total: int,
        matches: list[Any] | None,
    ) -> dict[str, list[tuple[str, int]]]:
        """Counts of each requested facet over the matches, each ignoring its own filter
        (disjunctive facets). Facets whose filters end up the same share one aggregation
        pass; those of the search's own filters are counted over `matches` (the addresses of
        every match) when given."""
        groups: dict[Filters, list[str]] = {}
        for facet in query.facets:
            groups.setdefault(query.filters.without(facet), []).append(facet)
        out: dict[str, list[tuple[str, int]]] = {}
        for filters, names in groups.items():
            if filters == query.filters and matches is not None:
                docs = [self._doc(snapshot, searcher, address) for address in matches[:total]]
                for name in names:
                    counts = Counter(v for doc in docs for v in doc.facet_values(name))
                    values = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                    out[name] = values[:_FACET_SIZE]
                continue
            facet_query = self._combine(text, self._filter_clauses(filters), query, scored=False)
            spec = {
                name: {"terms": {"field": _FACET_FIELDS[name], "size": _FACET_SIZE}}
                for name in names
            }
            found = searcher.aggregate(facet_query, spec)
            for name in names:
                buckets = found.get(name, {}).get("buckets", [])
                values = [(_facet_key(b["key"]), int(b["doc_count"])) for b in buckets]
                out[name] = sorted(values, key=lambda kv: (-kv[1], kv[0]))
        return {facet: out[facet] for facet in query.facets}

    def _knows(self, snapshot: int, searcher: Any, fields: Sequence[str], word: str) -> bool:
        """Whether a document of the snapshot holds `word` as typed in one of `fields`."""
        key = ("knows", tuple(fields), word)
        found = self._memo_get(snapshot, key)
        if found is None:
            found = any(searcher.doc_freq(f, word) for f in fields)
            self._memo_put(snapshot, key, found)
        return bool(found)

    def _memo_get(self, snapshot: int, key: Any) -> Any:
        with self._memo_lock:
            if self._memo_snapshot != snapshot:
                return None
            return self._memo.get(key)

    def _memo_put(self, snapshot: int, key: Any, value: Any) -> None:
        """Remember what one snapshot answered (term lookups, corrections): a snapshot never
        changes, and a write makes a new one, which starts afresh."""
        with self._memo_lock:
            if self._memo_snapshot != snapshot:
                if snapshot < self._memo_snapshot:
                    return  # an older snapshot (a later page): not worth evicting the current
                self._memo_snapshot = snapshot
                self._memo.clear()
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.pop(next(iter(self._memo)))
            self._memo[key] = value

    def _ranked(self, searcher: Any, full: Any, query: EngineQuery) -> tuple[list[Any], int]:
        """(key, address) up to the end of the page (at least 64 of them when there are),
        ordered the same way every time for one snapshot, and how many match.

        Tantivy breaks ties between equal keys arbitrarily (segments are searched in
        parallel), so this fetches past the page until the tie group at its end is complete,
        then orders ties by address, which is fixed within a snapshot."""
        end = query.offset + max(1, query.limit)
        fetch = max(end + 1, 64)
        while True:
            if query.sort is Sort.RELEVANCE and query.words:
                result = searcher.search(full, fetch, weight_by_field="rank_boost")
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
            fetch *= 4
        hits.sort(key=lambda h: (-h[0], h[1].segment_ord, h[1].doc))
        return hits, int(result.count or 0)

    # -- query building ----------------------------------------------------------------------

    def _load(self, searcher: Any, address: Any) -> TitleDoc:
        return TitleDoc.from_json(searcher.doc(address).get_first("doc"))

    def _doc(self, snapshot: int, searcher: Any, address: Any) -> TitleDoc:
        """The document at `address` of the snapshot (remembered: decoding costs more than
        the search of a common word)."""
        key = ("doc", address.segment_ord, address.doc)
        doc = self._memo_get(snapshot, key)
        if doc is None:
            doc = self._load(searcher, address)
            self._memo_put(snapshot, key, doc)
        return cast(TitleDoc, doc)

    def _word_clause(
        self, word: str, fields: Sequence[str], *, fuzzy: bool, prefix: bool, max_typos: int = 2
    ) -> Any:
        """What one query word earns: its best match over the fields (field weight times how
        close the match is, see CLOSENESS)."""
        budget = min(typo_budget(word), max_typos) if fuzzy else 0
        targets = [(field, FIELD_WEIGHTS[field]) for field in fields]
        if "title" in fields:
            targets.append(("title_joined", _JOINED_WEIGHT))
        alternatives = []
        for field, weight in targets:
            term = Q.term_query(self.schema, field, word)
            alternatives.append(Q.const_score_query(term, weight * CLOSENESS[0, False]))
            # Levels: the typed prefix (last word), then 1 and 2 typos (see _FIELD_MAX_TYPOS).
            top = min(budget, _FIELD_MAX_TYPOS.get(field, 2))
            for distance in range(0 if prefix else 1, top + 1):
                # a prefix with two typos matches too much (and costs the most to look for)
                as_prefix = prefix and distance < 2
                fuzzy_query = Q.fuzzy_term_query(
                    self.schema,
                    field,
                    word,
                    distance=distance,
                    transposition_cost_one=True,
                    prefix=as_prefix,
                )
                score = weight * CLOSENESS[distance, as_prefix]
                alternatives.append(Q.const_score_query(fuzzy_query, score))
        return Q.disjunction_max_query(alternatives)

    def _text_query(
        self, query: EngineQuery, known: frozenset[str] = frozenset(), *, strict: bool = False
    ) -> Any | None:
        """Every word matched (or `min_words` of them), each earning its best match. `known`
        words are words of the index: one typo at most, none when `strict`."""
        if not query.words:
            return None
        words = query.words
        last = len(words) - 1
        known_typos = 0 if strict else 1

        def clause(word: str, prefix: bool) -> Any:
            return self._word_clause(
                word,
                query.fields,
                fuzzy=query.fuzzy,
                prefix=prefix and query.prefix_last,
                max_typos=known_typos if word in known else 2,
            )

        clauses = [clause(word, index == last) for index, word in enumerate(words)]
        if not query.require_all:
            return Q.boolean_query(
                [(_SHOULD, c) for c in clauses],
                minimum_number_should_match=max(1, query.min_words),
            )
        every = Q.boolean_query([(_MUST, c) for c in clauses])
        if "title" not in query.fields or not 2 <= len(words) <= _MAX_WORDS_TO_JOIN:
            return every
        # A title word typed with a space inside ("mind hunter"): the same words with one
        # adjacent pair written together, matched in titles, is another way to match them all.
        readings = [(_SHOULD, every)]
        for pair in range(last):
            joined = (words[pair] + words[pair + 1])[:MAX_WORD_LEN]
            both_known = words[pair] in known and words[pair + 1] in known
            in_title = self._word_clause(
                joined,
                ("title",),
                fuzzy=query.fuzzy,
                prefix=query.prefix_last and pair + 1 == last,
                max_typos=known_typos if both_known else 1,
            )
            parts = [*clauses[:pair], in_title, *clauses[pair + 2 :]]
            readings.append((_SHOULD, Q.boolean_query([(_MUST, c) for c in parts])))
        return Q.boolean_query(readings)

    def _title_clauses(self, query: EngineQuery, *, typos: bool = True) -> list[Any]:
        """Score of the title as a whole: typed whole or its beginning typed (spaces aside,
        typos allowed unless not `typos`). (Shorter titles first is a tie-break: see
        `_rank_boost`.)"""
        if "title" not in query.fields:
            return []
        compact = "".join(query.words)[: MAX_WORD_LEN * 2]
        # no more typos in the whole than its words tolerate ("jakie chan": 1, not 2)
        budget = min(typo_budget(compact), 2, sum(map(typo_budget, query.words)))
        budget = budget if query.fuzzy and typos else 0
        out = [
            Q.const_score_query(
                Q.term_query(self.schema, "title_compact", compact), WHOLE_TITLE_BOOST
            )
        ]
        if query.prefix_last:
            # the title's beginning typed (no typos: every title is its own term here, and
            # looking for prefixes with typos among them all costs too much)
            begins = Q.fuzzy_term_query(
                self.schema, "title_compact", compact, distance=0, prefix=True
            )
            out.append(Q.const_score_query(begins, WHOLE_TITLE_BOOST * CLOSENESS[0, True]))
        for distance in range(1, budget + 1):
            near = Q.fuzzy_term_query(
                self.schema,
                "title_compact",
                compact,
                distance=distance,
                transposition_cost_one=True,
            )
            out.append(Q.const_score_query(near, WHOLE_TITLE_BOOST * CLOSENESS[distance, False]))
        return [Q.disjunction_max_query(out)]

    # -- did you mean --------------------------------------------------------------------------

    def correct(self, words: Sequence[str], filters: Filters) -> tuple[str, ...]:
        words = tuple(words)
        if not words:
            return words
        snapshot, searcher = self._searcher()
        key = ("correct", words, filters)
        found = self._memo_get(snapshot, key)
        if found is None:
            found = self._correct(searcher, words, filters)
            self._memo_put(snapshot, key, found)
        return cast(tuple[str, ...], found)

    def _correct(self, searcher: Any, words: tuple[str, ...], filters: Filters) -> tuple[str, ...]:
        fields = tuple(FIELD_WEIGHTS)
        region = self._filter_clauses(filters)
        last = len(words) - 1
        known = [any(searcher.doc_freq(f, w) for f in fields) for w in words]

        def found(i: int, w: str) -> Any:
            """Documents where query word `i` is: the word itself when the index knows it
            (cheap), else what the search would match it to."""
            if known[i]:
                terms = [(_SHOULD, Q.term_query(self.schema, f, w)) for f in fields]
                return Q.boolean_query(terms)
            return self._word_clause(w, fields, fuzzy=True, prefix=i == last)

        if all(known) and (
            len(words) == 1
            or self._with(searcher, [found(i, w) for i, w in enumerate(words)] + region)
        ):
            return words  # every word is a word of the index, and they occur together

        out: list[str] = []
        for index, word in enumerate(words):
            budget = min(typo_budget(word), 2)
            others = [found(i, w) for i, w in enumerate(words) if i != index]
            if known[index]:
                # A real word, yet maybe not the one meant: "micheal" is somebody's name, but
                # not with "caine".
                if (
                    not budget
                    or not others
                    or self._with(searcher, [found(index, word), *others, *region])
                ):
                    out.append(word)
                    continue
            elif index == last and any(
                searcher.terms_with_prefix(f, word, limit=1) for f in fields
            ):
                out.append(word)  # the typed beginning of a word
                continue
            elif searcher.doc_freq("title_joined", word):
                out.extend(self._split(searcher, word))
                continue
            if not budget:
                out.append(word)
                continue
            candidates: list[tuple[str, int, int]] = []
            for scope in (others + region, region) if others else (region,):
                candidates = self._near_terms(searcher, word, budget, scope, fields)
                if any(count > 0 for _, _, count in candidates):
                    break
            out.append(best_correction(word, candidates))
        return tuple(out)

    def _with(self, searcher: Any, scope: list[Any]) -> bool:
        """Whether a document matches every query of `scope`."""
        query = Q.boolean_query([(_MUST, q) for q in scope])
        return bool(searcher.search(query, 1, count=False).hits)

    def _near_terms(
        self, searcher: Any, word: str, budget: int, scope: list[Any], fields: Sequence[str]
    ) -> list[tuple[str, int, int]]:
        """(term, distance, documents in scope) of the terms within `budget` of `word`. Terms
        share the word's first letter (or its second, when none does: a typo up front); only
        the documents holding such a term are walked."""
        found: dict[str, tuple[int, int]] = {}
        for head in dict.fromkeys(word[:2]):
            for field in fields:
                near = Q.fuzzy_term_query(
                    self.schema, field, word, distance=budget, transposition_cost_one=True
                )
                within = Q.boolean_query([(_MUST, q) for q in [near, *scope]])
                for term, count in searcher.terms_with_prefix(field, head, filter_query=within):
                    if abs(len(term) - len(word)) > budget or count <= 0:
                        continue
                    distance = osa_distance(term, word, budget)
                    if distance <= budget:
                        seen = found.get(term, (distance, 0))
                        found[term] = (distance, max(seen[1], int(count)))
            if found:
                break
        return [(term, distance, count) for term, (distance, count) in found.items()]

    def _split(self, searcher: Any, word: str) -> list[str]:
        """A title bigram or trigram written together, split back into its title words."""

        def known(part: str) -> bool:
            return bool(searcher.doc_freq("title", part))

        splits = [[word[:cut], word[cut:]] for cut in range(1, len(word))] + [
            [word[:first], word[first:second], word[second:]]
            for first in range(1, len(word) - 1)
            for second in range(first + 1, len(word))
        ]
        known_splits = [parts for parts in splits if all(known(p) for p in parts)]
        if known_splits:
            # fewest words, then the most even (no one-letter words carved off)
            return max(known_splits, key=lambda parts: (-len(parts), min(map(len, parts))))
        return [word]

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

    def _combine(
        self,
        text: Any | None,
        filters: list[Any],
        query: EngineQuery,
        *,
        scored: bool = True,
        known: frozenset[str] = frozenset(),
        strict: bool = False,
    ) -> Any:
        """The text query within the filters, plus the boosts when the order matters (facet
        counts only need what matches). The whole title is looked for with typos unless
        `strict` and every word is a word of the index (`known`)."""
        clauses = [(_MUST, text if text is not None else Q.all_query())]
        clauses += [(_MUST, f) for f in filters]
        if text is not None and scored:
            exact = Q.term_query(self.schema, "title_key", " ".join(query.words))
            clauses.append((_SHOULD, Q.const_score_query(exact, EXACT_TITLE_BOOST)))
            typos = not strict or not known.issuperset(query.words)
            clauses += [(_SHOULD, q) for q in self._title_clauses(query, typos=typos)]
            for genre, boost in query.genre_boosts:
                clauses.append(
                    (
                        _SHOULD,
                        Q.const_score_query(Q.term_query(self.schema, "genre_key", genre), boost),
                    )
                )
        return Q.boolean_query(clauses)


def _facet_key(key: Any) -> str:
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return str(key)
