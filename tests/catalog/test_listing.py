"""ListTitles: filters, ordering and paging against a catalog of generated titles."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from vod.catalog.v1 import catalog_pb2 as pb

from services.catalog.domain import LIST_TITLES_SCOPE
from tests.catalog.test_catalog_api import ts
from tests.runtime.test_page_tokens import assert_refused_page_token, forgeries
from tests.support import details_of

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
async def seeded(catalog) -> dict[str, object]:
    """30 titles with a unique genre tag so filters only see this module's data."""
    tag = f"Genre {uuid.uuid4().hex[:6]}"
    person = f"Person {uuid.uuid4().hex[:6]}"
    names = []
    for i in range(30):
        windows = [pb.AvailabilityWindow(region_code="US", start_time=ts(NOW - timedelta(days=2)))]
        if i % 3 == 0:
            windows.append(
                pb.AvailabilityWindow(
                    region_code="JP",
                    start_time=ts(NOW - timedelta(days=2)),
                    end_time=ts(NOW + timedelta(days=2)),
                )
            )
        if i % 5 == 0:
            windows.append(
                pb.AvailabilityWindow(region_code="BR", start_time=ts(NOW + timedelta(days=30)))
            )
        title = pb.Title(
            type=pb.TITLE_TYPE_SERIES if i % 4 == 0 else pb.TITLE_TYPE_MOVIE,
            display_name=f"Listing {i:02d} {'zeta' if i % 2 else 'Alpha'}",
            release_year=1990 + i,
            genres=[tag] + (["Thrillers"] if i % 2 else []),
            credits=[pb.Credit(person=person, role=pb.CREDIT_ROLE_ACTOR)] if i < 7 else [],
            availability=windows,
        )
        names.append((await catalog.CreateTitle(pb.CreateTitleRequest(title=title))).title.name)
    return {"tag": tag, "person": person, "names": names}


async def collect(catalog, request: pb.ListTitlesRequest) -> list[pb.Title]:
    out: list[pb.Title] = []
    while True:
        response = await catalog.ListTitles(request)
        out.extend(response.titles)
        if not response.next_page_token:
            return out
        request.page_token = response.next_page_token


async def test_paging_visits_every_title_once_in_order(catalog, seeded) -> None:
    request = pb.ListTitlesRequest(genre=seeded["tag"], page_size=7, order_by="release_year desc")
    first = await catalog.ListTitles(request)
    assert first.total_size == 30 and len(first.titles) == 7
    titles = await collect(catalog, request)
    years = [t.release_year for t in titles]
    assert years == sorted(years, reverse=True) and len(set(years)) == 30
    assert {t.name for t in titles} == set(seeded["names"])


@pytest.mark.parametrize(
    "order_by", ["display_name", "display_name desc", "create_time", "release_year asc"]
)
async def test_every_ordering_pages_completely(catalog, seeded, order_by: str) -> None:
    titles = await collect(
        catalog, pb.ListTitlesRequest(genre=seeded["tag"], page_size=4, order_by=order_by)
    )
    assert len(titles) == 30 and len({t.name for t in titles}) == 30
    if order_by.startswith("display_name"):
        keys = [t.display_name.lower() for t in titles]
        assert keys == sorted(keys, reverse=order_by.endswith("desc"))


async def test_filters_combine(catalog, seeded) -> None:
    tag = seeded["tag"]
    series = await collect(catalog, pb.ListTitlesRequest(genre=tag, type=pb.TITLE_TYPE_SERIES))
    assert len(series) == 8 and all(t.type == pb.TITLE_TYPE_SERIES for t in series)
    years = await collect(
        catalog, pb.ListTitlesRequest(genre=tag, release_year_min=2000, release_year_max=2004)
    )
    assert sorted(t.release_year for t in years) == [2000, 2001, 2002, 2003, 2004]
    genre_ci = await collect(catalog, pb.ListTitlesRequest(genre=tag.upper()))
    assert len(genre_ci) == 30
    by_person = await collect(
        catalog, pb.ListTitlesRequest(genre=tag, person=seeded["person"].lower())
    )
    assert len(by_person) == 7
    jp = await collect(catalog, pb.ListTitlesRequest(genre=tag, available_in="JP"))
    assert len(jp) == 10
    jp_later = await collect(
        catalog,
        pb.ListTitlesRequest(
            genre=tag, available_in="JP", available_at=ts(NOW + timedelta(days=3))
        ),
    )
    assert jp_later == []
    br_now = await collect(catalog, pb.ListTitlesRequest(genre=tag, available_in="BR"))
    assert br_now == []
    br_later = await collect(
        catalog,
        pb.ListTitlesRequest(
            genre=tag, available_in="BR", available_at=ts(NOW + timedelta(days=31))
        ),
    )
    assert len(br_later) == 6


async def test_page_token_is_bound_to_its_filters(catalog, seeded) -> None:
    first = await catalog.ListTitles(pb.ListTitlesRequest(genre=seeded["tag"], page_size=5))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.ListTitles(
            pb.ListTitlesRequest(
                genre=seeded["tag"],
                page_size=5,
                order_by="release_year",
                page_token=first.next_page_token,
            )
        )
    d = details_of(err.value)
    assert d.code == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in d.violations
    # Page size may change between pages.
    second = await catalog.ListTitles(
        pb.ListTitlesRequest(genre=seeded["tag"], page_size=10, page_token=first.next_page_token)
    )
    assert len(second.titles) == 10
    assert not {t.name for t in second.titles} & {t.name for t in first.titles}


async def test_a_forged_page_token_is_refused(catalog, seeded) -> None:
    """Tokens are signed: a cursor forged with the unkeyed fingerprint the catalog used to
    check (or any signature but the deployment's) is INVALID_ARGUMENT on page_token."""
    request = pb.ListTitlesRequest(genre=seeded["tag"], order_by="release_year desc", page_size=5)
    stripped = pb.ListTitlesRequest()
    stripped.CopyFrom(request)
    stripped.page_size = 0
    old_fingerprint = hashlib.sha256(stripped.SerializeToString(deterministic=True)).hexdigest()
    payload: dict[str, object] = {"k": 1900, "i": "a", "n": 0}
    old = {"f": old_fingerprint[:16], **payload}
    for token in forgeries(old, LIST_TITLES_SCOPE, request, payload):
        forged = pb.ListTitlesRequest()
        forged.CopyFrom(request)
        forged.page_token = token
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await catalog.ListTitles(forged)
        assert_refused_page_token(err.value)


async def test_list_genres_counts(catalog, seeded) -> None:
    genres = {
        g.genre: g.title_count for g in (await catalog.ListGenres(pb.ListGenresRequest())).genres
    }
    assert genres[seeded["tag"]] == 30
