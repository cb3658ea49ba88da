"""Write-behind heartbeats (PlaybackSettings.write_behind): answered before the batched write
when the session's stored lease has more than a heartbeat interval left; the lease and the
stream limit stay decided by the database; stops, replacing starts and expiries refuse later
heartbeats; a reader sees its own heartbeats; a drain writes what was answered.

Each test runs a second playback server on the shared database (as test_expiry_frees_the_slot),
most with a flush window of an hour, so the only flushes are the ones a reader, a stop or the
drain asks for: what the database holds when a heartbeat is answered shows which path it took."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from vod.playback.v1 import playback_pb2 as pb
from vod.playback.v1 import playback_pb2_grpc

from mesh.embedded import free_port
from services.playback.domain import HeartbeatBatcher, HeartbeatWrite
from services.playback.server import Running
from services.playback.server import running as playback_running
from services.runtime.errors import Unavailable
from services.runtime.processes import SiblingVersions
from tests.playback.conftest import (
    PlaybackMesh,
    at,
    identity,
    seconds,
    start_request,
    wait_for,
)
from tests.support import details_of

ROOT = Path(__file__).resolve().parents[2]
HOUR = 3600.0
LEASE_END = datetime(2030, 1, 1, tzinfo=UTC)


def hb(session: str, user: str, position_s: float, playing: bool) -> HeartbeatWrite:
    return HeartbeatWrite(session, user, position_s, playing, LEASE_END)


@asynccontextmanager
async def replica(
    mesh: PlaybackMesh, **overrides: object
) -> AsyncIterator[tuple[Running, playback_pb2_grpc.PlaybackServiceStub]]:
    port = free_port()
    settings = dataclasses.replace(
        mesh.settings,
        http_address=f"127.0.0.1:{port}",
        public_url=f"http://127.0.0.1:{port}",
        runtime=dataclasses.replace(
            mesh.settings.runtime,
            grpc_address="127.0.0.1:0",
            metrics_address=f"127.0.0.1:{free_port()}",
        ),
        **overrides,  # type: ignore[arg-type]
    )
    async with (
        playback_running(settings, accounts=mesh.accounts, serve_metrics=False) as run,
        grpc.aio.insecure_channel(f"127.0.0.1:{run.port}") as channel,
    ):
        yield run, playback_pb2_grpc.PlaybackServiceStub(channel)


async def stored_position(run: Running, session: str) -> float:
    record = await run.domain.repository.get_session(session.removeprefix("sessions/"))
    assert record is not None
    return record.position_s


async def refused(
    stub: playback_pb2_grpc.PlaybackServiceStub, session: str, meta: object, position: float
) -> list[str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Heartbeat(
            pb.HeartbeatRequest(session=session, position=at(position)),
            metadata=meta,  # type: ignore[arg-type]
            timeout=20,
        )
    got = details_of(caught.value)
    assert got.code == grpc.StatusCode.FAILED_PRECONDITION and got.reason == "SESSION_ENDED"
    return list(got.preconditions)


def new_viewer(mesh: PlaybackMesh) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A fresh user's main profile and the metadata the front door would send for it."""
    profile = mesh.user() + "/profiles/main"
    return profile, identity(profile)


async def start_movie(
    stub: playback_pb2_grpc.PlaybackServiceStub,
    mesh: PlaybackMesh,
    profile: str,
    meta: tuple[tuple[str, str], ...],
) -> pb.PlaybackSession:
    return (
        await stub.StartPlayback(start_request(profile, mesh.movie.title), metadata=meta)
    ).session


