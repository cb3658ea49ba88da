"""Item metadata and content features, derived from catalog titles.

Features are strings (``genre:Dramas``, ``person:Ava Berg``, ``country:United States``,
``era:2010s``, ``type:movie``, ``maturity:teen``) so the model, the fallback embeddings and the
offline evaluation share one vocabulary. No grpc here; catalog titles arrive as protobufs from
events and are flattened once into `ItemInfo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from vod.catalog.v1 import catalog_pb2 as cpb

__all__ = [
    "ItemInfo",
    "MATURITY_LEVELS",
    "item_from_title",
    "item_features",
    "maturity_level",
    "year_bucket",
]

# Levels: 1 kids, 2 family (PG), 3 teens, 4 adults. Unrated titles count as adult, the safe side.
MATURITY_LEVELS: dict[int, int] = {
    cpb.MATURITY_RATING_TV_Y: 1,
    cpb.MATURITY_RATING_TV_Y7: 1,
    cpb.MATURITY_RATING_TV_Y7_FV: 1,
    cpb.MATURITY_RATING_G: 1,
    cpb.MATURITY_RATING_TV_G: 1,
    cpb.MATURITY_RATING_PG: 2,
    cpb.MATURITY_RATING_TV_PG: 2,
    cpb.MATURITY_RATING_PG_13: 3,
    cpb.MATURITY_RATING_TV_14: 3,
    cpb.MATURITY_RATING_R: 4,
    cpb.MATURITY_RATING_TV_MA: 4,
    cpb.MATURITY_RATING_NC_17: 4,
    cpb.MATURITY_RATING_NOT_RATED: 4,
    cpb.MATURITY_RATING_UNSPECIFIED: 4,
}
_LEVEL_NAMES = {1: "kids", 2: "family", 3: "teen", 4: "adult"}
_TYPE_NAMES = {
    cpb.TITLE_TYPE_MOVIE: "movie",
    cpb.TITLE_TYPE_SERIES: "series",
    cpb.TITLE_TYPE_SEASON: "season",
    cpb.TITLE_TYPE_EPISODE: "episode",
}
_MAX_CAST = 6


def maturity_level(rating: int) -> int:
    """1 (kids) to 4 (adults) for a MaturityRating value."""
    return MATURITY_LEVELS.get(rating, 4)


def year_bucket(year: int) -> str:
    if year <= 0:
        return "era:unknown"
    if year < 1980:
        return "era:classic"
    if year < 2000:
        return f"era:{year // 10 * 10}s"
    return f"era:{year // 5 * 5}"


@dataclass(frozen=True, slots=True)
class ItemInfo:
    """What recommendations needs to know about a title."""

    name: str  # "titles/{title}"
    type: int
    display_name: str
    parent: str = ""
    genres: tuple[str, ...] = ()
    people: tuple[str, ...] = ()  # directors and creators, then the leading cast
    countries: tuple[str, ...] = ()
    year: int = 0
    maturity: int = cpb.MATURITY_RATING_UNSPECIFIED
    # (region, start, end) in epoch seconds; end is +inf when open-ended.
    availability: tuple[tuple[str, float, float], ...] = ()
    added_at: float = 0.0

    @property
    def is_root(self) -> bool:
        """Movies and series are recommended; seasons and episodes roll up to their series."""
        return self.type in (cpb.TITLE_TYPE_MOVIE, cpb.TITLE_TYPE_SERIES) or not self.parent

    @property
    def level(self) -> int:
        return maturity_level(self.maturity)

    def available_in(self, region: str, at: float) -> bool:
        return any(r == region and s <= at < e for r, s, e in self.availability)

    def added_in(self, region: str) -> float:
        """When the title became available in `region` (0 when never)."""
        starts = [s for r, s, _ in self.availability if r == region]
        return min(starts) if starts else 0.0


def _ts(ts: object) -> float:
    if ts is None or not ts.ByteSize():  # type: ignore[attr-defined]
        return 0.0
    return float(ts.ToDatetime(tzinfo=UTC).timestamp())  # type: ignore[attr-defined]


def item_from_title(title: cpb.Title) -> ItemInfo:
    directors = [
        c.person
        for c in title.credits
        if c.role in (cpb.CREDIT_ROLE_DIRECTOR, cpb.CREDIT_ROLE_CREATOR)
    ]
    cast = [c.person for c in title.credits if c.role == cpb.CREDIT_ROLE_ACTOR][:_MAX_CAST]
    windows = []
    for window in title.availability:
        end = _ts(window.end_time) if window.HasField("end_time") else float("inf")
        windows.append((window.region_code, _ts(window.start_time), end))
    added = (
        _ts(title.create_time) if title.HasField("create_time") else datetime.now(UTC).timestamp()
    )
    return ItemInfo(
        name=title.name,
        type=title.type,
        display_name=title.display_name,
        parent=title.parent,
        genres=tuple(dict.fromkeys(title.genres)),
        people=tuple(dict.fromkeys([*directors, *cast])),
        countries=tuple(title.countries),
        year=title.release_year,
        maturity=title.maturity_rating,
        availability=tuple(windows),
        added_at=added,
    )


def item_features(item: ItemInfo) -> list[str]:
    """The content features of an item (without its identity feature)."""
    features = [f"genre:{g}" for g in item.genres]
    features += [f"person:{p}" for p in item.people]
    features += [f"country:{c}" for c in item.countries[:3]]
    features.append(year_bucket(item.year))
    features.append(f"type:{_TYPE_NAMES.get(item.type, 'other')}")
    features.append(f"maturity:{_LEVEL_NAMES[item.level]}")
    return features
