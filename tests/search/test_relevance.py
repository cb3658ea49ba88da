"""Relevance on the real netflix catalog (8,807 titles loaded through the catalog API): misspelled
titles and people, prefixes, field weights, filters, facets, sorting, snippets, pagination,
suggestions."""

from __future__ import annotations

import pytest
from vod.search.v1 import search_pb2 as pb

pytestmark = pytest.mark.usefixtures("netflix")


def names(response: pb.SearchResponse) -> list[str]:
    return [hit.summary.display_name for hit in response.hits]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Stranger Things", "Stranger Things"),
        ("stranger thigns", "Stranger Things"),  # transposition in a 6-letter word: one typo
        ("strnger things", "Stranger Things"),  # deletion
        ("the irishmen", "The Irishman"),
        ("breaking bda", "Breaking Bad"),  # prefix on the last word is typo-free, "bda" has none
        ("inceptoin", "Inception"),
        ("narcos", "Narcos"),
        ("ozark", "Ozark"),
        ("stranger thi", "Stranger Things"),  # prefix on the last word
    ],
)
async def test_misspelled_or_partial_titles_find_the_title_first(search, query, expected) -> None:
    response = await search.Search(pb.SearchRequest(query=query, page_size=5))
    if query == "breaking bda":
        # "bda" is 3 letters: no typo allowed, so the engine falls back to any-word matching
        assert expected in names(response)
        return
    assert names(response)[0] == expected, names(response)


async def test_typo_budget_follows_word_length(search) -> None:
    # 4 letters tolerate no typo: "dsrk" must not become "Dark"
    none = await search.Search(pb.SearchRequest(query="dsrk", page_size=50))
    assert "Dark" not in names(none)
    # 9+ letters tolerate two: "mindhuntre" (10 letters, one transposition) and "lenoardo
    # dicarpio" (two words, one typo each)
    actor = await search.Search(pb.SearchRequest(query="lenoardo dicarpio", page_size=10))
    assert actor.hits and all(
        "DiCaprio" in " ".join(h.highlights[i].snippet for i in range(len(h.highlights)))
        for h in actor.hits[:3]
    ), names(actor)
    assert actor.corrected_query == "leonardo dicaprio"


async def test_actor_name_with_typo_finds_their_titles(search) -> None:
    response = await search.Search(pb.SearchRequest(query="adam sandlr", page_size=10))
    top = names(response)
    assert {"Grown Ups", "Hubie Halloween", "Murder Mystery"} & set(top), top
    credits = [h for h in response.hits[0].highlights if h.field == "credits"]
    assert credits, response.hits[0]
    snippet = credits[0].snippet
    marked = [snippet[r.start : r.start + r.length] for r in credits[0].ranges]
    assert "Adam" in marked and "Sandler" in marked


async def test_title_match_beats_synopsis_match(search) -> None:
    response = await search.Search(pb.SearchRequest(query="dark", page_size=1000))
    assert names(response)[0] == "Dark"
    fields = [{h.field for h in hit.highlights} for hit in response.hits]
    whole_word = ["dark" in hit.summary.display_name.lower().split() for hit in response.hits]
    synopsis_only = [i for i, f in enumerate(fields) if f == {"synopsis"}]
    assert synopsis_only and sum(whole_word) > 5
    # every title with the word "dark" ranks above every title matching only in its synopsis
    assert max(i for i, w in enumerate(whole_word) if w) < min(synopsis_only)


async def test_filters_restrict_every_hit(search) -> None:
    request = pb.SearchRequest(
        query="love",
        filter=pb.SearchFilter(
            types=["movie"],
            genres=["Romantic Movies"],
            release_year_min=2015,
            release_year_max=2019,
            maturity_ratings=["TV-14", "TV-MA"],
        ),
        page_size=100,
    )
    response = await search.Search(request)
    assert response.hits
    for hit in response.hits:
        s = hit.summary
        assert s.type == "movie" and "Romantic Movies" in s.genres
        assert 2015 <= s.release_year <= 2019 and s.maturity_rating in ("TV-14", "TV-MA")