async def test_answered_before_the_write_and_written_by_the_drain(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    profile, meta = new_viewer(mesh)
    async with replica(mesh, flush_interval_s=HOUR) as (run, stub):
        session = await start_movie(stub, mesh, profile, meta)
        before = datetime.now(UTC).replace(tzinfo=None)
        beat = await stub.Heartbeat(
            pb.HeartbeatRequest(session=session.name, position=at(1.75)),
            metadata=meta,
            timeout=20,  # the flush window is an hour: only a write-behind answer comes back
        )
        lease = timedelta(seconds=mesh.settings.lease_s)
        assert beat.expire_time.ToDatetime() >= before + lease
        assert seconds(beat.heartbeat_interval) == 10.0
        assert await stored_position(run, session.name) == 0.0  # not written yet
    # The server drained (what SIGTERM does after the gRPC drain): the heartbeat was written.
    point = await mesh.playback.GetResumePoint(
        pb.GetResumePointRequest(profile=profile, title=mesh.movie.title), metadata=meta
    )
    assert seconds(point.resume_point.position) == 1.75


async def test_sigterm_writes_the_answered_heartbeats(pb_mesh: PlaybackMesh) -> None:
    """The process as deployed (`python -m services.playback`, an hour's flush window): a
    heartbeat answered before its write is in the database once SIGTERM's drain is over."""
    mesh = pb_mesh
    profile, meta = new_viewer(mesh)
    session = await mesh.playback.StartPlayback(
        start_request(profile, mesh.movie.title), metadata=meta
    )
    name = session.session.name
    grpc_port, http_port = free_port(), free_port()
    runtime = mesh.settings.runtime
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen' / 'python'}",
        "VOD_DATABASE_URL": runtime.database_url,
        "VOD_NATS_URL": runtime.nats_url,
        "VOD_PLAYBACK_SCHEMA": mesh.settings.schema,
        "VOD_PLAYBACK_GRPC_ADDRESS": f"127.0.0.1:{grpc_port}",
        "VOD_PLAYBACK_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "VOD_PLAYBACK_HTTP_ADDRESS": f"127.0.0.1:{http_port}",
        "VOD_PLAYBACK_SECRET": secrets.token_urlsafe(32),
        "VOD_EDGE_SECRET": secrets.token_urlsafe(32),
        "VOD_PLAYBACK_FLUSH_S": str(HOUR),
        # A short write-behind margin (the heartbeat interval): however long the start takes,
        # the session's stored lease (30 s from its start) is well ahead of the answer.
        "VOD_PLAYBACK_HEARTBEAT_S": "2",
        "VOD_PLAYBACK_SWEEP_S": str(HOUR),
        "VOD_DRAIN_GRACE_S": "0.5",
        "VOD_LOG_LEVEL": "WARNING",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.playback", env=env, cwd=ROOT
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = playback_pb2_grpc.PlaybackServiceStub(channel)

            async def answered() -> pb.HeartbeatResponse | None:
                try:
                    return await stub.Heartbeat(
                        pb.HeartbeatRequest(session=name, position=at(2.75)),
                        metadata=meta,
                        timeout=5,
                    )
                except grpc.aio.AioRpcError as exc:
                    assert exc.code() == grpc.StatusCode.UNAVAILABLE  # not listening yet
                    return None

            await wait_for(answered, timeout=60, every=0.2)
        assert await stored_position(mesh.running, name) == 0.0  # answered, not written
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=60) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert await stored_position(mesh.running, name) == 2.75
    point = await mesh.playback.GetResumePoint(
        pb.GetResumePointRequest(profile=profile, title=mesh.movie.title), metadata=meta
    )
    assert seconds(point.resume_point.position) == 2.75


