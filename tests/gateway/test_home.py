"""GetHome against the real services: the rows and their title data, maturity, region and
ownership rules, and what the home does when a dependency hangs or dies (degraded rows,
omitted rows with reasons, the breaker opening, calls stopping, and recovery)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable

import grpc
import pytest
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.gateway.v1 import gateway_pb2 as gpb
from vod.recommendations.v1 import recommendations_pb2 as rpb
from vod.search.v1 import search_pb2 as spb

from gateway.home.breaker import BreakerState
from tests.gateway.conftest import (
    MOVIE,
    SEEDS,
    Gateway,
    GatewayMesh,
    artwork_of,
    home_request,
    identity,
)
from tests.support import details_of

CW = gpb.ROW_KIND_CONTINUE_WATCHING
TOP = gpb.ROW_KIND_TOP_PICKS
BYW = gpb.ROW_KIND_BECAUSE_YOU_WATCHED
TRENDING = gpb.ROW_KIND_TRENDING_NOW
NEW = gpb.ROW_KIND_NEW_RELEASES
ALL_ROWS = [CW, TOP, BYW, TRENDING, NEW]
BY_NAME = {f"titles/{s.title_id}": s for s in SEEDS}
LABEL = {
    cpb.MATURITY_RATING_PG: "PG",
    cpb.MATURITY_RATING_PG_13: "PG-13",
    cpb.MATURITY_RATING_TV_14: "TV-14",
    cpb.MATURITY_RATING_TV_PG: "TV-PG",
    cpb.MATURITY_RATING_TV_Y: "TV-Y",
    cpb.MATURITY_RATING_R: "R",
    cpb.MATURITY_RATING_TV_MA: "TV-MA",
}


def rows(reply: gpb.GetHomeResponse) -> dict[int, gpb.HomeRow]:
    return {r.kind: r for r in reply.rows}


def titles(row: gpb.HomeRow) -> list[str]:
    return [i.title for i in row.items]


def omitted(reply: gpb.GetHomeResponse) -> dict[int, str]:
    return {o.kind: o.reason for o in reply.omitted}


async def home(
    gateway: Gateway, profile: str, meta: object = None, **kw: object
) -> gpb.GetHomeResponse:
    metadata = identity(profile) if meta is None else meta
    return await gateway.stub.GetHome(home_request(profile, **kw), metadata=metadata)  # type: ignore[arg-type]


async def recs_row(mesh: GatewayMesh, kind: int, seed: str = "") -> rpb.GetRecommendationsResponse:
    return await mesh.recs_stub.GetRecommendations(
        rpb.GetRecommendationsRequest(
            profile=mesh.viewer,
            row_kind=kind,  # type: ignore[arg-type]
            region_code="US",
            seed_title=seed,
        ),
        metadata=identity(mesh.viewer),
    )


async def new_releases(mesh: GatewayMesh, region: str = "US") -> list[str]:
    reply = await mesh.search_stub.NewReleases(spb.NewReleasesRequest(region_code=region))
    return [r.summary.title for r in reply.releases]


# -- a healthy home ------------------------------------------------------------------------


async def test_healthy_home_has_every_row_with_title_data_from_one_catalog_call(
    gw_mesh: GatewayMesh, gateway: Gateway
) -> None:
    mesh = gw_mesh
    before = mesh.catalog.calls["BatchGetTitles"]
    reply = await home(gateway, mesh.viewer)
    assert mesh.catalog.calls["BatchGetTitles"] == before + 1
    assert [r.kind for r in reply.rows] == ALL_ROWS and list(reply.omitted) == []
    got = rows(reply)

    (watching,) = got[CW].items
    assert watching.title == MOVIE and watching.watched_fraction == mesh.resume.watched_fraction
    assert watching.watched_fraction == 0.25 and got[CW].heading == "Continue watching"
    movie = (await mesh.catalog_stub.GetTitle(cpb.GetTitleRequest(name=MOVIE))).title
    assert watching.duration_seconds == movie.media.duration_seconds > 0

    top = await recs_row(mesh, rpb.ROW_KIND_TOP_PICKS)
    assert titles(got[TOP]) == [r.title for r in top.recommendations]
    assert got[TOP].heading == top.heading and got[TOP].degraded == top.degraded
    assert [i.reason for i in got[TOP].items] == [r.reason for r in top.recommendations]
    because = await recs_row(mesh, rpb.ROW_KIND_BECAUSE_YOU_WATCHED, MOVIE)
    assert got[BYW].because_of == MOVIE and got[BYW].heading == "Because you watched Gw Movie"
    assert titles(got[BYW]) == [r.title for r in because.recommendations]
    assert titles(got[TRENDING]) == [MOVIE] and not got[TRENDING].degraded
    assert titles(got[NEW]) == await new_releases(mesh) and not got[NEW].degraded
    assert "titles/gw-gb-only" not in titles(got[NEW])

    for row in reply.rows:
        for item in row.items:
            seed = BY_NAME[item.title]
            assert item.display_name == seed.title_id.replace("-", " ").title()
            assert item.artwork_uri == artwork_of(seed.title_id)[0]  # the thumbnail
            assert item.release_year == seed.year and list(item.genres) == list(seed.genres)
            assert item.maturity_rating == LABEL[seed.rating]
            assert item.synopsis == f"The story of {seed.title_id}."
    assert (
        gateway.metric("gateway_home_rows_total", row="TRENDING_NOW", outcome="served", reason="")
        == 1.0
    )


async def test_max_items_per_row(gw_mesh: GatewayMesh, gateway: Gateway) -> None:
    reply = await home(gateway, gw_mesh.viewer, max_items_per_row=2)
    assert [len(r.items) for r in reply.rows] == [1, 2, 2, 1, 2]
    assert titles(rows(reply)[NEW]) == (await new_releases(gw_mesh))[:2]


# -- maturity, region, ownership ------------------------------------------------------------


async def test_rows_respect_the_profile_maturity_limit(
    gw_mesh: GatewayMesh, gateway: Gateway
) -> None:
    mesh = gw_mesh
    older_kids = {"TV-Y", "PG", "TV-PG"}
    meta = identity(mesh.viewer, maturity="MATURITY_LIMIT_OLDER_KIDS")
    reply = await home(gateway, mesh.viewer, meta)
    # the PG-13 movie leaves continue watching and trending: both rows have nothing left
    assert omitted(reply) == {CW: "EMPTY", TRENDING: "EMPTY"}
    assert [r.kind for r in reply.rows] == [TOP, BYW, NEW]
    for row in reply.rows:
        assert {i.maturity_rating for i in row.items} <= older_kids, row
    allowed = [t for t in await new_releases(mesh) if LABEL[BY_NAME[t].rating] in older_kids]
    assert titles(rows(reply)[NEW]) == allowed
    # A token not scoped to this profile does not say its limit: the strictest applies.
    unscoped = await home(gateway, mesh.viewer, identity(mesh.viewer, scoped=False))
    for row in unscoped.rows:
        assert titles(row) == ["titles/gw-kids-1"], row


async def test_region_comes_from_the_platform(gw_mesh: GatewayMesh, gateway: Gateway) -> None:
    mesh = gw_mesh
    gb = await home(gateway, mesh.viewer, identity(mesh.viewer, region="GB"), region_code="US")
    assert titles(rows(gb)[NEW]) == await new_releases(mesh, "GB")
    assert "titles/gw-gb-only" in titles(rows(gb)[NEW])
    assert "titles/gw-us-only" not in titles(rows(gb)[NEW])
    for row in gb.rows:
        assert "titles/gw-us-only" not in titles(row), row
    # an internal call carries no platform region: the request's is honoured
    internal = await home(gateway, mesh.viewer, identity(mesh.viewer, region=""), region_code="GB")
    assert titles(rows(internal)[NEW]) == titles(rows(gb)[NEW])


async def test_ownership_and_bad_input(gw_mesh: GatewayMesh, gateway: Gateway) -> None:
    mesh = gw_mesh
    before = {name: proxy.total for name, proxy in mesh.proxies().items()}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.stub.GetHome(home_request(mesh.viewer))
    anonymous = details_of(caught.value)
    assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED
    assert anonymous.reason == "UNAUTHENTICATED"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await home(gateway, mesh.viewer, identity("users/mallory/profiles/main"))
    stranger = details_of(caught.value)
    assert stranger.code == grpc.StatusCode.PERMISSION_DENIED and stranger.reason == "NOT_OWNER"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await home(gateway, "users/Bad Name", identity(mesh.viewer), max_items_per_row=51)
    bad = details_of(caught.value)
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(bad.violations) == {"profile", "max_items_per_row"}
    assert {name: proxy.total for name, proxy in mesh.proxies().items()} == before


# -- a dependency that hangs or dies ----------------------------------------------------------

DEPENDENCIES = ["playback", "recommendations", "catalog", "search"]


def dependency_calls(gateway: Gateway, dependency: str, result: str) -> int:
    """Calls the gateway made (or refused to make: "rejected") to `dependency`, any method."""
    total = 0.0
    for family in gateway.registry.collect():
        for sample in family.samples:
            if (
                sample.name == "gateway_dependency_calls_total"
                and sample.labels["dependency"] == dependency
                and sample.labels["result"] == result
            ):
                total += sample.value
    return int(total)


async def reached(mesh: GatewayMesh, dependency: str) -> int:
    """Calls that reached the dependency itself (its proxy's count; search's own metrics)."""
    if dependency == "search":
        return await mesh.search.handled("Trending", "NewReleases")
    return mesh.proxies()[dependency].total


async def check_without(
    mesh: GatewayMesh, dependency: str, reply: gpb.GetHomeResponse, reason: str
) -> None:
    """The home served while `dependency` gives no answer (`reason` says why)."""
    got, gone = rows(reply), omitted(reply)
    if dependency == "playback":
        assert gone == {CW: reason}
        assert [r.kind for r in reply.rows] == [TOP, BYW, TRENDING, NEW]
        # no continue watching to seed it: recommendations picks from the profile's history
        assert got[BYW].because_of == MOVIE
        assert not got[TRENDING].degraded and not got[NEW].degraded
    elif dependency == "recommendations":
        assert gone == {BYW: reason}
        assert [r.kind for r in reply.rows] == [CW, TOP, TRENDING, NEW]
        assert got[TOP].degraded and got[TOP].heading == "Popular in US"
        assert titles(got[TOP]) == [MOVIE] and got[TOP].items[0].reason == "Popular in US"
        assert not got[CW].degraded and not got[TRENDING].degraded and not got[NEW].degraded
    elif dependency == "search":
        assert gone == {}
        for kind, recs_kind in (
            (TRENDING, rpb.ROW_KIND_TRENDING_NOW),
            (NEW, rpb.ROW_KIND_NEW_RELEASES),
        ):
            fallback = await recs_row(mesh, recs_kind)
            assert got[kind].degraded and got[kind].heading == fallback.heading
            assert titles(got[kind]) == [r.title for r in fallback.recommendations]
        assert not got[CW].degraded
    else:  # catalog: every row, marked degraded, with what the sources said
        assert gone == {} and [r.kind for r in reply.rows] == ALL_ROWS
        assert all(r.degraded for r in reply.rows)
        (watching,) = got[CW].items
        assert watching.title == MOVIE and watching.display_name == ""
        assert watching.watched_fraction == 0.25
        trending = await mesh.search_stub.Trending(spb.TrendingRequest(region_code="US"))
        (hot,) = got[TRENDING].items
        summary = trending.titles[0].summary
        assert hot.display_name == summary.display_name == "Gw Movie"
        assert hot.artwork_uri == summary.thumbnail_uri and hot.maturity_rating == "PG-13"
        assert hot.synopsis == ""  # only the catalog has it


async def check_healthy(mesh: GatewayMesh, reply: gpb.GetHomeResponse) -> bool:
    top = await recs_row(mesh, rpb.ROW_KIND_TOP_PICKS)
    got = rows(reply)
    return (
        not reply.omitted
        and [r.kind for r in reply.rows] == ALL_ROWS
        and titles(got[TRENDING]) == [MOVIE]
        and got[CW].items[0].display_name == "Gw Movie"
        and {r.kind for r in reply.rows if r.degraded} == ({TOP, BYW} if top.degraded else set())
    )


async def healthy_home(mesh: GatewayMesh, gateway: Gateway) -> bool:
    return await check_healthy(mesh, await home(gateway, mesh.viewer))


async def until(condition: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def open_breaker(mesh: GatewayMesh, gateway: Gateway, dependency: str, reason: str) -> None:
    """GetHome answers within its budget with the row degraded or omitted for `reason`, until
    the dependency's breaker opens: after `failure_threshold` (2) failed calls, one or two
    GetHome calls depending on how many calls a home makes to it."""
    breaker = gateway.run.breaker(dependency)
    failed = "deadline_exceeded" if reason == "DEADLINE_EXCEEDED" else "unavailable"
    before = dependency_calls(gateway, dependency, failed)
    for _ in range(2):
        started = time.monotonic()
        reply = await home(gateway, mesh.viewer)
        assert time.monotonic() - started < gateway.settings.budget_s + 0.5
        await check_without(mesh, dependency, reply, reason)
        if breaker.state is BreakerState.OPEN:
            break
    assert breaker.state is BreakerState.OPEN
    assert dependency_calls(gateway, dependency, failed) == before + 2
    assert gateway.metric("gateway_breaker_state", dependency=dependency) == 2.0


async def check_open(mesh: GatewayMesh, gateway: Gateway, dependency: str, seen: int) -> None:
    """While open, GetHome does not call the dependency at all and says CIRCUIT_OPEN."""
    rejected = dependency_calls(gateway, dependency, "rejected")
    reply = await home(gateway, mesh.viewer)
    await check_without(mesh, dependency, reply, "CIRCUIT_OPEN")
    assert dependency_calls(gateway, dependency, "rejected") > rejected
    assert await reached(mesh, dependency) == seen


async def recover(mesh: GatewayMesh, gateway: Gateway, dependency: str) -> None:
    """After the cool-down one probe goes through; once it succeeds the circuit closes and the
    home is whole again."""
    breaker = gateway.run.breaker(dependency)

    async def healthy() -> bool:
        if breaker.state is not BreakerState.CLOSED:
            gateway.clock.advance(gateway.settings.breaker.reset_timeout_s)
        reply = await home(gateway, mesh.viewer)
        return breaker.state is BreakerState.CLOSED and await check_healthy(mesh, reply)

    await until(healthy)
    assert gateway.metric("gateway_breaker_state", dependency=dependency) == 0.0


@pytest.mark.parametrize("dependency", DEPENDENCIES)
async def test_a_hung_dependency_degrades_the_home_then_its_circuit_opens(
    dependency: str, gw_mesh: GatewayMesh, gateway: Gateway
) -> None:
    mesh = gw_mesh
    await until(lambda: healthy_home(mesh, gateway))  # and the connections are up
    if dependency == "search":
        mesh.search.signal(signal.SIGSTOP)
    else:
        mesh.proxies()[dependency].hang()
    try:
        await open_breaker(mesh, gateway, dependency, "DEADLINE_EXCEEDED")
        if dependency == "search":  # stopped: it counts nothing; the gateway's counters tell

            def sent() -> int:
                results = ("ok", "error", "unavailable", "deadline_exceeded")
                return sum(dependency_calls(gateway, "search", r) for r in results)

            before = sent()
            await check_without(mesh, dependency, await home(gateway, mesh.viewer), "CIRCUIT_OPEN")
            assert dependency_calls(gateway, "search", "rejected") == 2  # Trending, NewReleases
            assert sent() == before
        else:
            await check_open(mesh, gateway, dependency, await reached(mesh, dependency))
    finally:
        if dependency == "search":
            mesh.search.signal(signal.SIGCONT)
        else:
            mesh.proxies()[dependency].release()
    await recover(mesh, gateway, dependency)


@pytest.mark.parametrize("dependency", DEPENDENCIES)
async def test_a_dead_dependency_opens_its_circuit_and_is_probed_when_back(
    dependency: str, gw_mesh: GatewayMesh, gateway: Gateway
) -> None:
    mesh = gw_mesh
    await until(lambda: healthy_home(mesh, gateway))  # and the connections are up
    if dependency == "search":
        mesh.search.kill()
    else:
        await mesh.proxies()[dependency].stop()
    revived = False
    try:
        await open_breaker(mesh, gateway, dependency, "DEPENDENCY_UNAVAILABLE")
        await check_without(mesh, dependency, await home(gateway, mesh.viewer), "CIRCUIT_OPEN")
        if dependency == "search":
            await mesh.search.start()
        else:
            await mesh.proxies()[dependency].start()
        revived = True
        seen = await reached(mesh, dependency)
        if dependency == "search":
            assert seen == 0  # a new process: nothing reached it yet
        # back, but the circuit is open until the cool-down passes: still no calls
        await check_open(mesh, gateway, dependency, seen)
    finally:
        if not revived:
            if dependency == "search":
                await mesh.search.start()
            else:
                await mesh.proxies()[dependency].start()
    await recover(mesh, gateway, dependency)
    assert await reached(mesh, dependency) > seen


async def test_trending_and_new_releases_are_shared_between_homes(gw_mesh: GatewayMesh) -> None:
    """The rows that are the same for every viewer of a region are asked of search once per
    `shared_rows_ttl_s` (concurrent homes share the one call), and again after it."""
    from gateway.home.server import running as gateway_running
    from tests.gateway.conftest import FakeClock, gateway_settings

    clock = FakeClock()
    settings = gateway_settings(gw_mesh, shared_rows_ttl_s=5.0)
    async with (
        gateway_running(settings, serve_metrics=False, clock=clock) as run,
        grpc.aio.insecure_channel(f"127.0.0.1:{run.port}") as channel,
    ):
        from vod.gateway.v1 import gateway_pb2_grpc

        gateway = Gateway(run, gateway_pb2_grpc.GatewayServiceStub(channel), clock, settings)

        def search_calls(method: str) -> float:
            return gateway.metric(
                "gateway_dependency_calls_total", dependency="search", method=method, result="ok"
            )

        replies = await asyncio.gather(*(home(gateway, gw_mesh.viewer) for _ in range(4)))
        replies.append(await home(gateway, gw_mesh.viewer))
        assert (search_calls("Trending"), search_calls("NewReleases")) == (1, 1)
        expected_new = await new_releases(gw_mesh)
        for reply in replies:
            got = rows(reply)
            assert titles(got[TRENDING]) == [MOVIE] and titles(got[NEW]) == expected_new

        clock.advance(5.0)  # kept no longer: the next home asks again
        again = await home(gateway, gw_mesh.viewer)
        assert (search_calls("Trending"), search_calls("NewReleases")) == (2, 2)
        assert titles(rows(again)[NEW]) == expected_new
