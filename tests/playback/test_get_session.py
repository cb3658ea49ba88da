"""GetSession (internal, for licensing): the session as stored now without its token nor the
URLs carrying it, plus user, media asset and plan; STOPPED right after StopPlayback, EXPIRED as
soon as the lease passes (before any sweep), NOT_FOUND / INVALID_ARGUMENT otherwise."""

from __future__ import annotations

import dataclasses

import grpc
import pytest
from vod.playback.v1 import playback_pb2 as pb
from vod.playback.v1 import playback_pb2_grpc

from mesh.embedded import free_port
from services.playback.server import running as playback_running
from tests.playback.conftest import PlaybackMesh, at, identity, start_request, wait_for


def without_credentials(session: pb.PlaybackSession) -> pb.PlaybackSession:
    expected = pb.PlaybackSession()
    expected.CopyFrom(session)
    for name in ("session_token", "manifest_url", "license_url"):
        expected.ClearField(name)
    return expected


async def test_get_session_returns_the_stored_session(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    profile = mesh.user("plans/standard") + "/profiles/main"
    meta = identity(profile, region="GB")
    started = (
        await mesh.playback.StartPlayback(
            start_request(
                profile,
                mesh.movie.title,
                device=pb.DEVICE_TYPE_TV,
                device_id="tv-9",
                start_s=1.5,
            ),
            metadata=meta,
        )
    ).session
    assert started.session_token and started.license_url == ""  # a clear title
    # No identity: an internal call.
    got = await mesh.playback.GetSession(pb.GetSessionRequest(name=started.name))
    assert got.session == without_credentials(started)
    assert got.user == profile.split("/profiles/")[0]
    assert got.media_asset == mesh.movie.asset.name
    assert got.plan == "plans/standard"
    assert got.session.state == pb.SESSION_STATE_ACTIVE
    assert got.session.max_height == 480 and got.session.region_code == "GB"
    assert got.session.encrypted is False
    assert got.session.resume_position.ToNanoseconds() == 1_500_000_000

    # The lease a heartbeat wrote is what GetSession reads.
    beat = await mesh.playback.Heartbeat(
        pb.HeartbeatRequest(session=started.name, position=at(2.0)), metadata=meta
    )
    got = await mesh.playback.GetSession(pb.GetSessionRequest(name=started.name))
    expected = without_credentials(started)
    expected.expire_time.CopyFrom(beat.expire_time)
    assert got.session == expected

    await mesh.playback.StopPlayback(pb.StopPlaybackRequest(session=started.name), metadata=meta)
    got = await mesh.playback.GetSession(pb.GetSessionRequest(name=started.name))
    expected.state = pb.SESSION_STATE_STOPPED
    assert got.session == expected
    assert (got.user, got.media_asset, got.plan) == (
        profile.split("/profiles/")[0],
        mesh.movie.asset.name,
        "plans/standard",
    )


async def test_get_session_refusals(pb_mesh: PlaybackMesh) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await pb_mesh.playback.GetSession(pb.GetSessionRequest(name="sessions/nosuchsession"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    for name in ("", "sessions/", "users/x", "sessions/UPPER", "sessions/a/b"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await pb_mesh.playback.GetSession(pb.GetSessionRequest(name=name))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name


async def test_get_session_is_expired_once_the_lease_passes_before_any_sweep(
    pb_mesh: PlaybackMesh,
) -> None:
    """A second playback server with its own schema (so no other sweeper touches its rows), a
    short heartbeat interval and a sweeper that only runs at start-up."""
    mesh = pb_mesh
    port = free_port()
    settings = dataclasses.replace(
        mesh.settings,
        schema="playback_get_session",
        heartbeat_s=0.2,
        sweep_interval_s=3600.0,
        http_address=f"127.0.0.1:{port}",
        public_url=f"http://127.0.0.1:{port}",
        runtime=dataclasses.replace(
            mesh.settings.runtime,
            grpc_address="127.0.0.1:0",
            metrics_address=f"127.0.0.1:{free_port()}",
        ),
    )
    profile = mesh.user("plans/basic") + "/profiles/main"
    meta = identity(profile, plan="plans/basic")
    async with (
        playback_running(settings, accounts=mesh.accounts, serve_metrics=False) as run,
        grpc.aio.insecure_channel(f"127.0.0.1:{run.port}") as channel,
    ):
        stub = playback_pb2_grpc.PlaybackServiceStub(channel)
        started = (
            await stub.StartPlayback(start_request(profile, mesh.movie.title), metadata=meta)
        ).session
        session_id = started.name.removeprefix("sessions/")
        request = pb.GetSessionRequest(name=started.name)
        first = await stub.GetSession(request)
        assert first.session.state == pb.SESSION_STATE_ACTIVE
        assert first.plan == "plans/basic"

        async def expired() -> pb.GetSessionResponse | None:
            reply = await stub.GetSession(request)
            return reply if reply.session.state == pb.SESSION_STATE_EXPIRED else None

        got = await wait_for(expired, timeout=10)
        expected = without_credentials(started)
        expected.state = pb.SESSION_STATE_EXPIRED
        assert got.session == expected  # type: ignore[attr-defined]
        stored = await run.domain.repository.get_session(session_id)
        assert stored is not None and stored.state == pb.SESSION_STATE_ACTIVE  # not swept yet
        assert await run.domain.sweep_once() == 1
        stored = await run.domain.repository.get_session(session_id)
        assert stored is not None and stored.state == pb.SESSION_STATE_EXPIRED
        assert (await stub.GetSession(request)).session == expected