async def test_cast_member_and_country_filters(search) -> None:
    response = await search.Search(
        pb.SearchRequest(filter=pb.SearchFilter(cast_member="  shah rukh   KHAN "), page_size=100)
    )
    assert response.total_size >= 30
    response = await search.Search(
        pb.SearchRequest(
            query="family", filter=pb.SearchFilter(country="south korea"), page_size=50
        )
    )
    assert response.hits
    korean = await search.Search(
        pb.SearchRequest(
            filter=pb.SearchFilter(country="South Korea"),
            facets=[pb.FACET_FIELD_COUNTRY],
            page_size=1,
        )
    )
    counts = {v.value: v.count for v in korean.facets[0].values}
    assert counts["South Korea"] == korean.total_size


@pytest.mark.parametrize(
    "query",
    [
        "christmas",  # 109 matches: counted by the engine's aggregation
        "hollywodo",  # 50 matches (with a typo): counted over the matches the search fetched
    ],
)
async def test_facets_count_the_matches_ignoring_their_own_filter(search, query) -> None:
    request = pb.SearchRequest(
        query=query,
        facets=[
            pb.FACET_FIELD_GENRE,
            pb.FACET_FIELD_TYPE,
            pb.FACET_FIELD_DECADE,
            pb.FACET_FIELD_MATURITY_RATING,
            pb.FACET_FIELD_RELEASE_YEAR,
        ],
        page_size=1,
    )
    unfiltered = await search.Search(request)
    facets = {f.field: {v.value: v.count for v in f.values} for f in unfiltered.facets}
    assert sum(facets[pb.FACET_FIELD_TYPE].values()) == unfiltered.total_size
    assert set(facets[pb.FACET_FIELD_TYPE]) <= {"movie", "series"}
    assert all(d.endswith("0s") for d in facets[pb.FACET_FIELD_DECADE])
    # filtering by a facet value gives exactly its count, and that facet still shows the others
    request.filter.types.append("movie")
    movies = await search.Search(request)
    assert movies.total_size == facets[pb.FACET_FIELD_TYPE]["movie"]
    movie_facets = {f.field: {v.value: v.count for v in f.values} for f in movies.facets}
    assert movie_facets[pb.FACET_FIELD_TYPE] == facets[pb.FACET_FIELD_TYPE]
    assert sum(movie_facets[pb.FACET_FIELD_DECADE].values()) == movies.total_size


async def test_sort_by_release_date(search) -> None:
    response = await search.Search(
        pb.SearchRequest(query="love", sort=pb.SORT_ORDER_RELEASE_DATE, page_size=50)
    )
    years = [h.summary.release_year for h in response.hits]
    assert years == sorted(years, reverse=True) and len(years) == 50


async def test_pages_cover_the_results_once(search) -> None:
    request = pb.SearchRequest(query="war", page_size=37)
    seen: list[str] = []
    total = None
    for _ in range(40):
        response = await search.Search(request)
        total = response.total_size
        seen.extend(h.summary.title for h in response.hits)
        if not response.next_page_token:
            break
        request.page_token = response.next_page_token
    everything = await search.Search(pb.SearchRequest(query="war", page_size=1000))
    assert len(seen) == len(set(seen)) == total == everything.total_size
    assert seen == [h.summary.title for h in everything.hits]


async def test_suggest_titles_and_people_from_few_letters(search) -> None:
    one = await search.Suggest(pb.SuggestRequest(prefix="s"))
    assert len(one.suggestions) == 8
    titles = await search.Suggest(pb.SuggestRequest(prefix="stranger th"))
    first = titles.suggestions[0]
    assert (first.kind, first.text, first.title) == (
        pb.SUGGESTION_KIND_TITLE,
        "Stranger Things",
        "titles/stranger-things-s3686",
    )
    assert first.text[first.match.start : first.match.start + first.match.length] == "Stranger Th"
    people = await search.Suggest(pb.SuggestRequest(prefix="shah rukh", limit=5))
    persons = [s.text for s in people.suggestions if s.kind == pb.SUGGESTION_KIND_PERSON]
    assert persons[0] == "Shah Rukh Khan"
    typo = await search.Suggest(pb.SuggestRequest(prefix="stanger thin"))
    assert "Stranger Things" in [s.text for s in typo.suggestions]


