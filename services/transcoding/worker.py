"""Transcode workers: `python -m services.transcoding.worker` (also `vod worker transcode`).

A worker pulls one job at a time from the VOD_JOBS work-queue stream (durable pull consumer,
explicit acks, ack-wait with in-progress acks every third of it while the job runs). A worker
killed with SIGKILL stops acking, so after ack-wait JetStream redelivers the job to another
worker. Output is never written where it could be seen half-done: each attempt encodes into a
scratch folder, uploads to `staging/<job>/<attempt>/`, moves that into the title's published
prefixes and only then commits the media asset row (the origin serves nothing without it) with
the job's SUCCEEDED state and its events, all in one transaction. A failed attempt is retried
with exponential backoff (nak with delay) until `max_attempts`, then the job is FAILED with the
ffmpeg error; a job whose audio sidecar has no audio stream (`SidecarError`) fails at once,
since every attempt would fail the same way. A cancelled job is noticed within a second:
ffmpeg is killed and staging deleted.
With `VOD_TRANSCODE_CHUNKS=distributed` a job's chunk encodes are spread over all workers: the
worker running the job queues one task per chunk and joins the results, and every worker pulls
chunk tasks alongside jobs (`services.transcoding.chunks`).
A job message that does not decode is dead-lettered (`events.dead_letter`: copied to
`vod.dlq.vod.jobs.transcode`, counted, logged, terminated) instead of being redelivered forever.

Encrypted jobs take their content keys from licensing (`LicensingKeyProvider` over one channel
opened at start-up to `VOD_LICENSING_ADDRESS`, with `VOD_PACKAGER_SECRET` as `x-vod-packager`);
every attempt of a job fetches the same keys (created once per media asset and track class), so a
redelivered job never mints new ones. Key material is never logged.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
import uuid
from contextlib import AsyncExitStack, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from nats.js import JetStreamContext, api
from vod.events.v1 import media_events_pb2 as ev
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.runtime import lifecycle
from services.runtime.errors import ERROR_DOMAIN
from services.runtime.events import consumer_span, dead_letter, new_meta
from services.runtime.logs import configure_logging, get_logger
from services.transcoding.chunks import ChunkCoordinator, ChunkWorker
from services.transcoding.config import TranscodingSettings, load_settings
from services.transcoding.deps import (
    JOBS_SUBJECT,
    connect_jobs,
    key_provider,
    licensing_channel,
    open_store,
)
from services.transcoding.jobs import TERMINAL
from services.transcoding.keys import KeyProvider, KeyServiceError
from services.transcoding.media import FfmpegError, Probe, ffmpeg_exe
from services.transcoding.pipeline import (
    AudioSidecar,
    EncodeConfig,
    PipelineError,
    Progress,
    SidecarError,
    SubtitleSource,
    run_pipeline,
)
from services.transcoding.repository import Repository
from services.transcoding.store import ObjectStore, layout
from services.transcoding.uploads import is_audio, is_subtitle, webvtt_problem

__all__ = ["Worker", "main", "run_worker"]

_log = get_logger("worker")
MIGRATIONS = Path(__file__).parent / "migrations"


class _Skip(Exception):
    """The job needs no work (terminal already, or given up)."""


class _Cancelled(Exception):
    """CancelJob was called while the job ran."""


def _status(message: str, reason: str, metadata: dict[str, str]) -> status_pb2.Status:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata))
    return status_pb2.Status(code=code_pb2.INTERNAL, message=message, details=[info])


class Worker:
    def __init__(
        self,
        settings: TranscodingSettings,
        repo: Repository,
        store: ObjectStore,
        js: JetStreamContext,
        *,
        keys: KeyProvider | None = None,
        name: str = "",
        nc: nats.NATS | None = None,
    ) -> None:
        self._settings = settings
        self._repo = repo
        self._store = store
        self._js = js
        self._keys = keys
        self.name = name or f"worker-{uuid.uuid4().hex[:8]}"
        self._cfg = EncodeConfig(
            ffmpeg=ffmpeg_exe(settings.ffmpeg),
            parallelism=settings.encode_parallelism,
            chunk_seconds=settings.chunk_seconds,
            x264_preset=settings.x264_preset,
            vmaf_subsample=settings.vmaf_subsample,
        )
        self.chunks: ChunkCoordinator | None = None
        self._chunk_worker: ChunkWorker | None = None
        if settings.chunk_mode == "distributed":
            if nc is None:
                raise ValueError("distributed chunks need the worker's NATS connection (nc)")
            self.chunks = ChunkCoordinator(nc, js, store, name=self.name)
            self._chunk_worker = ChunkWorker(
                settings,
                repo,
                store,
                nc,
                js,
                name=self.name,
                ffmpeg=self._cfg.ffmpeg,
                concurrency=self._cfg.workers,
            )

    async def run(self, stop: asyncio.Event) -> None:
        if self._chunk_worker is None:
            await self._run_jobs(stop)
            return
        chunks = asyncio.create_task(self._chunk_worker.run(stop))
        try:
            await self._run_jobs(stop)
        finally:
            stop.set()
            await chunks

    async def _run_jobs(self, stop: asyncio.Event) -> None:
        sub = await self._js.pull_subscribe(
            JOBS_SUBJECT,
            durable=self._settings.jobs_durable,
            stream=self._settings.jobs_stream,
            config=api.ConsumerConfig(
                ack_wait=self._settings.ack_wait_s,
                max_deliver=-1,
                ack_policy=api.AckPolicy.EXPLICIT,
            ),
        )
        _log.info("worker.started", worker=self.name)
        while not stop.is_set():
            try:
                messages = await sub.fetch(1, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except Exception as exc:  # connection hiccups: keep going
                _log.warning("worker.fetch_failed", error=str(exc))
                await asyncio.sleep(0.5)
                continue
            for msg in messages:
                handler = asyncio.create_task(self._handle_traced(msg))
                stopper = asyncio.create_task(stop.wait())
                done, _ = await asyncio.wait(
                    {handler, stopper}, return_when=asyncio.FIRST_COMPLETED
                )
                stopper.cancel()
                if handler not in done:  # shutting down: hand the job to another worker now
                    handler.cancel()
                    with suppress(asyncio.CancelledError, Exception):
                        await handler
                    with suppress(Exception):
                        await msg.nak()

    # -- one job ---------------------------------------------------------------------------

    async def _handle_traced(self, msg: Any) -> None:
        """`_handle` inside a CONSUMER span continuing the trace of whoever queued the job (the
        CreateJob RPC's trace reaches the worker through the message's `traceparent`)."""
        with consumer_span(msg.subject, msg.headers, durable=self._settings.jobs_durable):
            await self._handle(msg)

    async def _handle(self, msg: Any) -> None:
        try:
            item = ev.TranscodeJobQueued.FromString(msg.data)
        except DecodeError:  # poison: no worker could ever run it, so never redeliver it
            await dead_letter(
                self._js, msg, durable=self._settings.jobs_durable, reason="undecodable"
            )
            return
        job_id = item.job.removeprefix("jobs/")
        try:
            job = await self._start(job_id)
        except _Skip:
            await msg.ack()
            return
        attempt = job.attempt_count
        work = self._settings.scratch_dir / f"{job_id}-{attempt}-{self.name}"
        staging = layout.staging(job_id, attempt)
        latest: dict[str, Any] = {"progress": None, "stage": 0}
        cancelled = asyncio.Event()
        pipeline = asyncio.create_task(self._transcode(job, work, latest))
        beat = asyncio.create_task(self._heartbeat(msg, job_id, latest, cancelled, pipeline))
        try:
            result_job = await pipeline
            await self._publish(job, work, staging, result_job)
            await msg.ack()
            _log.info("job.succeeded", job=job.name, attempt=attempt)
        except asyncio.CancelledError:
            if not cancelled.is_set():
                raise
            await asyncio.to_thread(self._store.delete_prefix, staging)
            await msg.ack()
            _log.info("job.cancelled", job=job.name)
        except _Cancelled:
            await asyncio.to_thread(self._store.delete_prefix, layout.staging(job_id))
            await msg.ack()
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
            await asyncio.to_thread(self._store.delete_prefix, staging)
            await self._failed(msg, job, exc, work)
        finally:
            beat.cancel()
            with suppress(asyncio.CancelledError):
                await beat
            shutil.rmtree(work, ignore_errors=True)

    async def _start(self, job_id: str) -> pb.Job:
        max_attempts = self._settings.max_attempts
        outcome: dict[str, str] = {}

        def change(job: pb.Job) -> list[Any]:
            if job.state in TERMINAL:
                outcome["skip"] = "terminal"
                return []
            now = datetime.now(UTC)
            job.attempt_count += 1
            if job.attempt_count > max_attempts:
                outcome["skip"] = "exhausted"
                job.state = pb.JOB_STATE_FAILED
                job.end_time.FromDatetime(now)
                job.error.CopyFrom(
                    _status(
                        f"gave up after {max_attempts} attempts (workers stopped mid-job)",
                        "TOO_MANY_ATTEMPTS",
                        {"attempts": str(job.attempt_count - 1)},
                    )
                )
                job.progress.state = pb.JOB_STATE_FAILED
                job.progress.message = "failed"
                return [ev.TranscodeJobFailed(meta=new_meta("transcoding"), job=job)]
            job.state = pb.JOB_STATE_RUNNING
            if not job.HasField("start_time"):
                job.start_time.FromDatetime(now)
            job.progress.CopyFrom(
                pb.JobProgress(
                    job=job.name,
                    state=pb.JOB_STATE_RUNNING,
                    stage=pb.JOB_STAGE_PROBING,
                    percent=0,
                    message=f"attempt {job.attempt_count} on {self.name}",
                )
            )
            job.progress.update_time.FromDatetime(now)
            return [
                ev.TranscodeJobProgress(
                    meta=new_meta("transcoding"), progress=job.progress, title=job.title
                )
            ]

        job = await self._repo.update_job(job_id, change)
        if job is None or outcome:
            raise _Skip(outcome.get("skip", "missing"))
        return job

    async def _transcode(self, job: pb.Job, work: Path, latest: dict[str, Any]) -> pb.Job:
        row = await self._repo.get_upload(job.upload.removeprefix("uploads/"))
        if row is None:
            raise PipelineError(f"{job.upload} no longer exists")
        work.mkdir(parents=True, exist_ok=True)
        source = await asyncio.to_thread(self._store.reader_url, row.source_key)
        if not Path(source).is_file():  # remote store: a local copy for seeking chunk encoders
            local = work / "source"
            await asyncio.to_thread(self._store.download, row.source_key, local)
            source = str(local)

        subtitles = [await self._sidecar(spec) for spec in job.options.subtitles]
        audio_sidecars = [
            await self._audio_sidecar(index, spec, work)
            for index, spec in enumerate(job.options.audio_tracks)
        ]

        def report(progress: Progress) -> None:
            latest["progress"] = progress

        result = await run_pipeline(
            source,
            job.options,
            media=job.name.removeprefix("jobs/"),
            cfg=self._cfg,
            work=work / "tmp",
            out=work / "out",
            report=report,
            key_provider=self._keys,
            info=Probe.from_json(row.probe) if row.probe else None,
            subtitles=subtitles,
            audio_sidecars=audio_sidecars,
            chunk_encoder=(
                None
                if self.chunks is None
                else self.chunks.encoder(
                    job_id=job.name.removeprefix("jobs/"),
                    attempt=job.attempt_count,
                    source_key=row.source_key,
                )
            ),
        )
        job.renditions.extend(result.renditions)
        media = job.media_asset
        title_id = job.title.removeprefix("titles/")
        media_id = job.name.removeprefix("jobs/")
        media.name = f"media/{media_id}"
        media.title = job.title
        media.job = job.name
        media.hls_manifest_uri = f"{layout.published(title_id, 'manifests', media_id)}master.m3u8"
        media.dash_manifest_uri = f"{layout.published(title_id, 'manifests', media_id)}manifest.mpd"
        media.duration_seconds = result.duration
        media.renditions.extend(result.renditions)
        media.encrypted = result.encrypted
        media.key_ids.extend(result.key_ids)
        return job

    async def _sidecar(self, spec: pb.SubtitleSpec) -> SubtitleSource:
        """The WebVTT bytes of a subtitle upload (checked again: the job outlives the check)."""
        row = await self._repo.get_upload(spec.upload.removeprefix("uploads/"))
        if row is None or not is_subtitle(row.upload):
            raise PipelineError(f"subtitle sidecar {spec.upload} no longer exists")
        data = await asyncio.to_thread(self._store.get_bytes, row.source_key)
        problem = webvtt_problem(data)
        if problem is not None:
            raise PipelineError(f"subtitle sidecar {spec.upload} {problem}")
        return SubtitleSource(data, spec.language or "und", spec.label)

    async def _audio_sidecar(self, index: int, spec: pb.AudioSpec, work: Path) -> AudioSidecar:
        """Where ffmpeg reads an audio sidecar (a local copy when the store is remote); the
        pipeline probes it for its audio stream."""
        row = await self._repo.get_upload(spec.upload.removeprefix("uploads/"))
        if row is None or not is_audio(row.upload):
            raise SidecarError(
                f"audio sidecar {spec.upload} (options.audio_tracks[{index}]) no longer exists"
            )
        path = await asyncio.to_thread(self._store.reader_url, row.source_key)
        if not Path(path).is_file():
            local = work / f"audio-sidecar-{index}"
            await asyncio.to_thread(self._store.download, row.source_key, local)
            path = str(local)
        return AudioSidecar(path, spec.language or "und", spec.label, spec.upload)

    async def _heartbeat(
        self,
        msg: Any,
        job_id: str,
        latest: dict[str, Any],
        cancelled: asyncio.Event,
        pipeline: asyncio.Task[Any],
    ) -> None:
        """In-progress acks, throttled progress writes and cancellation checks."""
        ack_every = max(0.2, self._settings.ack_wait_s / 3)
        last_ack = time.monotonic()
        last_event = 0.0
        written: Progress | None = None
        while True:
            await asyncio.sleep(min(0.5, ack_every))
            if time.monotonic() - last_ack >= ack_every:
                with suppress(Exception):
                    await msg.in_progress()
                last_ack = time.monotonic()
            progress: Progress | None = latest["progress"]
            stop = False
            emit = (
                progress is not None
                and progress is not written
                and (
                    time.monotonic() - last_event >= 1.0
                    or written is None
                    or progress.stage != written.stage
                )
            )

            def change(
                job: pb.Job, progress: Progress | None = progress, emit: bool = emit
            ) -> list[Any]:
                nonlocal stop
                if job.state == pb.JOB_STATE_CANCELLED:
                    stop = True
                    return []
                if progress is None or job.state != pb.JOB_STATE_RUNNING:
                    return []
                p = job.progress
                p.stage = progress.stage  # type: ignore[assignment]
                p.percent = round(progress.percent, 2)
                p.fps = round(progress.fps, 2)
                p.message = progress.message
                if progress.eta_s is not None:
                    p.eta.FromMilliseconds(int(progress.eta_s * 1000))
                else:
                    p.ClearField("eta")
                p.update_time.FromDatetime(datetime.now(UTC))
                if emit:
                    return [
                        ev.TranscodeJobProgress(
                            meta=new_meta("transcoding"), progress=p, title=job.title
                        )
                    ]
                return []

            try:
                if progress is written:  # nothing new to write: only look for a cancellation
                    current = await self._repo.get_job(job_id)
                    stop = current is not None and current.state == pb.JOB_STATE_CANCELLED
                else:
                    await self._repo.update_job(job_id, change)
            except Exception as exc:  # noqa: BLE001 - the database may blip; keep going
                _log.warning("worker.progress_write_failed", error=str(exc))
                continue
            if emit:
                last_event = time.monotonic()
            written = progress
            if stop:
                cancelled.set()
                pipeline.cancel()
                return

    async def _publish(self, job: pb.Job, work: Path, staging: str, done: pb.Job) -> None:
        title_id = job.title.removeprefix("titles/")
        job_id = job.name.removeprefix("jobs/")
        out = work / "out"
        files = [p for p in sorted(out.rglob("*")) if p.is_file()]
        for path in files:
            await asyncio.to_thread(
                self._store.put_file, staging + path.relative_to(out).as_posix(), path
            )
        for folder in layout.FOLDERS:
            await asyncio.to_thread(
                self._store.move_prefix,
                f"{staging}{folder}/",
                layout.published(title_id, folder, job_id),
            )
        now = datetime.now(UTC)
        media = pb.MediaAsset()
        media.CopyFrom(done.media_asset)
        media.create_time.FromDatetime(now)
        cancelled = False

        def change(job_row: pb.Job) -> list[Any]:
            nonlocal cancelled
            if job_row.state != pb.JOB_STATE_RUNNING:
                cancelled = True
                raise _Cancelled()
            job_row.state = pb.JOB_STATE_SUCCEEDED
            job_row.ClearField("renditions")
            job_row.renditions.extend(done.renditions)
            job_row.media_asset.CopyFrom(media)
            job_row.end_time.FromDatetime(now)
            job_row.ClearField("error")
            job_row.progress.CopyFrom(
                pb.JobProgress(
                    job=job_row.name, state=pb.JOB_STATE_SUCCEEDED, percent=100, message="ready"
                )
            )
            job_row.progress.update_time.FromDatetime(now)
            events: list[Any] = [
                ev.RenditionReady(
                    meta=new_meta("transcoding"), job=job_row.name, title=job_row.title, rendition=r
                )
                for r in done.renditions
            ]
            events.append(ev.TranscodeJobCompleted(meta=new_meta("transcoding"), job=job_row))
            events.append(ev.MediaReady(meta=new_meta("transcoding"), media_asset=media))
            return events

        try:
            await self._repo.update_job(job_id, change, media=media)
        except _Cancelled:
            for folder in layout.FOLDERS:
                await asyncio.to_thread(
                    self._store.delete_prefix, layout.published(title_id, folder, job_id)
                )
            raise
        await asyncio.to_thread(self._store.delete_prefix, layout.staging(job_id))

    async def _failed(self, msg: Any, job: pb.Job, exc: Exception, work: Path) -> None:
        attempt = job.attempt_count
        if isinstance(exc, FfmpegError):
            detail = exc.tail.replace(str(work), "<work>").strip()[-1500:]
            message, reason = f"ffmpeg failed (exit {exc.returncode}): {detail}", "FFMPEG_FAILED"
        elif isinstance(exc, SidecarError):
            message, reason = str(exc), "AUDIO_SIDECAR_UNUSABLE"
        elif isinstance(exc, PipelineError):
            message, reason = f"output failed verification: {exc}", "VERIFICATION_FAILED"
        elif isinstance(exc, KeyServiceError):
            message, reason = f"content keys unavailable: {exc}", "CONTENT_KEYS_UNAVAILABLE"
        else:
            message, reason = f"{type(exc).__name__}: {exc}", "TRANSCODE_FAILED"
        final = attempt >= self._settings.max_attempts or isinstance(exc, SidecarError)
        delay = self._settings.retry_backoff_s * (2 ** (attempt - 1))
        _log.warning(
            "job.attempt_failed", job=job.name, attempt=attempt, final=final, error=message[:500]
        )

        def change(row: pb.Job) -> list[Any]:
            if row.state != pb.JOB_STATE_RUNNING:
                return []
            now = datetime.now(UTC)
            row.progress.update_time.FromDatetime(now)
            row.progress.ClearField("eta")
            if not final:
                row.state = pb.JOB_STATE_QUEUED
                row.progress.state = pb.JOB_STATE_QUEUED
                row.progress.message = (
                    f"attempt {attempt} failed, retrying in {delay:.0f}s: {message[:200]}"
                )
                return [
                    ev.TranscodeJobProgress(
                        meta=new_meta("transcoding"), progress=row.progress, title=row.title
                    )
                ]
            row.state = pb.JOB_STATE_FAILED
            row.end_time.FromDatetime(now)
            row.error.CopyFrom(_status(message, reason, {"attempts": str(attempt)}))
            row.progress.state = pb.JOB_STATE_FAILED
            row.progress.message = "failed"
            return [ev.TranscodeJobFailed(meta=new_meta("transcoding"), job=row)]

        await self._repo.update_job(job.name.removeprefix("jobs/"), change)
        if final:
            await msg.ack()
        else:
            await msg.nak(delay=delay)


async def run_worker(settings: TranscodingSettings, stop: asyncio.Event, *, name: str = "") -> None:
    """Open the database, NATS (outbox relay + work queue) and the store; work until `stop`."""
    runtime = settings.runtime
    if not runtime.database_url or not runtime.nats_url:
        raise SystemExit("VOD_DATABASE_URL and VOD_NATS_URL must be set for a transcode worker")
    name = name or settings.worker_name
    async with AsyncExitStack() as stack:
        engine = await lifecycle.open_database(
            stack, runtime, settings.schema, MIGRATIONS, pool_size=4
        )
        _bus, relay = await lifecycle.open_events(
            stack, runtime, f"transcode-{name or 'worker'}", engine
        )
        assert relay is not None  # NATS is required above
        # The work queue has a connection of its own: its long pull requests never hold up the
        # event bus's drain at shutdown.
        nc, js = await connect_jobs(settings, f"transcode-{name or 'worker'}-queue")
        stack.push_async_callback(nc.close)
        repo = Repository(engine, on_commit=relay.notify)
        store = open_store(settings)
        channel = licensing_channel(settings)
        if channel is not None:
            stack.push_async_callback(channel.close)
        else:
            _log.warning("worker.no_key_provider", reason="VOD_PACKAGER_SECRET is not set")
        keys = key_provider(settings, channel)
        worker = Worker(settings, repo, store, js, keys=keys, name=name, nc=nc)
        await worker.run(stop)


def main() -> None:
    settings = load_settings()
    configure_logging("transcoding-worker", settings.runtime.log_level)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
