"""Demo content the project generates itself (no download): a small, deterministic catalog of
movies and series with seasons and episodes, seeded by `vod up` through the CatalogService API.
Seeding twice is harmless (fixed ids; ALREADY_EXISTS is skipped)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import grpc
from vod.catalog.v1 import catalog_pb2 as pb
from vod.catalog.v1 import catalog_pb2_grpc

__all__ = ["demo_titles", "seed_demo"]

_ADJECTIVES = [
    "Silent",
    "Crimson",
    "Hidden",
    "Last",
    "Electric",
    "Northern",
    "Broken",
    "Golden",
    "Midnight",
    "Wild",
    "Distant",
    "Paper",
    "Iron",
    "Quiet",
    "Burning",
]
_NOUNS = [
    "Harbor",
    "Signal",
    "Garden",
    "Frontier",
    "Orbit",
    "Letters",
    "Kingdom",
    "Tide",
    "Machine",
    "River",
    "Archive",
    "Summer",
    "Echo",
    "Lantern",
    "Crossing",
]
_GENRES = [
    "Dramas",
    "Comedies",
    "Thrillers",
    "Documentaries",
    "Sci-Fi & Fantasy",
    "Action & Adventure",
    "Romantic Movies",
    "International TV Shows",
    "Kids' TV",
]
_FIRST = ["Ana", "Kenji", "Lena", "Omar", "Priya", "Tom", "Chloe", "Mateo", "Yara", "Ivan"]
_LAST = ["Costa", "Sato", "Berg", "Haddad", "Rao", "Walsh", "Moreau", "Ruiz", "Nasser", "Petrov"]
_REGIONS = ["US", "GB", "DE", "FR", "JP", "BR", "IN", "KR"]
_RATINGS = [
    pb.MATURITY_RATING_PG,
    pb.MATURITY_RATING_PG_13,
    pb.MATURITY_RATING_R,
    pb.MATURITY_RATING_TV_14,
    pb.MATURITY_RATING_TV_MA,
    pb.MATURITY_RATING_TV_G,
]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def _base(rng: random.Random, kind: int, name: str, slug: str) -> pb.Title:
    title = pb.Title(
        type=kind,
        display_name=name,
        synopsis=f"{name}: a generated demo title for vodmesh.",
        release_year=rng.randint(1995, 2026),
        maturity_rating=rng.choice(_RATINGS),
        genres=rng.sample(_GENRES, 2),
        countries=["United States"],
        external_id=f"demo:{slug}",
    )
    title.credits.add(person=_person(rng), role=pb.CREDIT_ROLE_DIRECTOR)
    for _ in range(3):
        title.credits.add(person=_person(rng), role=pb.CREDIT_ROLE_ACTOR)
    title.artwork.add(kind=pb.ARTWORK_KIND_POSTER, uri=f"https://img.vodmesh.dev/{slug}/poster.jpg")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for region in rng.sample(_REGIONS, rng.randint(2, len(_REGIONS))):
        title.availability.add(region_code=region).start_time.FromDatetime(start)
    return title


def demo_titles(movies: int = 24, series: int = 4, seed: int = 7) -> Iterator[tuple[str, pb.Title]]:
    """(title_id, title) in creation order: parents before their children."""
    rng = random.Random(seed)
    for i in range(movies):
        name = f"The {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
        slug = f"demo-movie-{i + 1:02d}"
        title = _base(rng, pb.TITLE_TYPE_MOVIE, name, slug)
        title.duration_seconds = rng.randint(80, 150) * 60
        yield slug, title
    for s in range(series):
        name = f"{rng.choice(_NOUNS)} {rng.choice(['Chronicles', 'Stories', 'Files', 'Diaries'])}"
        slug = f"demo-series-{s + 1:02d}"
        yield slug, _base(rng, pb.TITLE_TYPE_SERIES, name, slug)
        for season_number in (1, 2):
            season_slug = f"{slug}-s{season_number}"
            season = pb.Title(
                type=pb.TITLE_TYPE_SEASON,
                display_name=f"Season {season_number}",
                parent=f"titles/{slug}",
                number=season_number,
            )
            yield season_slug, season
            for episode_number in range(1, 5):
                yield (
                    f"{season_slug}e{episode_number}",
                    pb.Title(
                        type=pb.TITLE_TYPE_EPISODE,
                        display_name=f"Episode {episode_number}",
                        parent=f"titles/{season_slug}",
                        number=episode_number,
                        duration_seconds=rng.randint(22, 55) * 60,
                    ),
                )


async def seed_demo(
    stub: catalog_pb2_grpc.CatalogServiceStub, *, timeout_s: float = 10.0
) -> tuple[int, int]:
    """Create the demo titles; returns (created, already present)."""
    created = existing = 0
    for title_id, title in demo_titles():
        try:
            await stub.CreateTitle(
                pb.CreateTitleRequest(title=title, title_id=title_id), timeout=timeout_s
            )
            created += 1
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
            existing += 1
    return created, existing
