"""StartPlayback's refusals, each with its documented status and details."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.playback.v1 import playback_pb2 as pb

from tests.playback.conftest import PlaybackMesh, create_title, identity, start_request
from tests.support import details_of


async def refused(mesh: PlaybackMesh, request: pb.StartPlaybackRequest, metadata: object):  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.playback.StartPlayback(request, metadata=metadata)
    return details_of(caught.value)


@pytest.fixture(scope="module")
async def titles(pb_mesh: PlaybackMesh) -> dict[str, str]:
    catalog = pb_mesh.catalog
    return {
        "us_only": await create_title(catalog, "pb-us-only", regions=("US",)),
        "future": await create_title(
            catalog, "pb-future", starts=datetime.now(UTC) + timedelta(days=30)
        ),
        "no_media": await create_title(catalog, "pb-no-media"),
        "adult": await create_title(catalog, "pb-adult", rating=cpb.MATURITY_RATING_R),
    }


async def test_unknown_title_is_not_found(pb_mesh: PlaybackMesh) -> None:
    profile = pb_mesh.user() + "/profiles/main"
    got = await refused(
        pb_mesh, start_request(profile, "titles/pb-does-not-exist"), identity(profile)
    )
    assert got.code == grpc.StatusCode.NOT_FOUND
    assert got.reason == "TITLE_NOT_FOUND" and got.resource_name == "titles/pb-does-not-exist"


async def test_title_not_available_in_the_region(
    pb_mesh: PlaybackMesh, titles: dict[str, str]
) -> None:
    profile = pb_mesh.user() + "/profiles/main"
    request = start_request(profile, titles["us_only"])
    request.region_code = "US"  # the client's claim is ignored: the platform says GB
    got = await refused(pb_mesh, request, identity(profile, region="GB"))
    assert got.code == grpc.StatusCode.FAILED_PRECONDITION
    assert got.reason == "NOT_AVAILABLE_IN_REGION"
    assert got.preconditions == ["NOT_AVAILABLE_IN_REGION"]
    assert "GB" in got.message
    future = await refused(pb_mesh, start_request(profile, titles["future"]), identity(profile))
    assert future.code == grpc.StatusCode.FAILED_PRECONDITION
    assert future.preconditions == ["NOT_AVAILABLE_IN_REGION"]


async def test_region_without_an_edge(pb_mesh: PlaybackMesh) -> None:
    profile = pb_mesh.user() + "/profiles/main"
    got = await refused(
        pb_mesh, start_request(profile, pb_mesh.movie.title), identity(profile, region="FR")
    )
    assert got.code == grpc.StatusCode.FAILED_PRECONDITION
    assert got.reason == "NO_EDGE_FOR_REGION" and got.preconditions == ["NO_EDGE_FOR_REGION"]


async def test_region_code_is_honoured_only_without_a_platform_region(
    pb_mesh: PlaybackMesh,
) -> None:
    profile = pb_mesh.user() + "/profiles/main"
    request = start_request(profile, pb_mesh.movie.title)
    request.region_code = "GB"
    session = (
        await pb_mesh.playback.StartPlayback(request, metadata=identity(profile, region=""))
    ).session
    assert session.region_code == "GB"
    request.device_id = "dev-other"
    session = (
        await pb_mesh.playback.StartPlayback(request, metadata=identity(profile, region="US"))
    ).session
    assert session.region_code == "US"


async def test_no_ready_media(pb_mesh: PlaybackMesh, titles: dict[str, str]) -> None:
    profile = pb_mesh.user() + "/profiles/main"
    got = await refused(pb_mesh, start_request(profile, titles["no_media"]), identity(profile))
    assert got.code == grpc.StatusCode.FAILED_PRECONDITION
    assert got.reason == "MEDIA_NOT_READY" and got.preconditions == ["MEDIA_NOT_READY"]


async def test_maturity_limits(pb_mesh: PlaybackMesh, titles: dict[str, str]) -> None:
    mesh = pb_mesh
    user = mesh.user(profiles={"kid": 1, "teen": 3, "main": 0})
    kid, teen, main = (f"{user}/profiles/{p}" for p in ("kid", "teen", "main"))
    # Profile-scoped token: the maturity claim decides (movie is PG-13).
    got = await refused(
        mesh,
        start_request(kid, mesh.movie.title),
        identity(kid, maturity="MATURITY_LIMIT_LITTLE_KIDS"),
    )
    assert got.code == grpc.StatusCode.PERMISSION_DENIED and got.reason == "MATURITY_LIMIT"
    ok = await mesh.playback.StartPlayback(
        start_request(teen, mesh.movie.title),
        metadata=identity(teen, maturity="MATURITY_LIMIT_TEENS"),
    )
    assert ok.session.profile == teen
    adult = await refused(
        mesh,
        start_request(teen, titles["adult"], device_id="d2"),
        identity(teen, maturity="MATURITY_LIMIT_TEENS"),
    )
    assert adult.code == grpc.StatusCode.PERMISSION_DENIED and adult.reason == "MATURITY_LIMIT"
    # A user token acting for another of its profiles: accounts says what the profile may see.
    mesh.accounts.calls.clear()
    got = await refused(
        mesh, start_request(kid, mesh.movie.title, device_id="d3"), identity(main, scoped=False)
    )
    assert got.code == grpc.StatusCode.PERMISSION_DENIED and got.reason == "MATURITY_LIMIT"
    assert ("GetProfile", kid) in mesh.accounts.calls


async def test_ownership_and_authentication(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    mine = mesh.user() + "/profiles/main"
    theirs = mesh.user() + "/profiles/main"
    got = await refused(mesh, start_request(theirs, mesh.movie.title), identity(mine))
    assert got.code == grpc.StatusCode.PERMISSION_DENIED and got.reason == "NOT_OWNER"
    anonymous = await refused(
        mesh, start_request(mine, mesh.movie.title), (("x-vod-region", "US"),)
    )
    assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED
    unknown_profile = mine.replace("/main", "/ghost")
    missing = await refused(
        mesh, start_request(unknown_profile, mesh.movie.title), identity(mine, scoped=False)
    )
    assert missing.code == grpc.StatusCode.NOT_FOUND and missing.reason == "PROFILE_NOT_FOUND"


async def test_plan_falls_back_to_the_user_record(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    profile = mesh.user("plans/sd") + "/profiles/main"
    meta = tuple(kv for kv in identity(profile) if kv[0] != "x-vod-plan")
    session = (
        await mesh.playback.StartPlayback(start_request(profile, mesh.movie.title), metadata=meta)
    ).session
    assert session.max_height == 360  # the sd plan, read from the user


async def test_malformed_requests(pb_mesh: PlaybackMesh) -> None:
    profile = pb_mesh.user() + "/profiles/main"
    request = start_request(profile, "titles/Bad Title")
    got = await refused(pb_mesh, request, identity(profile))
    assert got.code == grpc.StatusCode.INVALID_ARGUMENT and "title" in got.violations
    request = start_request(profile, pb_mesh.movie.title, device=pb.DEVICE_TYPE_UNSPECIFIED)
    got = await refused(pb_mesh, request, identity(profile))
    assert got.code == grpc.StatusCode.INVALID_ARGUMENT and "device_type" in got.violations
    request = start_request(profile, pb_mesh.movie.title, start_s=3600)
    got = await refused(pb_mesh, request, identity(profile))
    assert got.code == grpc.StatusCode.OUT_OF_RANGE and "start_position" in got.violations
