"""Bad input gets sensible results or INVALID_ARGUMENT with field details, never INTERNAL, and user
text is never interpreted as Tantivy or Meilisearch query syntax."""

from __future__ import annotations

import hashlib

import grpc
import pytest
from google.protobuf.message import Message
from vod.search.v1 import search_pb2 as pb

from tests.runtime.test_page_tokens import assert_refused_page_token, forgeries
from tests.support import details_of

pytestmark = pytest.mark.usefixtures("netflix")


@pytest.mark.parametrize("query", ["", "   ", "\t \n"])
async def test_empty_queries_list_titles_not_errors(search, query) -> None:
    response = await search.Search(pb.SearchRequest(query=query, page_size=5))
    assert len(response.hits) == 5 and response.total_size > 8000


@pytest.mark.parametrize(
    "query",
    [
        'stranger "things',  # unbalanced quote
        "title:stranger AND things",  # tantivy field and boolean syntax
        "stranger OR (things",  # unbalanced parenthesis
        "stranger -things",  # meilisearch negation
        "stranger* things~ ^",  # wildcard, fuzzy and boost operators
        '"stranger things"',  # a meilisearch phrase
        "stranger\\ things]",
    ],
)
async def test_engine_syntax_is_plain_text(search, query) -> None:
    response = await search.Search(pb.SearchRequest(query=query, page_size=10))
    # the words are searched as words: negation, phrase and field syntax have no effect (words
    # like "title" or "and" are searched too, so the title need not come first)
    assert "Stranger Things" in [h.summary.display_name for h in response.hits]


async def test_operators_alone_do_not_error(search) -> None:
    for query in ["AND", "OR NOT", "*", "-", '"', "()", "title:", ":", "\\"]:
        response = await search.Search(pb.SearchRequest(query=query, page_size=1))
        assert response.total_size >= 0


async def invalid(call, request) -> dict[str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request)
    details = details_of(caught.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT, details
    return details.violations


async def test_ten_kilobyte_query_is_rejected_with_field_details(search) -> None:
    violations = await invalid(search.Search, pb.SearchRequest(query="stranger " * 1200))
    assert "query" in violations and "200" in violations["query"]


async def test_page_sizes_out_of_range(search) -> None:
    assert "page_size" in await invalid(search.Search, pb.SearchRequest(query="x", page_size=1001))
    assert "page_size" in await invalid(search.Search, pb.SearchRequest(query="x", page_size=-1))
    assert "limit" in await invalid(search.Suggest, pb.SuggestRequest(prefix="x", limit=21))


async def test_inverted_year_range(search) -> None:
    violations = await invalid(
        search.Search,
        pb.SearchRequest(filter=pb.SearchFilter(release_year_min=2020, release_year_max=2010)),
    )
    assert "filter.release_year_max" in violations


async def test_unknown_filter_fields_are_rejected_not_ignored(search) -> None:
    # a client built against a newer contract sends filter field 99; ignoring it would widen results
    raw = pb.SearchFilter(country="France").SerializeToString() + bytes([0x98, 0x06, 0x01])
    request = pb.SearchRequest(query="love", filter=pb.SearchFilter.FromString(raw))
    violations = await invalid(search.Search, request)
    assert "99" in violations["filter"]


async def test_malformed_filter_values(search) -> None:
    violations = await invalid(
        search.Search,
        pb.SearchRequest(
            filter=pb.SearchFilter(
                types=["documentary"], region_code="usa", maturity_ratings=["tv-ma"]
            )
        ),
    )
    assert {"filter.types[0]", "filter.region_code", "filter.maturity_ratings[0]"} <= set(
        violations
    )
    assert "filter.region_code" in await invalid(
        search.Search, pb.SearchRequest(filter=pb.SearchFilter(region_code="ZZ"))
    )
    assert "facets[0]" in await invalid(
        search.Search, pb.SearchRequest(facets=[pb.FACET_FIELD_UNSPECIFIED])
    )
    assert "facets[0]" in await invalid(search.Search, pb.SearchRequest(facets=[42]))
    assert "sort" in await invalid(search.Search, pb.SearchRequest(sort=9))


async def test_forged_page_tokens_are_refused(search) -> None:
    """An offset forged with the unkeyed fingerprint search used to check (or signed with
    anything but the deployment's secret) is INVALID_ARGUMENT on page_token, in every list."""

    def unkeyed(request: Message, extra: str) -> str:
        stripped = type(request)()
        stripped.CopyFrom(request)
        stripped.ClearField("page_size")
        digest = hashlib.sha256(stripped.SerializeToString(deterministic=True) + extra.encode())
        return digest.hexdigest()[:16]

    service = "vod.search.v1.SearchService"
    cases: list[tuple[str, Message, str, object]] = [
        (
            "Search",
            pb.SearchRequest(query="love", page_size=2, filter=pb.SearchFilter(region_code="US")),
            "US",
            search.Search,
        ),
        ("Trending", pb.TrendingRequest(region_code="US", page_size=2), "", search.Trending),
        (
            "NewReleases",
            pb.NewReleasesRequest(region_code="US", page_size=2),
            "",
            search.NewReleases,
        ),
    ]
    for method, request, extra, call in cases:
        payload: dict[str, object] = {"o": 2, "s": None}
        old = {"f": unkeyed(request, extra), **payload}
        for token in forgeries(old, f"{service}/{method}", request, payload, bind=extra):
            forged = type(request)()
            forged.CopyFrom(request)
            forged.page_token = token  # type: ignore[attr-defined]
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(forged)  # type: ignore[operator]
            assert_refused_page_token(caught.value)


async def test_page_tokens_must_be_ours_and_match_the_request(search) -> None:
    first = await search.Search(pb.SearchRequest(query="love", page_size=2))
    assert "page_token" in await invalid(
        search.Search, pb.SearchRequest(query="love", page_token="garbage!")
    )
    changed = pb.SearchRequest(query="war", page_size=2, page_token=first.next_page_token)
    assert "page_token" in await invalid(search.Search, changed)
    same = await search.Search(
        pb.SearchRequest(query="love", page_size=2, page_token=first.next_page_token)
    )
    assert {h.summary.title for h in same.hits}.isdisjoint(h.summary.title for h in first.hits)


async def test_blank_suggest_prefix_and_regions(search) -> None:
    assert "prefix" in await invalid(search.Suggest, pb.SuggestRequest(prefix="   "))
    assert "prefix" in await invalid(search.Suggest, pb.SuggestRequest(prefix="a" * 101))
    assert "region_code" in await invalid(search.Trending, pb.TrendingRequest())
    assert "region_code" in await invalid(
        search.NewReleases, pb.NewReleasesRequest(region_code="XX")
    )
    emoji = await search.Suggest(pb.SuggestRequest(prefix="🍿"))
    assert list(emoji.suggestions) == []
