"""Distributed chunk encoding (`VOD_TRANSCODE_CHUNKS=distributed`): one job's chunks spread over
every worker, the way the job queue spreads jobs.

The worker that owns a job (its coordinator) plans the chunks as the local path does
(`pipeline.plan_chunks`) and, instead of running them itself, publishes one
`TranscodeChunkQueued` per chunk on the VOD_CHUNKS work-queue stream. A task carries everything
that decides the chunk's bytes (frames, fps, GOP, rungs, preset, encoder threads) plus the
source's object-store key, and every worker (the coordinator included) turns it into the same
ffmpeg command with `pipeline.chunk_args`, so a chunk's bytes do not depend on where it ran.

A chunk worker pulls tasks (durable pull consumer, explicit acks, at most `parallelism` at a
time), encodes with in-progress acks every third of `VOD_TRANSCODE_CHUNK_ACK_WAIT_S`, uploads the
outputs to `staging/<job>/<attempt>/chunks/<index>/<worker>-<token>/` and then a `done.json`
marker there, tells the coordinator (`TranscodeChunkStatus` DONE) and acks. A worker killed
mid-chunk never acks: JetStream hands the task to another worker after the ack-wait. Every
execution writes under a prefix of its own, so a chunk done twice (a slow worker finishing after
its task was redelivered) never overwrites anything; the coordinator takes the first DONE of each
chunk and ignores the rest. Tasks of a job attempt that is no longer running (cancelled,
finished, or superseded by a redelivered job) are acked unrun.

How the coordinator learns a chunk is done: a notification on core NATS
(`vod.jobs.chunk_status.<job>.<attempt>`), so it reacts within milliseconds without polling; the
object store is the record, so if a notification is lost (the coordinator's connection
reconnecting) a scan of the chunk prefix for `done.json` markers every `poll_s` finds the chunk
anyway. Polling the store alone would cost a LIST per second per running job on S3 and add up to
a poll interval per chunk; a JetStream stream for completions would be a second durable queue to
clean up for a message that only the coordinator, only during this attempt, cares about.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import nats
from google.protobuf.message import DecodeError
from nats.js import JetStreamContext, api
from vod.events.v1 import media_events_pb2 as ev
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.runtime.events import consumer_span, dead_letter, new_meta, subject_of, trace_headers
from services.runtime.logs import get_logger
from services.transcoding.config import TranscodingSettings
from services.transcoding.deps import ensure_work_queue
from services.transcoding.ladder import Rung
from services.transcoding.media import FfmpegError
from services.transcoding.pipeline import (
    ChunkEncoder,
    ChunkProgressFn,
    ChunkSpec,
    encode_chunk,
)
from services.transcoding.repository import Repository
from services.transcoding.store import ObjectStore, layout

__all__ = [
    "CHUNKS_SUBJECT",
    "DONE_MARKER",
    "STATUS_SUBJECT",
    "ChunkCoordinator",
    "ChunkWorker",
    "chunks_prefix",
    "ensure_chunks_stream",
    "spec_of",
    "status_subject",
    "task_of",
]

_log = get_logger("chunks")

CHUNKS_SUBJECT = subject_of(ev.TranscodeChunkQueued)
STATUS_SUBJECT = subject_of(ev.TranscodeChunkStatus)
DONE_MARKER = "done.json"


def status_subject(job_id: str, attempt: int) -> str:
    """Where the chunk notifications of one job attempt go (job ids are NATS-token safe)."""
    return f"{STATUS_SUBJECT}.{job_id}.{attempt}"


def chunks_prefix(job_id: str, attempt: int) -> str:
    """The chunk outputs of one job attempt (under its staging prefix: cleaned up with it)."""
    return f"{layout.staging(job_id, attempt)}chunks/"


async def ensure_chunks_stream(js: JetStreamContext, settings: TranscodingSettings) -> None:
    """The durable work-queue stream of chunk tasks: each kept until one worker acks it."""
    await ensure_work_queue(js, settings.chunks_stream, CHUNKS_SUBJECT)


def task_of(
    spec: ChunkSpec,
    *,
    job_id: str,
    attempt: int,
    coordinator: str,
    source_key: str,
) -> ev.TranscodeChunkQueued:
    task = ev.TranscodeChunkQueued(
        meta=new_meta("transcoding"),
        job=f"jobs/{job_id}",
        attempt=attempt,
        coordinator=coordinator,
        index=spec.index,
        first_frame=spec.first_frame,
        frame_count=spec.frames,
        fps=spec.fps,
        gop=spec.gop,
        preset=spec.preset,
        threads=spec.threads,
        source_key=source_key,
        result_prefix=chunks_prefix(job_id, attempt),
    )
    for rung in spec.rungs:
        item = task.rungs.add(
            width=rung.width, height=rung.height, bitrate_bps=rung.bitrate, codec=rung.codec
        )
        if rung.crf is not None:
            item.crf = rung.crf
    return task


def spec_of(task: ev.TranscodeChunkQueued) -> ChunkSpec:
    """The chunk a task describes: `spec_of(task_of(spec, ...)) == spec`."""
    rungs = tuple(
        Rung(
            r.height,
            r.width,
            r.bitrate_bps,
            r.codec or pb.VIDEO_CODEC_H264,
            r.crf if r.HasField("crf") else None,
        )
        for r in task.rungs
    )
    return ChunkSpec(
        task.index,
        task.first_frame,
        task.frame_count,
        task.fps,
        task.gop,
        rungs,
        task.preset,
        task.threads,
    )


class ChunkCoordinator:
    """The coordinator's side: queue a job attempt's chunks, wait for them, fetch the outputs."""

    def __init__(
        self,
        nc: nats.NATS,
        js: JetStreamContext,
        store: ObjectStore,
        *,
        name: str,
        poll_s: float = 2.0,
    ) -> None:
        self._nc = nc
        self._js = js
        self._store = store
        self._name = name
        self._poll_s = poll_s
        self.encoded_by: dict[str, dict[int, str]] = {}
        """job id -> chunk index -> the worker whose output was used (last attempt run here)."""

    def encoder(self, *, job_id: str, attempt: int, source_key: str) -> ChunkEncoder:
        """A `pipeline.ChunkEncoder` running this job attempt's chunks on the chunk queue."""

        async def run(
            source: str, specs: Sequence[ChunkSpec], work: Path, progress: ChunkProgressFn
        ) -> None:
            del source  # workers read the source from the store, by key
            await self._run(job_id, attempt, source_key, specs, work, progress)

        return run

    async def _run(
        self,
        job_id: str,
        attempt: int,
        source_key: str,
        specs: Sequence[ChunkSpec],
        work: Path,
        progress: ChunkProgressFn,
    ) -> None:
        prefix = chunks_prefix(job_id, attempt)
        inbox: asyncio.Queue[ev.TranscodeChunkStatus] = asyncio.Queue()

        async def on_status(msg: Any) -> None:
            with suppress(DecodeError):
                inbox.put_nowait(ev.TranscodeChunkStatus.FromString(msg.data))

        sub = await self._nc.subscribe(status_subject(job_id, attempt), cb=on_status)
        began = time.monotonic()
        try:
            await self._nc.flush()  # subscribed at the server before any task can finish
            for spec in specs:
                task = task_of(
                    spec,
                    job_id=job_id,
                    attempt=attempt,
                    coordinator=self._name,
                    source_key=source_key,
                )
                payload = task.SerializeToString()
                await self._js.publish(
                    CHUNKS_SUBJECT,
                    payload,
                    headers={
                        **trace_headers(payload),
                        "Nats-Msg-Id": f"chunk:{job_id}:{attempt}:{spec.index}",
                    },
                )
            pending = {spec.index: spec for spec in specs}
            used: dict[int, str] = {}
            while pending:
                try:
                    found = [await asyncio.wait_for(inbox.get(), self._poll_s)]
                except TimeoutError:  # a lost notification must not hang the job: ask the store
                    found = await asyncio.to_thread(self._scan, job_id, attempt, prefix, pending)
                for status in found:
                    if status.index not in pending:
                        continue  # a duplicate completion: the first one was taken
                    if status.state == ev.CHUNK_STATE_FAILED:
                        raise FfmpegError(
                            [], 1, f"chunk {status.index} on {status.worker}: {status.error}"
                        )
                    if status.state != ev.CHUNK_STATE_DONE:
                        continue
                    spec = pending.pop(status.index)
                    await asyncio.to_thread(self._fetch, status.result_prefix, spec, work)
                    used[spec.index] = status.worker
                    progress(spec.index, spec.frames)
            self.encoded_by[job_id] = used
            _log.info(
                "job.chunks_done",
                job=f"jobs/{job_id}",
                attempt=attempt,
                chunks=len(specs),
                seconds=round(time.monotonic() - began, 3),
                workers={w: sum(1 for v in used.values() if v == w) for w in set(used.values())},
            )
        finally:
            with suppress(Exception):
                await sub.unsubscribe()
            with suppress(Exception):
                await asyncio.to_thread(self._store.delete_prefix, prefix)

    def _scan(
        self, job_id: str, attempt: int, prefix: str, pending: dict[int, ChunkSpec]
    ) -> list[ev.TranscodeChunkStatus]:
        """DONE statuses rebuilt from the `done.json` markers of the pending chunks."""
        found: dict[int, ev.TranscodeChunkStatus] = {}
        for key in self._store.list(prefix):
            rest = key[len(prefix) :].split("/")
            if len(rest) != 3 or rest[2] != DONE_MARKER or not rest[0].isdigit():
                continue
            index = int(rest[0])
            if index not in pending or index in found:
                continue
            marker = json.loads(self._store.get_bytes(key))
            found[index] = ev.TranscodeChunkStatus(
                job=f"jobs/{job_id}",
                attempt=attempt,
                index=index,
                worker=str(marker.get("worker", "")),
                state=ev.CHUNK_STATE_DONE,
                result_prefix=key.removesuffix(DONE_MARKER),
            )
        return list(found.values())

    def _fetch(self, result_prefix: str, spec: ChunkSpec, work: Path) -> None:
        work.mkdir(parents=True, exist_ok=True)
        for rung in spec.rungs:
            target = spec.output(work, rung)
            self._store.download(result_prefix + target.name, target)


