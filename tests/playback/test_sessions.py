"""Sessions: the concurrent-stream limit under a burst, heartbeats (lease, ownership, range),
stop, expiry freeing the slot, resume across devices, continue watching, and the events."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import grpc
import nats
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from vod.events.v1 import playback_events_pb2 as ev
from vod.playback.v1 import playback_pb2 as pb
from vod.playback.v1 import playback_pb2_grpc

from mesh.embedded import free_port
from services.playback.domain import CONTINUE_WATCHING_SCOPE
from services.playback.server import running as playback_running
from tests.playback.conftest import PlaybackMesh, at, identity, seconds, start_request, wait_for
from tests.runtime.test_page_tokens import assert_refused_page_token, forgeries
from tests.support import details_of


def quota_subjects(error: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            quota = error_details_pb2.QuotaFailure()
            detail.Unpack(quota)
            return {v.subject: v.description for v in quota.violations}
    raise AssertionError("no QuotaFailure in the status")


async def start(mesh: PlaybackMesh, profile: str, title: str, **kw: object) -> pb.PlaybackSession:
    meta = kw.pop("metadata", None) or identity(profile, plan=str(kw.pop("plan", "plans/standard")))
    reply = await mesh.playback.StartPlayback(start_request(profile, title, **kw), metadata=meta)  # type: ignore[arg-type]
    return reply.session


async def test_burst_past_the_stream_limit(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    user = mesh.user("plans/standard", profiles={"main": 0, "kids": 2})  # 2 streams
    profiles = [f"{user}/profiles/main", f"{user}/profiles/kids"]

    async def attempt(i: int) -> pb.PlaybackSession | grpc.aio.AioRpcError:
        profile = profiles[i % 2]
        try:
            return await start(
                mesh, profile, mesh.movie.title, device_id=f"tv-{i}", device=pb.DEVICE_TYPE_TV
            )
        except grpc.aio.AioRpcError as exc:
            return exc

    results = await asyncio.gather(*(attempt(i) for i in range(10)))
    ok = [r for r in results if isinstance(r, pb.PlaybackSession)]
    failed = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(ok) == 2 and len(failed) == 8
    live = {s.name: s for s in ok}
    for error in failed:
        got = details_of(error)
        assert got.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert got.reason == "STREAM_LIMIT_REACHED"
        subjects = quota_subjects(error)
        assert set(subjects) == set(live)
        for name, description in subjects.items():
            session = live[name]
            assert description == (
                f"{mesh.movie.title} on {session.profile}, tv {session.device_id}"
            )
    # "Stop playback on another device": any of the user's profiles may stop any of its sessions.
    victim = ok[0]
    await mesh.playback.StopPlayback(
        pb.StopPlaybackRequest(session=victim.name), metadata=identity(profiles[1])
    )
    again = await start(mesh, profiles[0], mesh.movie.title, device_id="phone-9")
    assert again.state == pb.SESSION_STATE_ACTIVE


async def test_same_device_restart_replaces_its_session(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    profile = mesh.user("plans/basic") + "/profiles/main"  # 1 stream
    first = await start(mesh, profile, mesh.movie.title, plan="plans/basic", device_id="tv")
    second = await start(mesh, profile, mesh.movie.title, plan="plans/basic", device_id="tv")
    assert second.name != first.name
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.playback.Heartbeat(
            pb.HeartbeatRequest(session=first.name, position=at(1)), metadata=identity(profile)
        )
    got = details_of(caught.value)
    assert got.code == grpc.StatusCode.FAILED_PRECONDITION
    assert got.preconditions == ["SESSION_STOPPED"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # another device: the slot is taken
        await start(mesh, profile, mesh.movie.title, plan="plans/basic", device_id="phone")
    assert set(quota_subjects(caught.value)) == {second.name}


async def test_heartbeats(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    profile = mesh.user() + "/profiles/main"
    stranger = mesh.user() + "/profiles/main"
    session = await start(mesh, profile, mesh.movie.title)
    await asyncio.sleep(0.05)
    beat = await mesh.playback.Heartbeat(
        pb.HeartbeatRequest(session=session.name, position=at(1.5), state=pb.PLAYER_STATE_PLAYING),
        metadata=identity(profile),
    )
    assert beat.expire_time.ToDatetime() > session.expire_time.ToDatetime()
    assert seconds(beat.heartbeat_interval) == 10.0
    point = await mesh.playback.GetResumePoint(
        pb.GetResumePointRequest(profile=profile, title=mesh.movie.title),
        metadata=identity(profile),
    )
    assert seconds(point.resume_point.position) == 1.5

    async def error_of(request: pb.HeartbeatRequest, meta: object):  # type: ignore[no-untyped-def]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await mesh.playback.Heartbeat(request, metadata=meta)
        return details_of(caught.value)

    other = await error_of(
        pb.HeartbeatRequest(session=session.name, position=at(2)), identity(stranger)
    )
    assert other.code == grpc.StatusCode.PERMISSION_DENIED and other.reason == "NOT_OWNER"
    unknown = await error_of(
        pb.HeartbeatRequest(session="sessions/nosuchsession000", position=at(2)),
        identity(profile),
    )
    assert unknown.code == grpc.StatusCode.NOT_FOUND
    assert unknown.resource_name == "sessions/nosuchsession000"
    duration = mesh.movie.asset.duration_seconds
    beyond = await error_of(
        pb.HeartbeatRequest(session=session.name, position=at(duration + 5)), identity(profile)
    )
    assert beyond.code == grpc.StatusCode.OUT_OF_RANGE and list(beyond.violations) == ["position"]
    negative = await error_of(
        pb.HeartbeatRequest(session=session.name, position=at(-1)), identity(profile)
    )
    assert negative.code == grpc.StatusCode.INVALID_ARGUMENT
    assert list(negative.violations) == ["position"]
    missing = await error_of(pb.HeartbeatRequest(session=session.name), identity(profile))
    assert missing.code == grpc.StatusCode.INVALID_ARGUMENT and "position" in missing.violations
    # A stopped session takes no heartbeats; stopping again returns the same resume point.
    stopped = await mesh.playback.StopPlayback(
        pb.StopPlaybackRequest(session=session.name, position=at(2.25)), metadata=identity(profile)
    )
    assert seconds(stopped.resume_point.position) == 2.25
    again = await mesh.playback.StopPlayback(
        pb.StopPlaybackRequest(session=session.name, position=at(3)), metadata=identity(profile)
    )
    assert again.resume_point == stopped.resume_point
    ended = await error_of(
        pb.HeartbeatRequest(session=session.name, position=at(2.5)), identity(profile)
    )
    assert ended.code == grpc.StatusCode.FAILED_PRECONDITION
    assert ended.reason == "SESSION_ENDED" and ended.preconditions == ["SESSION_STOPPED"]


async def test_many_heartbeats_at_once_are_each_answered(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    users = [mesh.user("plans/premium") + "/profiles/main" for _ in range(10)]
    sessions = [
        await start(mesh, p, mesh.movie.title, plan="plans/premium", device_id=f"d{i}")
        for p in users
        for i in range(3)
    ]

    async def beat(session: pb.PlaybackSession, position: float) -> pb.HeartbeatResponse:
        return await mesh.playback.Heartbeat(
            pb.HeartbeatRequest(session=session.name, position=at(position)),
            metadata=identity(session.profile, plan="plans/premium"),
        )

    replies = await asyncio.gather(
        *(beat(s, 0.5 + 0.1 * (i % 10)) for i, s in enumerate(sessions) for _ in range(2))
    )
    assert len(replies) == 60 and all(r.expire_time.seconds for r in replies)
    for index, session in enumerate(sessions[:3]):
        stopped = await mesh.playback.StopPlayback(
            pb.StopPlaybackRequest(session=session.name),
            metadata=identity(session.profile, plan="plans/premium"),
        )
        assert seconds(stopped.resume_point.position) == pytest.approx(0.5 + 0.1 * index)


async def test_phone_then_tv_resumes_where_the_phone_left(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    profile = mesh.user() + "/profiles/main"
    phone = await start(
        mesh, profile, mesh.movie.title, device=pb.DEVICE_TYPE_MOBILE, device_id="phone"
    )
    await mesh.playback.Heartbeat(
        pb.HeartbeatRequest(session=phone.name, position=at(1.25)), metadata=identity(profile)
    )
    # Another device while the phone still plays: resumes at the phone's last heartbeat.
    tablet = await start(
        mesh, profile, mesh.movie.title, device=pb.DEVICE_TYPE_TABLET, device_id="tablet"
    )
    assert seconds(tablet.resume_position) == 1.25
    await mesh.playback.StopPlayback(
        pb.StopPlaybackRequest(session=tablet.name), metadata=identity(profile)
    )
    stopped = await mesh.playback.StopPlayback(
        pb.StopPlaybackRequest(session=phone.name, position=at(2.5)), metadata=identity(profile)
    )
    point = stopped.resume_point
    assert seconds(point.position) == 2.5 and not point.completed
    duration = mesh.movie.asset.duration_seconds
    assert seconds(point.duration) == pytest.approx(duration)
    assert point.watched_fraction == pytest.approx(2.5 / duration)
    tv = await start(mesh, profile, mesh.movie.title, device=pb.DEVICE_TYPE_TV, device_id="tv")
    assert seconds(tv.resume_position) == 2.5
    explicit = await start(
        mesh, profile, mesh.movie.title, device=pb.DEVICE_TYPE_WEB, device_id="web", start_s=0.5
    )
    assert seconds(explicit.resume_position) == 0.5


async def test_a_forged_page_token_is_refused(pb_mesh: PlaybackMesh) -> None:
    """A cursor forged in the unsigned format playback used to issue (the profile in clear), or
    signed with anything but the deployment's secret, is INVALID_ARGUMENT on page_token."""
    profile = pb_mesh.user() + "/profiles/main"
    payload: dict[str, object] = {"t": "2999-01-01T00:00:00+00:00", "k": "titles/x"}
    old = {"p": profile, **payload}
    for token in forgeries(old, CONTINUE_WATCHING_SCOPE, None, payload, bind=profile):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await pb_mesh.playback.ListContinueWatching(
                pb.ListContinueWatchingRequest(profile=profile, page_token=token),
                metadata=identity(profile),
            )
        assert_refused_page_token(caught.value)


