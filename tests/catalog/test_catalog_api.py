"""CatalogService end to end over a real channel: real Postgres, real NATS, the production
server with its interceptor. Asserts on decoded google.rpc details, not only status codes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2
from vod.catalog.v1 import catalog_pb2 as pb

from tests.support import details_of


def ts(dt: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(dt)
    return out


NOW = datetime.now(UTC)


def movie(name: str, **kwargs: object) -> pb.Title:
    defaults: dict[str, object] = {
        "type": pb.TITLE_TYPE_MOVIE,
        "display_name": name,
        "release_year": 2020,
        "genres": ["Dramas"],
        "availability": [
            pb.AvailabilityWindow(region_code="US", start_time=ts(NOW - timedelta(days=1)))
        ],
    }
    defaults.update(kwargs)
    return pb.Title(**defaults)  # type: ignore[arg-type]


def uid() -> str:
    return uuid.uuid4().hex[:8]


async def test_create_then_get_round_trips_every_field(catalog) -> None:
    title = movie(
        f"The Round Trip {uid()}",
        synopsis="A film about films.",
        duration_seconds=5400,
        maturity_rating=pb.MATURITY_RATING_PG_13,
        genres=["Dramas", "dramas ", "Comedies"],
        countries=["United States"],
        credits=[
            pb.Credit(person="Ada  Lovelace", role=pb.CREDIT_ROLE_DIRECTOR),
            pb.Credit(person="Grace Hopper", role=pb.CREDIT_ROLE_ACTOR, character="Herself"),
        ],
        artwork=[pb.Artwork(kind=pb.ARTWORK_KIND_POSTER, uri="https://img.example/p.jpg")],
    )
    created = (await catalog.CreateTitle(pb.CreateTitleRequest(title=title))).title
    assert created.name.startswith("titles/the-round-trip-")
    assert created.etag and created.create_time.seconds > 0
    assert list(created.genres) == ["Dramas", "Comedies"]  # de-duplicated case-insensitively
    assert [c.person for c in created.credits] == ["Ada Lovelace", "Grace Hopper"]
    fetched = (await catalog.GetTitle(pb.GetTitleRequest(name=created.name))).title
    assert fetched == created
    assert fetched.availability[0].region_code == "US"
    assert fetched.artwork[0].uri == "https://img.example/p.jpg"


async def test_get_unknown_title_is_not_found_with_resource_info(catalog) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.GetTitle(pb.GetTitleRequest(name="titles/does-not-exist"))
    d = details_of(err.value)
    assert d.code == grpc.StatusCode.NOT_FOUND
    assert d.reason == "TITLE_NOT_FOUND"
    assert d.resource_name == "titles/does-not-exist"


async def test_explicit_id_and_duplicates(catalog) -> None:
    title_id = f"fixed-{uid()}"
    ext = f"test:{uid()}"
    await catalog.CreateTitle(
        pb.CreateTitleRequest(title=movie("Fixed", external_id=ext), title_id=title_id)
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.CreateTitle(
            pb.CreateTitleRequest(title=movie("Fixed again"), title_id=title_id)
        )
    assert details_of(err.value).code == grpc.StatusCode.ALREADY_EXISTS
    assert details_of(err.value).reason == "TITLE_ALREADY_EXISTS"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.CreateTitle(pb.CreateTitleRequest(title=movie("Other", external_id=ext)))
    d = details_of(err.value)
    assert d.code == grpc.StatusCode.ALREADY_EXISTS and d.reason == "EXTERNAL_ID_TAKEN"
    assert d.resource_name == f"titles/{title_id}"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.CreateTitleRequest(), "title"),
        (pb.CreateTitleRequest(title=movie("   ")), "title.display_name"),
        (pb.CreateTitleRequest(title=movie("x" * 301)), "title.display_name"),
        (pb.CreateTitleRequest(title=movie("Bad enum", type=42)), "title.type"),
        (pb.CreateTitleRequest(title=movie("No type", type=0)), "title.type"),
        (
            pb.CreateTitleRequest(title=movie("Bad rating", maturity_rating=99)),
            "title.maturity_rating",
        ),
        (pb.CreateTitleRequest(title=movie("Bad id"), title_id="Not An Id"), "title_id"),
        (
            pb.CreateTitleRequest(
                title=movie(
                    "Bad region",
                    availability=[pb.AvailabilityWindow(region_code="usa", start_time=ts(NOW))],
                )
            ),
            "title.availability[0].region_code",
        ),
        (
            pb.CreateTitleRequest(
                title=movie(
                    "Unknown region",
                    availability=[pb.AvailabilityWindow(region_code="XX", start_time=ts(NOW))],
                )
            ),
            "title.availability[0].region_code",
        ),
        (
            pb.CreateTitleRequest(
                title=movie(
                    "Inverted window",
                    availability=[
                        pb.AvailabilityWindow(
                            region_code="US",
                            start_time=ts(NOW),
                            end_time=ts(NOW - timedelta(days=3)),
                        )
                    ],
                )
            ),
            "title.availability[0].end_time",
        ),
        (
            pb.CreateTitleRequest(title=movie("Many genres", genres=[f"g{i}" for i in range(21)])),
            "title.genres",
        ),
        (pb.CreateTitleRequest(title=movie("Empty genre", genres=[""])), "title.genres[0]"),
        (
            pb.CreateTitleRequest(
                title=movie("Bad art", artwork=[pb.Artwork(kind=1, uri="javascript:x")])
            ),
            "title.artwork[0].uri",
        ),
        (pb.CreateTitleRequest(title=movie("Control \x00 char")), "title.display_name"),
        (
            pb.CreateTitleRequest(title=movie("Movie with parent", parent="titles/some-series")),
            "title.parent",
        ),
        (
            pb.CreateTitleRequest(
                title=pb.Title(type=pb.TITLE_TYPE_EPISODE, display_name="Orphan")
            ),
            "title.parent",
        ),
        (pb.ListTitlesRequest(page_size=1001), "page_size"),
        (pb.ListTitlesRequest(page_size=-1), "page_size"),
        (pb.ListTitlesRequest(order_by="price desc"), "order_by"),
        (pb.ListTitlesRequest(available_in="us"), "available_in"),
        (pb.ListTitlesRequest(available_in="ZZ"), "available_in"),
        (pb.ListTitlesRequest(release_year_min=2020, release_year_max=2010), "release_year_max"),
        (pb.ListTitlesRequest(page_token="not-a-token"), "page_token"),
        (pb.ListTitlesRequest(page_token="eyJmIjogMX0"), "page_token"),
        (pb.GetTitleRequest(name=""), "name"),
        (pb.GetTitleRequest(name="movies/1"), "name"),
        (pb.GetTitleRequest(name="titles/" + "a" * 200), "name"),
        (pb.BatchGetTitlesRequest(names=["titles/a"] * 101), "names"),
        (pb.CheckAvailabilityRequest(name="titles/a", region_code=""), "region_code"),
        (
            pb.UpdateTitleRequest(
                title=pb.Title(name="titles/a", synopsis="s"),
                update_mask=field_mask_pb2.FieldMask(paths=["price"]),
            ),
            "update_mask.paths[0]",
        ),
        (
            pb.UpdateTitleRequest(
                title=pb.Title(name="titles/a"),
                update_mask=field_mask_pb2.FieldMask(paths=["type"]),
            ),
            "update_mask.paths[0]",
        ),
        (pb.UpdateTitleRequest(title=pb.Title(synopsis="no name")), "title.name"),
    ],
)
async def test_bad_input_is_rejected_with_field_violations(catalog, request_, field: str) -> None:
    method = {
        pb.CreateTitleRequest: catalog.CreateTitle,
        pb.ListTitlesRequest: catalog.ListTitles,
        pb.GetTitleRequest: catalog.GetTitle,
        pb.BatchGetTitlesRequest: catalog.BatchGetTitles,
        pb.CheckAvailabilityRequest: catalog.CheckAvailability,
        pb.UpdateTitleRequest: catalog.UpdateTitle,
    }[type(request_)]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await method(request_)
    d = details_of(err.value)
    assert d.code == grpc.StatusCode.INVALID_ARGUMENT, d
    assert field in d.violations, d.violations
    assert "Traceback" not in d.message and "SELECT" not in d.message.upper()


async def test_malformed_input_never_reaches_the_database(catalog) -> None:
    name = f"Never Stored {uid()}"
    with pytest.raises(grpc.aio.AioRpcError):
        await catalog.CreateTitle(pb.CreateTitleRequest(title=movie(name, maturity_rating=77)))
    listed = await catalog.ListTitles(pb.ListTitlesRequest(page_size=1000, genre="Dramas"))
    assert name not in {t.display_name for t in listed.titles}


async def test_update_with_mask_and_etag(catalog) -> None:
    created = (
        await catalog.CreateTitle(
            pb.CreateTitleRequest(title=movie(f"Update Me {uid()}", synopsis="old"))
        )
    ).title
    patch = pb.Title(name=created.name, synopsis="new", release_year=1999, etag=created.etag)
    updated = (
        await catalog.UpdateTitle(
            pb.UpdateTitleRequest(
                title=patch, update_mask=field_mask_pb2.FieldMask(paths=["synopsis"])
            )
        )
    ).title
    assert updated.synopsis == "new"
    assert updated.release_year == created.release_year  # not in the mask: untouched
    assert updated.etag != created.etag
    # The old etag is now stale.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.UpdateTitle(
            pb.UpdateTitleRequest(
                title=pb.Title(name=created.name, synopsis="lost update", etag=created.etag),
                update_mask=field_mask_pb2.FieldMask(paths=["synopsis"]),
            )
        )
    d = details_of(err.value)
    assert d.code == grpc.StatusCode.ABORTED and d.reason == "ETAG_MISMATCH"
    assert (await catalog.GetTitle(pb.GetTitleRequest(name=created.name))).title.synopsis == "new"
    # A mask path whose new value is invalid is rejected as a whole.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.UpdateTitle(
            pb.UpdateTitleRequest(
                title=pb.Title(name=created.name, display_name=""),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            )
        )
    assert "title.display_name" in details_of(err.value).violations
    # No mask: every set field is applied.
    updated2 = (
        await catalog.UpdateTitle(
            pb.UpdateTitleRequest(title=pb.Title(name=created.name, release_year=2001))
        )
    ).title
    assert updated2.release_year == 2001 and updated2.synopsis == "new"


async def test_update_unknown_title_is_not_found(catalog) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.UpdateTitle(
            pb.UpdateTitleRequest(title=pb.Title(name="titles/nope-nope", synopsis="x"))
        )
    assert details_of(err.value).code == grpc.StatusCode.NOT_FOUND


async def test_series_season_episode_tree_and_cascading_delete(catalog) -> None:
    series = (
        await catalog.CreateTitle(
            pb.CreateTitleRequest(
                title=pb.Title(type=pb.TITLE_TYPE_SERIES, display_name=f"Show {uid()}")
            )
        )
    ).title
    season = (
        await catalog.CreateTitle(
            pb.CreateTitleRequest(
                title=pb.Title(
                    type=pb.TITLE_TYPE_SEASON, display_name="Season 1", parent=series.name, number=1
                )
            )
        )
    ).title
    episodes = [
        (
            await catalog.CreateTitle(
                pb.CreateTitleRequest(
                    title=pb.Title(
                        type=pb.TITLE_TYPE_EPISODE,
                        display_name=f"Ep {n}",
                        parent=season.name,
                        number=n,
                    )
                )
            )
        ).title
        for n in (2, 1, 3)
    ]
    listed = await catalog.ListTitles(pb.ListTitlesRequest(parent=season.name, order_by="number"))
    assert [t.number for t in listed.titles] == [1, 2, 3]
    # An episode cannot hang off a series directly.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.CreateTitle(
            pb.CreateTitleRequest(
                title=pb.Title(type=pb.TITLE_TYPE_EPISODE, display_name="x", parent=series.name)
            )
        )
    d = details_of(err.value)
    assert d.code == grpc.StatusCode.FAILED_PRECONDITION and d.reason == "PARENT_TYPE_MISMATCH"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.CreateTitle(
            pb.CreateTitleRequest(
                title=pb.Title(type=pb.TITLE_TYPE_SEASON, display_name="x", parent="titles/ghost")
            )
        )
    assert details_of(err.value).reason == "PARENT_NOT_FOUND"
    # Deleting with a stale etag is refused; with none, the whole tree goes.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.DeleteTitle(pb.DeleteTitleRequest(name=series.name, etag="stale"))
    assert details_of(err.value).code == grpc.StatusCode.ABORTED
    await catalog.DeleteTitle(pb.DeleteTitleRequest(name=series.name, etag=series.etag))
    for gone in (series, season, *episodes):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await catalog.GetTitle(pb.GetTitleRequest(name=gone.name))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.DeleteTitle(pb.DeleteTitleRequest(name=series.name))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_batch_get_keeps_order_and_reports_missing(catalog) -> None:
    a = (await catalog.CreateTitle(pb.CreateTitleRequest(title=movie(f"Batch A {uid()}")))).title
    b = (await catalog.CreateTitle(pb.CreateTitleRequest(title=movie(f"Batch B {uid()}")))).title
    got = await catalog.BatchGetTitles(pb.BatchGetTitlesRequest(names=[b.name, a.name]))
    assert [t.name for t in got.titles] == [b.name, a.name]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.BatchGetTitles(pb.BatchGetTitlesRequest(names=[a.name, "titles/missing-one"]))
    d = details_of(err.value)
    assert d.code == grpc.StatusCode.NOT_FOUND and d.resource_name == "titles/missing-one"


async def test_check_availability_windows(catalog) -> None:
    windows = [
        pb.AvailabilityWindow(
            region_code="GB",
            start_time=ts(NOW - timedelta(days=10)),
            end_time=ts(NOW - timedelta(days=5)),
        ),
        pb.AvailabilityWindow(region_code="GB", start_time=ts(NOW + timedelta(days=5))),
        pb.AvailabilityWindow(region_code="DE", start_time=ts(NOW - timedelta(days=1))),
    ]
    title = (
        await catalog.CreateTitle(
            pb.CreateTitleRequest(title=movie(f"Windows {uid()}", availability=windows))
        )
    ).title
    de = await catalog.CheckAvailability(
        pb.CheckAvailabilityRequest(name=title.name, region_code="DE")
    )
    assert de.available and de.window.region_code == "DE"
    gb = await catalog.CheckAvailability(
        pb.CheckAvailabilityRequest(name=title.name, region_code="GB")
    )
    assert not gb.available
    assert gb.next_window.start_time == windows[1].start_time
    gb_past = await catalog.CheckAvailability(
        pb.CheckAvailabilityRequest(
            name=title.name, region_code="GB", time=ts(NOW - timedelta(days=7))
        )
    )
    assert gb_past.available
    fr = await catalog.CheckAvailability(
        pb.CheckAvailabilityRequest(name=title.name, region_code="FR")
    )
    assert not fr.available and not fr.HasField("next_window")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.CheckAvailability(
            pb.CheckAvailabilityRequest(name="titles/nope", region_code="US")
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