class _Sources:
    """Local copies of sources for encoders that seek (a remote store's objects are URLs); the
    two most recently used are kept."""

    def __init__(self, store: ObjectStore, folder: Path, keep: int = 2) -> None:
        self._store = store
        self._folder = folder
        self._keep = keep
        self._paths: OrderedDict[str, Path] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def path(self, key: str) -> str:
        url = await asyncio.to_thread(self._store.reader_url, key)
        if Path(url).is_file():
            return url
        async with self._locks.setdefault(key, asyncio.Lock()):
            if key in self._paths:
                self._paths.move_to_end(key)
                return str(self._paths[key])
            local = self._folder / hashlib.sha256(key.encode()).hexdigest()[:32]
            local.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(self._store.download, key, local)
            self._paths[key] = local
            while len(self._paths) > self._keep:
                _, old = self._paths.popitem(last=False)
                old.unlink(missing_ok=True)  # a chunk still reading it keeps its open file
            return str(local)

    def clear(self) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)
        self._paths.clear()


class ChunkWorker:
    """A worker's side: pull chunk tasks, encode, store the outputs, notify, ack."""

    def __init__(
        self,
        settings: TranscodingSettings,
        repo: Repository,
        store: ObjectStore,
        nc: nats.NATS,
        js: JetStreamContext,
        *,
        name: str,
        ffmpeg: str,
        concurrency: int,
    ) -> None:
        self._settings = settings
        self._repo = repo
        self._store = store
        self._nc = nc
        self._js = js
        self.name = name
        self._ffmpeg = ffmpeg
        self._concurrency = max(1, concurrency)
        self._scratch = settings.scratch_dir / f"chunks-{name}"
        self._sources = _Sources(store, self._scratch / "sources")

    async def run(self, stop: asyncio.Event) -> None:
        await ensure_chunks_stream(self._js, self._settings)
        sub = await self._js.pull_subscribe(
            CHUNKS_SUBJECT,
            durable=self._settings.chunks_durable,
            stream=self._settings.chunks_stream,
            config=api.ConsumerConfig(
                ack_wait=self._settings.chunk_ack_wait_s,
                max_deliver=-1,
                ack_policy=api.AckPolicy.EXPLICIT,
            ),
        )
        running: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                free = self._concurrency - len(running)
                if free <= 0:
                    stopper = asyncio.create_task(stop.wait())
                    await asyncio.wait({*running, stopper}, return_when=asyncio.FIRST_COMPLETED)
                    stopper.cancel()
                    continue
                try:
                    messages = await sub.fetch(free, timeout=1.0)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                except Exception as exc:  # connection hiccups: keep going
                    _log.warning("chunks.fetch_failed", worker=self.name, error=str(exc))
                    await asyncio.sleep(0.5)
                    continue
                for msg in messages:
                    handler = asyncio.create_task(self._handle_traced(msg))
                    running.add(handler)
                    handler.add_done_callback(running.discard)
        finally:  # shutting down: running chunks are nak'ed, so another worker takes them now
            for handler in list(running):
                handler.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            self._sources.clear()

    async def _handle_traced(self, msg: Any) -> None:
        with consumer_span(msg.subject, msg.headers, durable=self._settings.chunks_durable):
            await self._handle(msg)

    async def _current(self, job_id: str, attempt: int) -> bool:
        """Whether the task's job attempt is still the one running (else nobody waits for it)."""
        job = await self._repo.get_job(job_id)
        return (
            job is not None and job.state == pb.JOB_STATE_RUNNING and job.attempt_count == attempt
        )

    async def _status(self, task: ev.TranscodeChunkQueued, state: int, **fields: Any) -> None:
        job_id = task.job.removeprefix("jobs/")
        status = ev.TranscodeChunkStatus(
            meta=new_meta("transcoding"),
            job=task.job,
            attempt=task.attempt,
            index=task.index,
            worker=self.name,
            state=state,  # type: ignore[arg-type]
            coordinator=task.coordinator,
            **fields,
        )
        await self._nc.publish(status_subject(job_id, task.attempt), status.SerializeToString())
        await self._nc.flush()

    async def _keep_alive(self, msg: Any) -> None:
        every = max(0.2, self._settings.chunk_ack_wait_s / 3)
        while True:
            await asyncio.sleep(every)
            with suppress(Exception):
                await msg.in_progress()

    async def _handle(self, msg: Any) -> None:
        try:
            task = ev.TranscodeChunkQueued.FromString(msg.data)
        except DecodeError:  # poison: no worker could ever run it
            await dead_letter(
                self._js, msg, durable=self._settings.chunks_durable, reason="undecodable"
            )
            return
        job_id = task.job.removeprefix("jobs/")
        spec = spec_of(task)
        token = f"{self.name}-{uuid.uuid4().hex[:8]}"
        result = f"{task.result_prefix}{spec.index:04d}/{token}/"
        folder = self._scratch / f"{job_id}-{task.attempt}-{spec.index:04d}-{token}"
        beat = asyncio.create_task(self._keep_alive(msg))
        try:
            if not await self._current(job_id, task.attempt):
                await msg.ack()
                _log.info("chunk.stale", job=task.job, attempt=task.attempt, index=spec.index)
                return
            await self._status(task, ev.CHUNK_STATE_STARTED)
            source = await self._sources.path(task.source_key)
            began = time.monotonic()
            files = await encode_chunk(self._ffmpeg, spec, source, folder)
            seconds = time.monotonic() - began
            for path in files:
                await asyncio.to_thread(self._store.put_file, result + path.name, path)
            marker = {"worker": self.name, "index": spec.index, "seconds": round(seconds, 3)}
            await asyncio.to_thread(
                self._store.put_bytes,
                result + DONE_MARKER,
                json.dumps(marker).encode(),
                "application/json",
            )
            await self._status(
                task, ev.CHUNK_STATE_DONE, result_prefix=result, encode_seconds=seconds
            )
            await msg.ack()
            _log.info(
                "chunk.done",
                job=task.job,
                attempt=task.attempt,
                index=spec.index,
                worker=self.name,
                seconds=round(seconds, 3),
            )
            if not await self._current(job_id, task.attempt):  # too late: nobody will clean it
                await asyncio.to_thread(self._store.delete_prefix, result)
        except asyncio.CancelledError:
            with suppress(Exception):
                await msg.nak()
            raise
        except FfmpegError as exc:  # the same input fails the same way anywhere: fail the attempt
            with suppress(Exception):
                await self._status(task, ev.CHUNK_STATE_FAILED, error=exc.tail.strip()[-1500:])
            await msg.ack()
        except Exception as exc:  # noqa: BLE001 - store or database blips: let it be redone
            _log.warning("chunk.failed", job=task.job, index=spec.index, error=str(exc)[:500])
            with suppress(Exception):
                await msg.nak(delay=1.0)
        finally:
            beat.cancel()
            with suppress(asyncio.CancelledError):
                await beat
            shutil.rmtree(folder, ignore_errors=True)
