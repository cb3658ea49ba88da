"""The `SearchEngine` port: what the domain needs from a full-text engine, and the engine-neutral
query and result types. Implementations: `TantivyEngine` (embedded) and `MeiliEngine`.

Engines receive pre-folded words (see `text.py`), never raw user text, and build their queries
from them programmatically, so nothing a user types is interpreted as query syntax.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from services.search.documents import TitleDoc

__all__ = [
    "CLOSENESS",
    "FACETS",
    "FIELD_WEIGHTS",
    "EngineQuery",
    "EngineResult",
    "Filters",
    "IndexBuilder",
    "SearchEngine",
    "Sort",
]

# Field weights of the text match: a title match beats a cast match beats a synopsis match.
FIELD_WEIGHTS: dict[str, float] = {
    "title": 8.0,
    "cast": 4.0,
    "directors": 3.0,
    "genres": 2.0,
    "synopsis": 1.0,
}

# Facet names (engine attributes) in the order of the proto's FacetField values 1..6.
FACETS = ("type", "genre", "release_year", "rating", "country", "decade")

# Added to an exact title match so that popularity and preferences never bury it.
EXACT_TITLE_BOOST = 10_000.0

# How much of a field's weight a query word earns, by how closely it matched a word of the
# field: exactly, as the typed prefix of a longer word (last word only), with 1 or 2 typos.
# A word earns its best match only, so every fuzzy match no longer scores the same.
CLOSENESS: dict[tuple[int, bool], float] = {
    (0, False): 1.0,
    (0, True): 0.8,
    (1, False): 0.55,
    (1, True): 0.45,
    (2, False): 0.3,
    (2, True): 0.25,
}

# Added when the whole title is what was typed, spaces aside ("strangerthings", "mind hunter")
# and typos allowed, times the closeness of that match: beats a longer title containing the
# same words.
WHOLE_TITLE_BOOST = 40.0


class Sort(Enum):
    RELEVANCE = "relevance"
    POPULARITY = "popularity"
    RELEASE = "release"
    AVAILABLE_SINCE = "available_since"  # newest window start first (new releases)


@dataclass(frozen=True)
class Filters:
    """All filters AND together; values of one filter OR together. Keys are folded/exact as
    documented per field. `region` is always set by the domain (region hiding)."""

    region: str = ""
    types: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()  # case-folded
    year_min: int = 0
    year_max: int = 0
    ratings: tuple[str, ...] = ()
    person: str = ""  # case-folded, whitespace-normalised full name
    country: str = ""  # case-folded
    ids: tuple[str, ...] = ()  # only these documents

    def without(self, facet: str) -> Filters:
        """These filters minus the one on `facet` (for disjunctive facet counts)."""
        by_facet: dict[str, dict[str, Any]] = {
            "type": {"types": ()},
            "genre": {"genres": ()},
            "release_year": {"year_min": 0, "year_max": 0},
            "decade": {"year_min": 0, "year_max": 0},
            "rating": {"ratings": ()},
            "country": {"country": ""},
        }
        changes = by_facet.get(facet, {})
        return Filters(**{**self.__dict__, **changes})  # type: ignore[arg-type]


@dataclass(frozen=True)
class EngineQuery:
    words: tuple[str, ...] = ()
    prefix_last: bool = True
    fuzzy: bool = True
    require_all: bool = True
    min_words: int = 0  # when > 0 (and not require_all): how many of the words must match
    fields: tuple[str, ...] = tuple(FIELD_WEIGHTS)
    filters: Filters = field(default_factory=Filters)
    facets: tuple[str, ...] = ()
    sort: Sort = Sort.RELEVANCE
    offset: int = 0
    limit: int = 20
    genre_boosts: tuple[tuple[str, float], ...] = ()  # (folded genre, additive boost)
    snapshot: int | None = None  # engine generation a page token was issued for


@dataclass
class EngineResult:
    hits: list[tuple[TitleDoc, float]]
    total: int
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    snapshot: int | None = None


class IndexBuilder(Protocol):
    """A new index being built beside the live one."""

    def add(self, docs: Sequence[TitleDoc]) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def swap(self) -> None:
        """Make the new index the live one (atomic for readers), dropping the old one."""

    def abort(self) -> None: ...


class SearchEngine(Protocol):
    """A title index. Methods are blocking; the domain runs them in a worker thread."""

    name: str

    def write(self, upserts: Sequence[TitleDoc], deletes: Sequence[str]) -> None:
        """Apply upserts (replace by id) and deletes, durable when this returns."""

    def get(self, ids: Iterable[str]) -> dict[str, TitleDoc]: ...

    def search(self, query: EngineQuery) -> EngineResult: ...

    def correct(self, words: Sequence[str], filters: Filters) -> tuple[str, ...]:
        """The query as the user most likely meant it ("did you mean"): each word the index
        does not know replaced by the word within its typo budget that occurs with the other
        query words in documents passing `filters` (then the closest, then the most frequent);
        a word written without its spaces split back into title words. Returns `words`
        unchanged when nothing needs correcting."""

    def due(self, now_s: int, limit: int = 1000) -> list[str]:
        """Ids of documents whose `next_change` is at or before `now_s`."""

    def next_change(self) -> int:
        """The earliest `next_change` of any document (NEVER when none)."""

    def count(self) -> int: ...

    def begin_rebuild(self) -> IndexBuilder: ...

    def close(self) -> None: ...
