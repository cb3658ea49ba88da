"""The search document of a title: what the index stores, built from a catalog `Title`.

Availability is time-dependent, so a document also carries what is true at indexing time: the
regions where a window is open (`open_regions`, with the start of that window) and `next_change`,
the next instant a window opens or closes. The indexer re-indexes documents whose `next_change`
has passed, so a region filter on the index is exact at query time.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC

from vod.catalog.v1 import catalog_pb2 as cpb

from services.search.text import index_text

__all__ = ["NEVER", "TitleDoc", "decade_of", "doc_from_title", "rating_label", "type_label"]

NEVER = 2**53  # "no scheduled change", in epoch seconds (fits every engine's integer type)

_ACTING = {cpb.CREDIT_ROLE_ACTOR}
_MAKING = {cpb.CREDIT_ROLE_DIRECTOR, cpb.CREDIT_ROLE_WRITER, cpb.CREDIT_ROLE_CREATOR}


def type_label(value: int) -> str:
    """TITLE_TYPE_MOVIE → "movie"."""
    name = (
        cpb.TitleType.Name(value) if value in cpb.TitleType.values() else "TITLE_TYPE_UNSPECIFIED"
    )
    return name.removeprefix("TITLE_TYPE_").lower() if value else ""


def rating_label(value: int) -> str:
    """MATURITY_RATING_PG_13 → "PG-13", MATURITY_RATING_NOT_RATED → "NR"."""
    if not value or value not in cpb.MaturityRating.values():
        return ""
    if value == cpb.MATURITY_RATING_NOT_RATED:
        return "NR"
    return cpb.MaturityRating.Name(value).removeprefix("MATURITY_RATING_").replace("_", "-")


def decade_of(year: int) -> str:
    return f"{year // 10 * 10}s" if year > 0 else ""


@dataclass(frozen=True)
class TitleDoc:
    id: str
    display_name: str
    type: str = ""
    release_year: int = 0
    maturity_rating: str = ""
    genres: tuple[str, ...] = ()
    cast: tuple[str, ...] = ()
    directors: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    synopsis: str = ""
    thumbnail_uri: str = ""
    windows: tuple[tuple[str, int, int], ...] = ()  # (region, start_s, end_s or NEVER)
    update_ns: int = 0
    popularity: float = 0.0
    # Derived at indexing time (see module doc):
    open_regions: tuple[tuple[str, int], ...] = ()  # (region, start of the open window)
    next_change: int = NEVER
    indexed_at: int = 0

    @property
    def name(self) -> str:
        return f"titles/{self.id}"

    @property
    def people(self) -> tuple[str, ...]:
        return (*self.cast, *self.directors)

    @property
    def decade(self) -> str:
        return decade_of(self.release_year)

    @property
    def region_codes(self) -> tuple[str, ...]:
        return tuple(region for region, _ in self.open_regions)

    @property
    def latest_start(self) -> int:
        return max((start for _, start in self.open_regions), default=0)

    def open_in(self, region: str) -> int | None:
        """Start of the window open in `region` at indexing time, or None."""
        for code, start in self.open_regions:
            if code == region:
                return start
        return None

    def at(self, now_s: int) -> TitleDoc:
        """This document with its availability evaluated at `now_s`."""
        open_regions: dict[str, int] = {}
        next_change = NEVER
        for region, start, end in self.windows:
            if start <= now_s < end:
                open_regions[region] = max(open_regions.get(region, 0), start)
                next_change = min(next_change, end)
            elif start > now_s:
                next_change = min(next_change, start)
        return replace(
            self,
            open_regions=tuple(sorted(open_regions.items())),
            next_change=next_change,
            indexed_at=now_s,
        )

    def with_popularity(self, popularity: float) -> TitleDoc:
        return replace(self, popularity=popularity)

    # -- what the engines index ---------------------------------------------------------------

    def text_fields(self) -> dict[str, str]:
        return {
            "title": index_text(self.display_name),
            "cast": index_text(*self.cast),
            "directors": index_text(*self.directors),
            "genres": index_text(*self.genres),
            "synopsis": index_text(self.synopsis),
        }

    def title_key(self) -> str:
        return index_text(self.display_name)

    def facet_values(self, facet: str) -> set[str]:
        """The values this document counts under `facet` (see `engine.FACETS`), as an engine
        indexes them for counting."""
        if facet == "genre":
            return set(self.genres)
        if facet == "country":
            return set(self.countries)
        if facet == "release_year":
            return {str(self.release_year)}
        one = {"type": self.type, "rating": self.maturity_rating, "decade": self.decade}
        value = one.get(facet, "")
        return {value} if value else set()

    def person_keys(self) -> list[str]:
        return sorted({" ".join(p.split()).casefold() for p in self.people})

    # -- serialisation (stored with the document so it can be re-derived without the catalog) -

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> TitleDoc:
        data = json.loads(raw)
        for key in ("genres", "cast", "directors", "countries"):
            data[key] = tuple(data.get(key, ()))
        data["windows"] = tuple(tuple(w) for w in data.get("windows", ()))
        data["open_regions"] = tuple(tuple(r) for r in data.get("open_regions", ()))
        return cls(**data)


def doc_from_title(title: cpb.Title) -> TitleDoc:
    """The document of a catalog title (availability not evaluated yet: call `.at(now)`)."""
    cast = tuple(dict.fromkeys(c.person for c in title.credits if c.role in _ACTING))
    makers = tuple(dict.fromkeys(c.person for c in title.credits if c.role in _MAKING))
    thumbnail = next(
        (a.uri for a in title.artwork if a.kind == cpb.ARTWORK_KIND_THUMBNAIL),
        title.artwork[0].uri if title.artwork else "",
    )
    windows = []
    for window in title.availability:
        start = int(window.start_time.ToDatetime(tzinfo=UTC).timestamp())
        end = (
            int(window.end_time.ToDatetime(tzinfo=UTC).timestamp())
            if window.HasField("end_time")
            else NEVER
        )
        windows.append((window.region_code, start, end))
    update_ns = title.update_time.ToNanoseconds() if title.HasField("update_time") else 0
    return TitleDoc(
        id=title.name.removeprefix("titles/"),
        display_name=title.display_name,
        type=type_label(title.type),
        release_year=title.release_year,
        maturity_rating=rating_label(title.maturity_rating),
        genres=tuple(title.genres),
        cast=cast,
        directors=makers,
        countries=tuple(title.countries),
        synopsis=title.synopsis,
        thumbnail_uri=thumbnail,
        windows=tuple(windows),
        update_ns=update_ns,
    )