async def test_continue_watching(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    profile = mesh.user() + "/profiles/main"
    meta = identity(profile)

    async def watch(title: str, until: float) -> None:
        session = await start(mesh, profile, title, start_s=0)
        await mesh.playback.StopPlayback(
            pb.StopPlaybackRequest(session=session.name, position=at(until)), metadata=meta
        )

    async def listing(page_size: int = 0, token: str = "") -> pb.ListContinueWatchingResponse:
        return await mesh.playback.ListContinueWatching(
            pb.ListContinueWatchingRequest(profile=profile, page_size=page_size, page_token=token),
            metadata=meta,
        )

    never = await mesh.playback.GetResumePoint(
        pb.GetResumePointRequest(profile=profile, title=mesh.short.title), metadata=meta
    )
    assert seconds(never.resume_point.position) == 0 and not never.resume_point.HasField(
        "update_time"
    )
    await watch(mesh.movie.title, 1.0)
    await watch(mesh.short.title, 1.5)
    first = await listing()
    assert [p.title for p in first.resume_points] == [mesh.short.title, mesh.movie.title]
    assert [seconds(p.position) for p in first.resume_points] == [1.5, 1.0]
    assert first.next_page_token == ""
    page1 = await listing(page_size=1)
    assert [p.title for p in page1.resume_points] == [mesh.short.title] and page1.next_page_token
    page2 = await listing(page_size=1, token=page1.next_page_token)
    assert [p.title for p in page2.resume_points] == [mesh.movie.title]
    assert page2.next_page_token == ""
    # Watching the movie to the credits finishes it: it leaves the row, and restarts at 0.
    duration = mesh.movie.asset.duration_seconds
    await watch(mesh.movie.title, duration * 0.97)
    after = await listing()
    assert [p.title for p in after.resume_points] == [mesh.short.title]
    done = await mesh.playback.GetResumePoint(
        pb.GetResumePointRequest(profile=profile, title=mesh.movie.title), metadata=meta
    )
    assert done.resume_point.completed
    again = await start(mesh, profile, mesh.movie.title, device_id="again")
    assert seconds(again.resume_position) == 0
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await listing(token="not-a-token")
    assert details_of(caught.value).violations.keys() == {"page_token"}
    stranger = mesh.user() + "/profiles/main"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.playback.ListContinueWatching(
            pb.ListContinueWatchingRequest(profile=profile), metadata=identity(stranger)
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_events_on_nats(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    profile = mesh.user() + "/profiles/main"
    nc = await nats.connect(mesh.nats_url)
    seen: list[tuple[str, bytes]] = []

    async def collect(msg: nats.aio.msg.Msg) -> None:
        seen.append((msg.subject, msg.data))

    await nc.subscribe("vod.playback.>", cb=collect)
    try:
        session = await start(
            mesh, profile, mesh.movie.title, device=pb.DEVICE_TYPE_CONSOLE, start_s=1.0
        )
        await mesh.playback.Heartbeat(
            pb.HeartbeatRequest(
                session=session.name, position=at(2.0), state=pb.PLAYER_STATE_PLAYING
            ),
            metadata=identity(profile),
        )
        await mesh.playback.StopPlayback(
            pb.StopPlaybackRequest(session=session.name, position=at(3.0)),
            metadata=identity(profile),
        )

        def mine() -> list[tuple[str, bytes]]:
            return [(s, d) for s, d in seen if session.name.encode() in d]

        async def both() -> bool:
            return len(mine()) >= 2

        await wait_for(both, timeout=15)
    finally:
        await nc.close()
    (s1, d1), (s2, d2) = mine()
    assert (s1, s2) == ("vod.playback.started", "vod.playback.stopped")
    started = ev.PlaybackStarted.FromString(d1)
    assert started.session == session.name and started.profile == profile
    assert started.title == mesh.movie.title
    assert started.device_type == pb.DEVICE_TYPE_CONSOLE
    assert started.region_code == "US"
    assert started.protocol == pb.STREAMING_PROTOCOL_DASH
    assert seconds(started.start_position) == 1.0
    assert started.meta.producer == "playback" and started.meta.event_id
    assert session.session_token.encode() not in d1  # events never carry the token
    stopped = ev.PlaybackStopped.FromString(d2)
    duration = mesh.movie.asset.duration_seconds
    assert stopped.session == session.name and stopped.profile == profile
    assert stopped.title == mesh.movie.title and stopped.region_code == "US"
    assert seconds(stopped.position) == 3.0
    assert seconds(stopped.duration) == pytest.approx(duration)
    assert stopped.watched_fraction == pytest.approx(3.0 / duration)
    assert stopped.completed is False
    assert seconds(stopped.watch_time) == 2.0  # 1.0 -> 2.0 -> 3.0 while playing
    assert stopped.reason == ev.PLAYBACK_STOP_REASON_STOPPED


async def test_expiry_frees_the_slot(pb_mesh: PlaybackMesh) -> None:
    """A second playback server on the same database with a short heartbeat interval."""
    mesh = pb_mesh
    port = free_port()
    settings = dataclasses.replace(
        mesh.settings,
        heartbeat_s=0.3,
        sweep_interval_s=0.05,
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
    nc = await nats.connect(mesh.nats_url)
    stopped: list[ev.PlaybackStopped] = []

    async def collect(msg: nats.aio.msg.Msg) -> None:
        stopped.append(ev.PlaybackStopped.FromString(msg.data))

    await nc.subscribe("vod.playback.stopped", cb=collect)
    try:
        async with (
            playback_running(settings, accounts=mesh.accounts, serve_metrics=False) as run,
            grpc.aio.insecure_channel(f"127.0.0.1:{run.port}") as channel,
        ):
            stub = playback_pb2_grpc.PlaybackServiceStub(channel)
            first = (
                await stub.StartPlayback(
                    start_request(profile, mesh.movie.title, device_id="tv"), metadata=meta
                )
            ).session
            lease = first.expire_time.ToDatetime() - first.start_time.ToDatetime()
            assert lease == timedelta(seconds=0.9)
            beat = await stub.Heartbeat(
                pb.HeartbeatRequest(session=first.name, position=at(0.75)), metadata=meta
            )
            assert beat.expire_time.ToDatetime() > first.expire_time.ToDatetime()
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.StartPlayback(
                    start_request(profile, mesh.movie.title, device_id="phone"), metadata=meta
                )
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

            async def expired() -> list[ev.PlaybackStopped]:
                return [s for s in stopped if s.session == first.name]

            (event,) = await wait_for(expired, timeout=15)  # type: ignore[misc]
            assert event.reason == ev.PLAYBACK_STOP_REASON_EXPIRED
            assert seconds(event.position) == 0.75
            second = (
                await stub.StartPlayback(
                    start_request(profile, mesh.movie.title, device_id="phone"), metadata=meta
                )
            ).session
            assert seconds(second.resume_position) == 0.75  # the expired session's resume point
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Heartbeat(
                    pb.HeartbeatRequest(session=first.name, position=at(1)), metadata=meta
                )
            assert details_of(caught.value).preconditions == ["SESSION_EXPIRED"]
            # The manifest of an expired session is refused too.
            got = await mesh.http.get(first.manifest_url)
            assert got.status_code == 403 and got.json()["reason"] == "SESSION_ENDED"
    finally:
        await nc.close()