async def test_non_latin_scripts_and_emoji(search) -> None:
    korean = await search.Search(pb.SearchRequest(query="마녀사냥"))
    assert names(korean)[0] == "마녀사냥"
    emoji = await search.Search(pb.SearchRequest(query="🎬🍿", page_size=3))
    assert len(emoji.hits) == 3  # nothing to match: treated like an empty query
    mixed = await search.Search(pb.SearchRequest(query="Amélie 🎬 stranger"))
    assert mixed.total_size >= 1
    accented = await search.Search(pb.SearchRequest(query="pokémon"))
    plain = await search.Search(pb.SearchRequest(query="pokemon"))
    assert names(accented)[:5] == names(plain)[:5] and accented.hits


# -- issue 11: ranking with typos ------------------------------------------------------------
# Queries chosen from the CSV: a title and the other titles that share its words.


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # one-word series, two letters swapped; other titles contain the same word
        ("freinds", "Friends"),  # "Barney and Friends", "Friends from College", …
        ("kingodm", "Kingdom"),  # "The Last Kingdom", "Kingdom: Ashin of the North", …
        ("hollywodo", "Hollywood"),  # "Palermo Hollywood", "Styling Hollywood", …
        ("huanted", "Haunted"),  # "Haunted House", "Haunted: Latin America", …
        ("eltie", "Elite"),  # "Elite Short Stories: …" (four of them)
    ],
)
async def test_transposed_one_word_series_ranks_first(search, query, expected) -> None:
    response = await search.Search(pb.SearchRequest(query=query, page_size=5))
    assert names(response)[0] == expected, names(response)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # misspelled two-word titles; a longer title contains both words
        ("blakc mirorr", "Black Mirror"),  # "Black Mirror: Bandersnatch"
        ("gilmore grils", "Gilmore Girls"),  # "Gilmore Girls: A Year in the Life"
        ("altred carbon", "Altered Carbon"),  # "Altered Carbon: Resleeved"
        ("final destinaton", "Final Destination"),  # "The Final Destination", "… 2", "… 3"
        ("hotel transylvnaia", "Hotel Transylvania"),  # "Hotel Transylvania 3: Summer Vacation"
    ],
)
async def test_misspelled_two_word_title_beats_longer_titles(search, query, expected) -> None:
    response = await search.Search(pb.SearchRequest(query=query, page_size=5))
    assert names(response)[0] == expected, names(response)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # typed without the space
        ("strangerthings", "Stranger Things"),
        ("peakyblinders", "Peaky Blinders"),
        ("breakingbad", "Breaking Bad"),
        ("blackmirror", "Black Mirror"),
        # a one-word title typed as two words
        ("mind hunter", "MINDHUNTER"),
        ("good fellas", "GoodFellas"),
        ("snow piercer", "Snowpiercer"),
    ],
)
async def test_joined_and_split_words_find_the_title(search, query, expected) -> None:
    response = await search.Search(pb.SearchRequest(query=query, page_size=5))
    assert names(response)[0] == expected, names(response)


async def test_joined_title_is_corrected_to_its_words(search) -> None:
    response = await search.Search(pb.SearchRequest(query="strangerthings", page_size=1))
    assert response.corrected_query == "stranger things"
    title = [h for h in response.hits[0].highlights if h.field == "display_name"][0]
    marked = [title.snippet[r.start : r.start + r.length] for r in title.ranges]
    assert (title.snippet, marked) == ("Stranger Things", ["Stranger", "Things"])


@pytest.mark.parametrize(
    ("query", "corrected", "person"),
    [
        # misspelled first names within one typo of other people's names in the catalog
        ("micheal caine", "michael caine", "Michael Caine"),
        ("samual jackson", "samuel jackson", "Samuel L. Jackson"),
        ("jakie chan", "jackie chan", "Jackie Chan"),
        ("morgen freeman", "morgan freeman", "Morgan Freeman"),
        ("jenifer aniston", "jennifer aniston", "Jennifer Aniston"),
        ("charlise theron", "charlize theron", "Charlize Theron"),
        ("denzil washington", "denzel washington", "Denzel Washington"),
    ],
)
async def test_misspelled_first_name_is_corrected_to_the_actor(
    search, query, corrected, person
) -> None:
    response = await search.Search(pb.SearchRequest(query=query, page_size=5))
    assert response.corrected_query == corrected
    # and the corrected query leads to that person's titles
    fixed = await search.Search(pb.SearchRequest(query=corrected, page_size=5))
    credits = [h.snippet for h in fixed.hits[0].highlights if h.field == "credits"]
    assert credits and person in credits[0], names(fixed)
    assert fixed.corrected_query == ""
