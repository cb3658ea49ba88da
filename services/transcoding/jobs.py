"""Transcode jobs over the API: create (queue), read, list, watch and cancel; media assets.

Creating a job writes the job row and its work item (`TranscodeJobQueued` on the VOD_JOBS
work-queue stream) in one transaction through the outbox, so a job is queued exactly when it
exists. Workers (`services.transcoding.worker`) take the items.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from vod.events.v1 import media_events_pb2 as ev
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.runtime.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from services.runtime.events import new_meta
from services.runtime.page_tokens import PageTokens, bad_page_token, default_page_tokens
from services.transcoding.repository import JobFilter, Repository
from services.transcoding.uploads import is_audio, is_subtitle

__all__ = ["TERMINAL", "JobDomain", "job_not_found"]

TERMINAL = (pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED)


def job_not_found(name: str) -> NotFound:
    return NotFound(
        message=f"{name} does not exist",
        reason="JOB_NOT_FOUND",
        resource_type="vod.transcoding.v1.Job",
        resource_name=name,
    )


LIST_JOBS_SCOPE = "vod.transcoding.v1.TranscodingService/ListJobs"


class JobDomain:
    def __init__(
        self,
        repo: Repository,
        *,
        watch_poll_s: float = 0.25,
        page_tokens: PageTokens | None = None,
    ) -> None:
        self._repo = repo
        self._page_tokens = page_tokens or default_page_tokens()
        self._poll = watch_poll_s

    async def create(self, request: pb.CreateJobRequest) -> pb.Job:
        options = request.job.options
        seg = options.segment_duration_seconds or 6
        key = options.keyframe_interval_seconds or 2
        if seg % key:
            raise InvalidArgument.for_field(
                "job.options.keyframe_interval_seconds",
                f"must divide the segment duration ({seg} s); {key} s does not",
            )
        upload_name = request.job.upload
        row = await self._repo.get_upload(upload_name.removeprefix("uploads/"))
        if row is None:
            raise NotFound(
                message=f"{upload_name} does not exist",
                reason="UPLOAD_NOT_FOUND",
                resource_type="vod.transcoding.v1.Upload",
                resource_name=upload_name,
            )
        if row.upload.state != pb.UPLOAD_STATE_COMPLETED:
            raise FailedPrecondition(
                message=f"{upload_name} is {pb.UploadState.Name(row.upload.state)}, not COMPLETED",
                reason="UPLOAD_NOT_COMPLETED",
                violations=(("STATE", upload_name, "the upload must be COMPLETED"),),
            )
        if is_subtitle(row.upload):
            raise InvalidArgument.for_field(
                "job.upload",
                "is a text/vtt subtitle sidecar; name a video upload and attach the sidecar "
                "through options.subtitles",
            )
        if is_audio(row.upload):
            raise InvalidArgument.for_field(
                "job.upload",
                f"is a {row.upload.content_type} audio sidecar; name a video upload and attach "
                "the sidecar through options.audio_tracks",
            )
        await self._check_subtitles(options, row.upload.title)
        await self._check_audio_tracks(options, row.upload.title)
        job_id = request.job_id or uuid.uuid4().hex[:20]
        now = datetime.now(UTC)
        job = pb.Job(
            name=f"jobs/{job_id}",
            upload=upload_name,
            title=row.upload.title,
            options=options,
            state=pb.JOB_STATE_QUEUED,
        )
        job.create_time.FromDatetime(now)
        job.progress.CopyFrom(
            pb.JobProgress(job=job.name, state=pb.JOB_STATE_QUEUED, message="queued")
        )
        job.progress.update_time.FromDatetime(now)
        work = ev.TranscodeJobQueued(meta=new_meta("transcoding"), job=job.name, title=job.title)
        stored = await self._repo.insert_job(job, [work])
        if stored is None:
            raise AlreadyExists(
                message=f"jobs/{job_id} already exists",
                reason="JOB_ALREADY_EXISTS",
                resource_type="vod.transcoding.v1.Job",
                resource_name=f"jobs/{job_id}",
            )
        return stored

    async def _check_subtitles(self, options: pb.TranscodeOptions, title: str) -> None:
        """Every subtitle sidecar must be a COMPLETED text/vtt upload of the job's title."""
        await self._check_sidecars(
            [
                (f"job.options.subtitles[{i}].upload", s.upload)
                for i, s in enumerate(options.subtitles)
            ],
            title,
            is_subtitle,
            kind="a subtitle sidecar",
            must="be uploaded as text/vtt",
        )

    async def _check_audio_tracks(self, options: pb.TranscodeOptions, title: str) -> None:
        """Every audio sidecar must be a COMPLETED audio/* upload of the job's title, and no two
        tracks may share a language and label (players could not tell them apart)."""
        bad: list[FieldViolation] = []
        seen: dict[tuple[str, str], int] = {}
        for index, spec in enumerate(options.audio_tracks):
            key = ((spec.language or "und").lower(), spec.label)
            if key in seen:
                bad.append(
                    FieldViolation(
                        f"job.options.audio_tracks[{index}].language",
                        f"audio_tracks[{seen[key]}] already has language {key[0]!r} and label "
                        f"{spec.label!r}; give one of them another label",
                    )
                )
            seen.setdefault(key, index)
        if bad:  # a malformed request is refused before any upload is looked up
            raise InvalidArgument.of(bad)
        await self._check_sidecars(
            [
                (f"job.options.audio_tracks[{i}].upload", a.upload)
                for i, a in enumerate(options.audio_tracks)
            ],
            title,
            is_audio,
            kind="an audio sidecar",
            must="be uploaded with an audio/* content type",
        )

    async def _check_sidecars(
        self,
        sidecars: list[tuple[str, str]],
        title: str,
        accepts: Callable[[pb.Upload], bool],
        *,
        kind: str,
        must: str,
    ) -> None:
        """Each (field path, upload name) must name an existing upload (NOT_FOUND) that
        `accepts` and that belongs to `title` (INVALID_ARGUMENT with the paths), COMPLETED
        (FAILED_PRECONDITION)."""
        bad: list[FieldViolation] = []
        pending: list[tuple[str, str, str]] = []
        for path, upload in sidecars:
            row = await self._repo.get_upload(upload.removeprefix("uploads/"))
            if row is None:
                raise NotFound(
                    message=f"{upload} ({path}) does not exist",
                    reason="UPLOAD_NOT_FOUND",
                    resource_type="vod.transcoding.v1.Upload",
                    resource_name=upload,
                )
            if not accepts(row.upload):
                bad.append(
                    FieldViolation(
                        path,
                        f"{upload} is a {row.upload.content_type} upload; {kind} must {must}",
                    )
                )
            elif row.upload.title != title:
                bad.append(
                    FieldViolation(path, f"{upload} belongs to {row.upload.title}, not {title}")
                )
            elif row.upload.state != pb.UPLOAD_STATE_COMPLETED:
                state = pb.UploadState.Name(row.upload.state)
                pending.append(("STATE", upload, f"{path} is {state}, not COMPLETED"))
        if bad:
            raise InvalidArgument.of(bad)
        if pending:
            raise FailedPrecondition(
                message=f"{kind} upload is not COMPLETED",
                reason="UPLOAD_NOT_COMPLETED",
                violations=tuple(pending),
            )

    async def get(self, name: str) -> pb.Job:
        job = await self._repo.get_job(name.removeprefix("jobs/"))
        if job is None:
            raise job_not_found(name)
        return job

    async def list(self, request: pb.ListJobsRequest) -> pb.ListJobsResponse:
        flt = JobFilter(request.title, request.upload, request.state)
        size = request.page_size or 50
        after = None
        if request.page_token:
            # Signed and bound to the filters (`services.runtime.page_tokens`).
            doc = self._page_tokens.decode(request.page_token, LIST_JOBS_SCOPE, request)
            try:
                after = (datetime.fromisoformat(doc["t"]), str(doc["id"]))
            except (ValueError, KeyError, TypeError):
                raise bad_page_token("does not hold a position in this list") from None
        jobs = await self._repo.list_jobs(flt, after, size + 1)
        token = ""
        if len(jobs) > size:
            jobs = jobs[:size]
            last = jobs[-1]
            token = self._page_tokens.encode(
                LIST_JOBS_SCOPE,
                request,
                {
                    "t": last.create_time.ToDatetime(tzinfo=UTC).isoformat(),
                    "id": last.name.removeprefix("jobs/"),
                },
            )
        return pb.ListJobsResponse(jobs=jobs, next_page_token=token)

    async def watch(self, name: str) -> AsyncIterator[pb.JobProgress]:
        """The current progress, then every change, until a terminal state (polls the row)."""
        last = b""
        while True:
            job = await self.get(name)
            progress = pb.JobProgress()
            progress.CopyFrom(job.progress)
            progress.job = job.name
            progress.state = job.state
            blob = progress.SerializeToString(deterministic=True)
            if blob != last:
                last = blob
                yield progress
            if job.state in TERMINAL:
                return
            await asyncio.sleep(self._poll)

    async def cancel(self, name: str, etag: str) -> pb.Job:
        def change(job: pb.Job) -> list[object]:
            if etag and etag != job.etag:
                raise Aborted(
                    message="the job changed since it was read (etag mismatch)",
                    reason="ETAG_MISMATCH",
                    resource_type="vod.transcoding.v1.Job",
                    resource_name=name,
                )
            if job.state == pb.JOB_STATE_CANCELLED:
                return []
            if job.state in (pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED):
                raise FailedPrecondition(
                    message=f"{name} already {pb.JobState.Name(job.state)}",
                    reason="JOB_FINISHED",
                    violations=(("STATE", name, "only QUEUED or RUNNING jobs can be cancelled"),),
                )
            now = datetime.now(UTC)
            job.state = pb.JOB_STATE_CANCELLED
            job.end_time.FromDatetime(now)
            job.progress.state = pb.JOB_STATE_CANCELLED
            job.progress.stage = pb.JOB_STAGE_UNSPECIFIED
            job.progress.message = "cancelled"
            job.progress.ClearField("eta")
            job.progress.update_time.FromDatetime(now)
            return [
                ev.TranscodeJobProgress(
                    meta=new_meta("transcoding"), progress=job.progress, title=job.title
                )
            ]

        job = await self._repo.update_job(name.removeprefix("jobs/"), change)  # type: ignore[arg-type]
        if job is None:
            raise job_not_found(name)
        return job

    async def media(self, name: str) -> pb.MediaAsset:
        asset = await self._repo.get_media(name.removeprefix("media/"))
        if asset is None:
            raise NotFound(
                message=f"{name} does not exist",
                reason="MEDIA_NOT_FOUND",
                resource_type="vod.transcoding.v1.MediaAsset",
                resource_name=name,
            )
        return asset
