"""Distributed chunks (`VOD_TRANSCODE_CHUNKS=distributed`): one job's chunks encoded by two worker
processes give the same published bytes as the job run locally in one worker, both workers
encode chunks, and a worker SIGKILLed while it holds a chunk has that chunk redone by the other
worker (the job's single attempt still succeeds).

Which worker encoded which chunk is read from the chunk notifications the workers send the
coordinator (`TranscodeChunkStatus` on `vod.jobs.chunk_status.<job>.<attempt>`)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import nats
import pytest
from nats.js.errors import NotFoundError
from vod.events.v1 import media_events_pb2 as ev
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.transcoding.chunks import STATUS_SUBJECT, spec_of, task_of
from services.transcoding.config import TranscodingSettings, load_settings
from services.transcoding.ladder import Rung
from services.transcoding.pipeline import ChunkSpec, EncodeConfig, chunk_args, plan_chunks
from services.transcoding.server import Running
from tests.transcoding.conftest import worker_env
from tests.transcoding.helpers import FFMPEG, create_job, make_video, upload, wait_job

ROOT = Path(__file__).resolve().parents[2]
TITLE = "dist"
SECONDS = 12  # 6 chunks of one 2 s GOP each (VOD_TRANSCODE_CHUNK_SECONDS=2)
CHUNKS = 6
T = TypeVar("T")


def start_worker(
    settings: TranscodingSettings, log: Path, name: str, mode: str
) -> subprocess.Popen[bytes]:
    env = {
        **worker_env(settings),
        "VOD_TRANSCODE_WORKER_NAME": name,
        "VOD_TRANSCODE_CHUNKS": mode,
        "VOD_TRANSCODE_CHUNK_SECONDS": "2",
        "VOD_TRANSCODE_CHUNK_ACK_WAIT_S": "2",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.transcoding.worker"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


@contextmanager
def workers(
    settings: TranscodingSettings, folder: Path, mode: str, *names: str
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    procs = {name: start_worker(settings, folder / f"{name}.log", name, mode) for name in names}
    try:
        yield procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            proc.wait(30)


class Statuses:
    """Every chunk notification of one job, in the order NATS delivered them."""

    def __init__(self) -> None:
        self.seen: list[ev.TranscodeChunkStatus] = []
        self._changed = asyncio.Event()

    def add(self, status: ev.TranscodeChunkStatus) -> None:
        self.seen.append(status)
        self._changed.set()

    async def until(self, find: Callable[[], T | None], timeout: float) -> T:
        async with asyncio.timeout(timeout):
            while (found := find()) is None:
                self._changed.clear()
                await self._changed.wait()
        return found

    def done(self) -> list[ev.TranscodeChunkStatus]:
        return [s for s in self.seen if s.state == ev.CHUNK_STATE_DONE]

    def first_done(self) -> dict[int, str]:
        """Chunk index -> the worker of its first DONE (the one the coordinator takes)."""
        first: dict[int, str] = {}
        for status in self.done():
            first.setdefault(status.index, status.worker)
        return first


async def pulling(settings: TranscodingSettings, count: int) -> None:
    """Until `count` chunk pull requests wait on the chunk consumer: the workers are up, so
    neither takes every chunk only because the other was still starting."""
    nc = await nats.connect(settings.runtime.nats_url)
    js = nc.jetstream()
    try:
        async with asyncio.timeout(60):
            while True:
                try:
                    info = await js.consumer_info(settings.chunks_stream, settings.chunks_durable)
                    if (info.num_waiting or 0) >= count:
                        return
                except NotFoundError:
                    pass
                await asyncio.sleep(0.05)  # polling the condition, not waiting out a guess
    finally:
        await nc.close()


@asynccontextmanager
async def statuses(nats_url: str, job_id: str) -> AsyncIterator[Statuses]:
    nc = await nats.connect(nats_url)
    record = Statuses()

    async def on_message(msg: Any) -> None:
        record.add(ev.TranscodeChunkStatus.FromString(msg.data))

    await nc.subscribe(f"{STATUS_SUBJECT}.{job_id}.>", cb=on_message)
    await nc.flush()
    try:
        yield record
    finally:
        await nc.close()


@pytest.fixture(scope="module")
def dist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("distributed")


@pytest.fixture(scope="module")
async def source(tc, dist_root: Path) -> pb.Upload:  # type: ignore[no-untyped-def]
    clip = make_video(dist_root / "dist.mp4", seconds=SECONDS, size="640x360")
    return await upload(tc, clip, f"titles/{TITLE}", "dist-src", chunk_size=1024 * 1024)


@pytest.fixture(scope="module")
async def local_job(  # type: ignore[no-untyped-def]
    tc, tc_settings: TranscodingSettings, source: pb.Upload, dist_root: Path
) -> pb.Job:
    """The reference: the same job, chunks encoded locally by one worker (today's path)."""
    with workers(tc_settings, dist_root, "local", "solo"):
        job = await create_job(tc, source.name, "dist-local")
        job, _ = await wait_job(tc, job.name, timeout=240)
    assert job.state == pb.JOB_STATE_SUCCEEDED, job.error.message
    return job


def published(running: Running, job: pb.Job) -> dict[str, bytes]:
    """Relative key -> bytes of every published rendition file of a job."""
    prefix = f"titles/{TITLE}/renditions/{job.name.removeprefix('jobs/')}/"
    store = running.store
    return {key[len(prefix) :]: store.get_bytes(key) for key in store.list(prefix)}


def extinf(running: Running, job: pb.Job, rendition: str) -> list[float]:
    media = job.name.removeprefix("jobs/")
    text = running.store.get_bytes(f"titles/{TITLE}/manifests/{media}/{rendition}.m3u8").decode()
    return [float(v) for v in re.findall(r"#EXTINF:([0-9.]+),", text)]


def keyframes(files: dict[str, bytes], rendition: str, folder: Path) -> tuple[list[float], int]:
    """(keyframe times, frame count) of a published video rendition, decoded by ffmpeg."""
    joined = folder / f"{rendition}.mp4"
    names = sorted(n for n in files if n.startswith(f"{rendition}/") and n.endswith(".m4s"))
    joined.write_bytes(files[f"{rendition}/init.mp4"] + b"".join(files[n] for n in names))
    shown = subprocess.run(
        [FFMPEG, "-hide_banner", "-i", str(joined), "-vf", "showinfo", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    frames = re.findall(r"pts_time:\s*([0-9.]+).*?iskey:(\d)", shown)
    return [round(float(t), 3) for t, key in frames if key == "1"], len(frames)


def assert_same_output(running: Running, job: pb.Job, reference: pb.Job, folder: Path) -> None:
    assert [r.id for r in job.renditions] == [r.id for r in reference.renditions]
    mine, theirs = published(running, job), published(running, reference)
    assert sorted(mine) == sorted(theirs)
    different = [name for name in sorted(mine) if mine[name] != theirs[name]]
    assert different == []  # byte-identical segments: same chunk bytes, same boundaries
    for rendition in job.renditions:
        assert extinf(running, job, rendition.id) == [6.0, 6.0]
        assert extinf(running, reference, rendition.id) == [6.0, 6.0]
        keys, count = keyframes(mine, rendition.id, folder)
        assert keys == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]  # every chunk starts on a 2 s keyframe
        assert count == SECONDS * 25


async def test_two_workers_share_one_jobs_chunks_with_identical_output(
    tc,  # type: ignore[no-untyped-def]
    tc_service: Running,
    tc_settings: TranscodingSettings,
    source: pb.Upload,
    local_job: pb.Job,
    dist_root: Path,
    tmp_path: Path,
) -> None:
    async with statuses(tc_settings.runtime.nats_url, "dist-spread") as record:
        with workers(tc_settings, dist_root, "distributed", "alpha", "beta"):
            await pulling(tc_settings, 2)
            job = await create_job(tc, source.name, "dist-spread")
            job, progress = await wait_job(tc, job.name, timeout=240)
    assert job.state == pb.JOB_STATE_SUCCEEDED, job.error.message
    assert job.attempt_count == 1
    assert any(p.message.endswith("chunks (distributed)") for p in progress)
    done = record.done()
    assert sorted(s.index for s in done) == list(range(CHUNKS))  # each chunk encoded once
    assert {s.worker for s in done} == {"alpha", "beta"}  # by both workers
    coordinators = {s.coordinator for s in record.seen}
    assert len(coordinators) == 1 and coordinators <= {"alpha", "beta"}
    assert_same_output(tc_service, job, local_job, tmp_path)
    assert tc_service.store.list("staging/dist-spread/") == []


def helper_started(record: Statuses) -> ev.TranscodeChunkStatus | None:
    """The first chunk a worker other than the job's coordinator reported starting."""
    return next(
        (s for s in record.seen if s.state == ev.CHUNK_STATE_STARTED and s.worker != s.coordinator),
        None,
    )


async def test_sigkilled_worker_chunk_is_redone_by_the_other_worker(
    tc,  # type: ignore[no-untyped-def]
    tc_service: Running,
    tc_settings: TranscodingSettings,
    source: pb.Upload,
    local_job: pb.Job,
    dist_root: Path,
    tmp_path: Path,
) -> None:
    async with statuses(tc_settings.runtime.nats_url, "dist-kill") as record:
        with workers(tc_settings, dist_root, "distributed", "gamma", "delta") as procs:
            await pulling(tc_settings, 2)
            job = await create_job(tc, source.name, "dist-kill")

            held = await record.until(lambda: helper_started(record), timeout=120)
            victim = procs[held.worker]
            os.kill(victim.pid, signal.SIGKILL)  # holding chunk `held.index`: no ack, no cleanup
            victim.wait(10)
            job, _ = await wait_job(tc, job.name, timeout=240)
    assert job.state == pb.JOB_STATE_SUCCEEDED, job.error.message
    assert job.attempt_count == 1  # the coordinator lived: only the chunk was redone
    first = record.first_done()
    assert sorted(first) == list(range(CHUNKS))
    assert first[held.index] == held.coordinator
    assert not any(s.worker == held.worker and s.index == held.index for s in record.done())
    redone = [
        s.worker for s in record.seen if s.index == held.index and s.state == ev.CHUNK_STATE_STARTED
    ]
    assert redone == [held.worker, held.coordinator]
    assert_same_output(tc_service, job, local_job, tmp_path)
    assert tc_service.store.list("staging/dist-kill/") == []


async def test_a_chunk_finished_twice_is_harmless(
    tc,  # type: ignore[no-untyped-def]
    tc_service: Running,
    tc_settings: TranscodingSettings,
    source: pb.Upload,
    local_job: pb.Job,
    dist_root: Path,
    tmp_path: Path,
) -> None:
    """A worker frozen (SIGSTOP) while it holds a chunk stops its in-progress acks: the chunk is
    redelivered and done by the coordinator; thawed (SIGCONT), the slow worker finishes its copy
    too. The coordinator keeps the first, the output is still the local run's, and the late copy
    does not outlive the job in the store."""
    async with statuses(tc_settings.runtime.nats_url, "dist-twice") as record:
        with workers(tc_settings, dist_root, "distributed", "eta", "theta") as procs:
            await pulling(tc_settings, 2)
            job = await create_job(tc, source.name, "dist-twice")

            held = await record.until(lambda: helper_started(record), timeout=120)
            slow = procs[held.worker]
            os.kill(slow.pid, signal.SIGSTOP)
            try:
                await record.until(
                    lambda: next((s for s in record.done() if s.index == held.index), None),
                    timeout=120,
                )
            finally:
                os.kill(slow.pid, signal.SIGCONT)
            late = await record.until(
                lambda: next(
                    (s for s in record.done() if s.index == held.index and s.worker == held.worker),
                    None,
                ),
                timeout=120,
            )
            job, _ = await wait_job(tc, job.name, timeout=240)
            async with asyncio.timeout(30):  # the late copy removes itself once the job is done
                while tc_service.store.list("staging/dist-twice/"):
                    await asyncio.sleep(0.05)
    assert job.state == pb.JOB_STATE_SUCCEEDED, job.error.message
    assert job.attempt_count == 1
    twice = [s for s in record.done() if s.index == held.index]
    assert [s.worker for s in twice] == [held.coordinator, held.worker]  # the coordinator's first
    assert twice[1] == late and twice[0].result_prefix != late.result_prefix  # never overwritten
    assert sorted(record.first_done()) == list(range(CHUNKS))
    assert_same_output(tc_service, job, local_job, tmp_path)


def test_a_chunk_task_carries_everything_that_decides_the_chunk() -> None:
    ladder = [
        Rung(720, 1280, 0, pb.VIDEO_CODEC_H264, 23.5),  # per-title: capped CRF
        Rung(360, 640, 800_000, pb.VIDEO_CODEC_H265),
    ]
    specs = plan_chunks(ladder, 29.97, 60, 1000, EncodeConfig("ffmpeg", parallelism=3))
    assert [(s.first_frame, s.frames) for s in specs] == [
        (0, 180),
        (180, 180),
        (360, 180),
        (540, 180),
        (720, 180),
        (900, 100),
    ]
    for spec in specs:
        task = task_of(spec, job_id="j1", attempt=2, coordinator="w", source_key="k")
        back = spec_of(ev.TranscodeChunkQueued.FromString(task.SerializeToString()))
        assert back == spec
        folder = Path("/x")
        assert chunk_args(back, "/src.mp4", folder) == chunk_args(spec, "/src.mp4", folder)
    assert isinstance(specs[0], ChunkSpec) and task.result_prefix == "staging/j1/2/chunks/"


def test_chunk_mode_is_local_unless_set_and_checked() -> None:
    assert load_settings({}).chunk_mode == "local"
    chosen = load_settings({"VOD_TRANSCODE_CHUNKS": "distributed"})
    assert chosen.chunk_mode == "distributed"
    with pytest.raises(ValueError, match="VOD_TRANSCODE_CHUNKS must be one of local, distributed"):
        load_settings({"VOD_TRANSCODE_CHUNKS": "everywhere"})