async def test_readers_and_stops_see_their_own_heartbeats(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    profile, meta = new_viewer(mesh)
    async with replica(mesh, flush_interval_s=HOUR) as (run, stub):
        session = await start_movie(stub, mesh, profile, meta)
        await stub.Heartbeat(
            pb.HeartbeatRequest(session=session.name, position=at(2.25)), metadata=meta
        )
        assert await stored_position(run, session.name) == 0.0
        point = await stub.GetResumePoint(
            pb.GetResumePointRequest(profile=profile, title=mesh.movie.title),
            metadata=meta,
            timeout=20,
        )
        assert seconds(point.resume_point.position) == 2.25
        listed = await stub.ListContinueWatching(
            pb.ListContinueWatchingRequest(profile=profile), metadata=meta, timeout=20
        )
        assert [seconds(p.position) for p in listed.resume_points] == [2.25]
        # Another device starting the title resumes at the last heartbeat, answered or written.
        await stub.Heartbeat(
            pb.HeartbeatRequest(session=session.name, position=at(3.5)), metadata=meta
        )
        tablet = (
            await stub.StartPlayback(
                start_request(profile, mesh.movie.title, device_id="tablet"),
                metadata=meta,
                timeout=20,
            )
        ).session
        assert seconds(tablet.resume_position) == 3.5
        await stub.Heartbeat(
            pb.HeartbeatRequest(session=session.name, position=at(3.0)), metadata=meta
        )
        # A stop without a position ends at the last heartbeat's.
        stopped = await stub.StopPlayback(
            pb.StopPlaybackRequest(session=session.name), metadata=meta, timeout=20
        )
        assert seconds(stopped.resume_point.position) == 3.0
        assert await refused(stub, session.name, meta, 3.25) == ["SESSION_STOPPED"]
        assert await stored_position(run, session.name) == 3.0


async def test_a_replacing_start_refuses_the_old_sessions_heartbeats(
    pb_mesh: PlaybackMesh,
) -> None:
    mesh = pb_mesh
    profile = mesh.user("plans/basic") + "/profiles/main"
    meta = identity(profile, plan="plans/basic")
    async with replica(mesh, flush_interval_s=HOUR) as (_run, stub):
        first = (
            await stub.StartPlayback(
                start_request(profile, mesh.movie.title, device_id="tv"), metadata=meta
            )
        ).session
        await stub.Heartbeat(pb.HeartbeatRequest(session=first.name, position=at(1)), metadata=meta)
        second = (
            await stub.StartPlayback(
                start_request(profile, mesh.movie.title, device_id="tv"),
                metadata=meta,
                timeout=20,
            )
        ).session
        assert seconds(second.resume_position) == 1.0
        assert await refused(stub, first.name, meta, 1.5) == ["SESSION_STOPPED"]
        beat = await stub.Heartbeat(
            pb.HeartbeatRequest(session=second.name, position=at(2)), metadata=meta, timeout=20
        )
        assert beat.expire_time.ToDatetime() > second.expire_time.ToDatetime()


async def test_a_lease_near_its_end_waits_for_the_write(pb_mesh: PlaybackMesh) -> None:
    """Less than a heartbeat interval of stored lease left: the answer is the flush's. Past the
    stored lease: refused as expired, never revived by a write-behind answer."""
    mesh = pb_mesh
    profile, meta = new_viewer(mesh)
    async with replica(mesh, flush_interval_s=0.05, sweep_interval_s=HOUR) as (run, stub):
        session = await start_movie(stub, mesh, profile, meta)
        stored = session.expire_time.ToDatetime().replace(tzinfo=run.domain.clock().tzinfo)
        margin = timedelta(seconds=mesh.settings.write_behind_margin_s)
        real = run.domain.clock
        try:
            run.domain.clock = lambda: stored - margin / 2
            beat = await stub.Heartbeat(
                pb.HeartbeatRequest(session=session.name, position=at(1.5)),
                metadata=meta,
                timeout=20,
            )
            # Answered after the write: the database holds it, and the lease the flush wrote.
            assert await stored_position(run, session.name) == 1.5
            record = await run.domain.repository.get_session(session.name.removeprefix("sessions/"))
            assert record is not None
            assert beat.expire_time.ToDatetime() == record.expire_time.replace(tzinfo=None)
            assert record.expire_time == stored - margin / 2 + timedelta(
                seconds=mesh.settings.lease_s
            )
            run.domain.clock = lambda: record.expire_time + timedelta(seconds=1)
            assert await refused(stub, session.name, meta, 2.0) == ["SESSION_EXPIRED"]
            assert await stored_position(run, session.name) == 1.5
        finally:
            run.domain.clock = real


async def test_a_stop_through_another_replica(pb_mesh: PlaybackMesh) -> None:
    """The documented window: this replica learns of a stop made elsewhere from its next flush
    of the session; a heartbeat answered before that flush is answered as live."""
    mesh = pb_mesh
    profile, meta = new_viewer(mesh)
    async with replica(mesh, flush_interval_s=HOUR) as (run, stub):
        session = await start_movie(stub, mesh, profile, meta)
        await mesh.playback.StopPlayback(
            pb.StopPlaybackRequest(session=session.name, position=at(2.0)), metadata=meta
        )
        await stub.Heartbeat(
            pb.HeartbeatRequest(session=session.name, position=at(3.0)), metadata=meta, timeout=20
        )
        # Any flush of the session tells this replica (a reader of the user hurries one).
        await stub.GetResumePoint(
            pb.GetResumePointRequest(profile=profile, title=mesh.movie.title),
            metadata=meta,
            timeout=20,
        )
        assert await refused(stub, session.name, meta, 3.5) == ["SESSION_STOPPED"]
        assert await stored_position(run, session.name) == 2.0  # the late heartbeat was not


async def test_a_stop_through_a_sibling_process_is_seen_at_once(
    pb_mesh: PlaybackMesh, tmp_path: Path
) -> None:
    """Sibling processes on one port (VOD_PLAYBACK_PROCESSES) close that window: a stop bumps the
    session's shared write counter before it is answered, and a write-behind answer checks it."""
    mesh = pb_mesh
    profile, meta = new_viewer(mesh)
    counters = tmp_path / "versions.bin"
    SiblingVersions.create(counters, 2)
    async with (
        replica(mesh, flush_interval_s=HOUR) as (first, first_stub),
        # flushes as in production: the heartbeat after the stop takes the path that waits
        replica(mesh, flush_interval_s=0.05) as (second, second_stub),
    ):
        first.domain.siblings = SiblingVersions(counters, 2, 0)
        second.domain.siblings = SiblingVersions(counters, 2, 1)
        session = await start_movie(first_stub, mesh, profile, meta)
        for position in (1.0, 1.5):  # the second process knows it live: write-behind answers
            await second_stub.Heartbeat(
                pb.HeartbeatRequest(session=session.name, position=at(position)),
                metadata=meta,
                timeout=20,
            )
        await first_stub.StopPlayback(
            pb.StopPlaybackRequest(session=session.name, position=at(2.0)), metadata=meta
        )
        assert await refused(second_stub, session.name, meta, 3.0) == ["SESSION_STOPPED"]
        assert await stored_position(second, session.name) == 2.0


async def test_write_behind_off_answers_after_the_write(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    profile, meta = new_viewer(mesh)
    async with replica(mesh, write_behind=False) as (run, stub):
        session = await start_movie(stub, mesh, profile, meta)
        await stub.Heartbeat(
            pb.HeartbeatRequest(session=session.name, position=at(1.25)), metadata=meta
        )
        assert await stored_position(run, session.name) == 1.25


# -- the batcher alone: a flush that fails -------------------------------------------------------


async def test_a_failed_flush_keeps_answered_writes_and_fails_awaited_ones() -> None:
    """The batcher with a stand-in for the repository's batched write that fails once: the
    write-behind (answered) write is kept for the next flush, the awaited one gets UNAVAILABLE
    (its caller retries)."""
    calls: list[list[HeartbeatWrite]] = []
    fail = [True]
    written = asyncio.Event()

    async def apply(writes: list[HeartbeatWrite]) -> dict[str, datetime]:
        calls.append(list(writes))
        if fail[0]:
            fail[0] = False
            raise OSError("database went away")
        written.set()
        return {w.session: w.expire for w in writes}

    batcher = HeartbeatBatcher(apply, interval_s=HOUR, max_batch=2)
    batcher.start()
    try:
        batcher.enqueue(hb("a", "users/u", 1.0, True))
        awaited = batcher.submit(hb("b", "users/u", 2.0, True))  # fills the batch
        with pytest.raises(Unavailable):
            await awaited
        assert calls == [[hb("a", "users/u", 1.0, True), hb("b", "users/u", 2.0, True)]]
        batcher.enqueue(hb("c", "users/v", 3.0, True))  # fills it again: flush
        await written.wait()
        assert calls[1] == [
            hb("a", "users/u", 1.0, True),
            hb("c", "users/v", 3.0, True),
        ]
    finally:
        await batcher.close()
    assert len(calls) == 2


async def test_close_refuses_new_writes_and_flushes_the_gathered() -> None:
    calls: list[list[HeartbeatWrite]] = []

    async def apply(writes: list[HeartbeatWrite]) -> dict[str, datetime]:
        calls.append(list(writes))
        return {}

    batcher = HeartbeatBatcher(apply, interval_s=HOUR, max_batch=100)
    batcher.start()
    batcher.enqueue(hb("a", "users/u", 1.0, True))
    batcher.enqueue(hb("a", "users/u", 1.5, False))  # the newest of a session wins
    await batcher.close()
    assert calls == [[hb("a", "users/u", 1.5, False)]]
    with pytest.raises(Unavailable):
        batcher.enqueue(hb("a", "users/u", 2.0, True))
    with pytest.raises(Unavailable):
        await batcher.submit(hb("a", "users/u", 2.0, True))
