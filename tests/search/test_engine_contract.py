"""The `SearchEngine` contract, run against every engine: Tantivy always, Meilisearch when
VOD_MEILI_URL points at a server (skipped, saying so, otherwise)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.search.config import MeiliSettings
from services.search.documents import NEVER, TitleDoc
from services.search.engine import EngineQuery, Filters, SearchEngine, Sort
from services.search.text import words

NOW = 1_700_000_000


def doc(i: str, name: str, **kw: object) -> TitleDoc:
    base = dict(
        id=i,
        display_name=name,
        type="movie",
        release_year=2000,
        genres=("Dramas",),
        windows=(("US", 0, NEVER),),
    )
    base.update(kw)
    return TitleDoc(**base).at(NOW)  # type: ignore[arg-type]


DOCS = [
    doc(
        "st",
        "Stranger Things",
        type="series",
        release_year=2016,
        genres=("TV Horror",),
        cast=("Winona Ryder",),
        synopsis="A boy vanishes in a small town.",
    ),
    doc("sd", "Strange Days", release_year=1995, genres=("Action",), cast=("Ralph Fiennes",)),
    doc(
        "tc",
        "The Crown",
        type="series",
        release_year=2016,
        cast=("Claire Foy",),
        synopsis="Stranger things happen at the palace.",
        popularity=50.0,
    ),
    doc(
        "fr",
        "Amélie",
        release_year=2001,
        genres=("Romantic Movies",),
        windows=(("FR", 0, NEVER),),
        countries=("France",),
    ),
    doc("old", "Closed Window", windows=(("US", 0, NOW - 10),)),
]


def tantivy_engine(tmp: Path) -> SearchEngine:
    from services.search.tantivy_engine import TantivyEngine

    return TantivyEngine(tmp / "tantivy")


def meili_engine(tmp: Path) -> SearchEngine:
    url = os.environ.get("VOD_MEILI_URL", "")
    if not url:
        pytest.skip("VOD_MEILI_URL is not set: no Meilisearch server to run the contract against")
    from services.search.meili_engine import MeiliEngine

    return MeiliEngine(
        MeiliSettings(
            url=url,
            api_key=os.environ.get("VOD_MEILI_API_KEY", ""),
            index=f"contract_{uuid.uuid4().hex[:8]}",
        )
    )


@pytest.fixture(params=[tantivy_engine, meili_engine], ids=["tantivy", "meilisearch"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchEngine]:
    instance = request.param(tmp_path)
    instance.write(DOCS, [])
    yield instance
    instance.close()


def ids(engine: SearchEngine, text: str = "", **kw: object) -> list[str]:
    filters = kw.pop("filters", Filters(region="US"))
    query = EngineQuery(words=tuple(words(text)), filters=filters, **kw)  # type: ignore[arg-type]
    return [d.id for d, _ in engine.search(query).hits]


def test_typos_prefixes_and_field_weights(engine: SearchEngine) -> None:
    assert ids(engine, "stranger things")[0] == "st"  # title beats the synopsis of "tc"
    assert ids(engine, "strnger thigns")[0] == "st"  # one typo per 5+ letter word
    assert ids(engine, "stranger thi")[0] == "st"  # prefix on the last word
    assert "st" not in ids(engine, "strangr thingz xyzq")  # every word must match
    assert ids(engine, "winona rider") == ["st"]  # cast, with a typo
    assert ids(engine, "crwn") == []  # 4 letters: no typo allowed


def test_closer_matches_rank_higher_and_joined_words_match(engine: SearchEngine) -> None:
    # "strange" is a word of "Strange Days" and one letter off "stranger": the exact word wins
    assert ids(engine, "strange days")[0] == "sd"
    assert ids(engine, "strange")[0] == "sd"
    # a title typed without its space, or a one-word title typed with one
    assert ids(engine, "strangerthings")[0] == "st"
    engine.write([doc("mh", "Mindhunter", type="series")], [])
    assert ids(engine, "mind hunter")[0] == "mh"


def test_corrections_are_words_found_with_the_other_words(engine: SearchEngine) -> None:
    us = Filters(region="US")
    assert engine.correct(("winona", "rider"), us) == ("winona", "ryder")
    assert engine.correct(("stranger", "thigns"), us) == ("stranger", "things")
    assert engine.correct(("strangerthings",), us) == ("stranger", "things")
    assert engine.correct(("stranger", "things"), us) == ("stranger", "things")
    assert engine.correct(("stranger", "thi"), us) == ("stranger", "thi")  # a typed prefix
    assert engine.correct((), us) == ()
    # "amelie" is only open in France: in the US there is nothing to correct it to
    assert engine.correct(("amelei",), us) == ("amelei",)
    assert engine.correct(("amelei",), Filters(region="FR")) == ("amelie",)


def test_exact_title_beats_popularity(engine: SearchEngine) -> None:
    # "The Crown" is far more popular and mentions "stranger things", yet the exact title wins
    assert ids(engine, "stranger things", sort=Sort.RELEVANCE)[:2] == ["st", "tc"]


def test_region_hiding_and_filters(engine: SearchEngine) -> None:
    assert "fr" not in ids(engine, "amelie") and "old" not in ids(engine, "closed window")
    assert ids(engine, "amelie", filters=Filters(region="FR")) == ["fr"]
    assert set(ids(engine, filters=Filters(region="US", types=("series",)))) == {"st", "tc"}
    assert ids(engine, filters=Filters(region="US", year_min=1990, year_max=1999)) == ["sd"]
    assert ids(engine, filters=Filters(region="US", person="claire foy")) == ["tc"]
    assert ids(engine, filters=Filters(region="FR", country="france")) == ["fr"]


def test_facets_sort_pagination_and_writes(engine: SearchEngine) -> None:
    result = engine.search(
        EngineQuery(filters=Filters(region="US", types=("series",)), facets=("type", "decade"))
    )
    facets = {k: dict(v) for k, v in result.facets.items()}
    assert facets["type"] == {"series": 2, "movie": 1} and facets["decade"] == {"2010s": 2}
    assert (
        ids(engine, sort=Sort.RELEASE) == ["st", "tc", "sd"]
        or ids(engine, sort=Sort.RELEASE)[2] == "sd"
    )
    assert ids(engine, sort=Sort.POPULARITY)[0] == "tc"
    pages = ids(engine, limit=2, offset=0) + ids(engine, limit=2, offset=2)
    assert sorted(pages) == ["sd", "st", "tc"]
    engine.write([doc("sd", "Strange Nights", release_year=1995)], ["tc"])
    assert ids(engine, "strange nights") == ["sd"] and "tc" not in ids(engine)
    assert engine.get(["sd", "nope"])["sd"].display_name == "Strange Nights"
    engine.write([doc("soon", "Closing Soon", windows=(("US", 0, NOW + 100),))], [])
    assert engine.due(NOW) == [] and engine.next_change() == NOW + 100
    assert engine.due(NOW + 100) == ["soon"]


def test_rebuild_swaps_atomically(engine: SearchEngine) -> None:
    builder = engine.begin_rebuild()
    builder.add([doc("new", "Brand New")])
    assert ids(engine, "brand new") == []  # invisible until the swap
    builder.swap()
    assert ids(engine, "brand new") == ["new"] and ids(engine, "stranger") == []


def test_tantivy_index_survives_a_restart(tmp_path: Path) -> None:
    first = tantivy_engine(tmp_path)
    first.write(DOCS, [])
    first.close()
    again = tantivy_engine(tmp_path)
    assert again.count() == len(DOCS)
    assert ids(again, "stranger things")[0] == "st"
    again.close()
