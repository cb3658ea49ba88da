"""Resumable, idempotent uploads: a header, then chunks written straight to object storage.

The committed offset moves only after a chunk is durably stored and recorded with its SHA-256;
a chunk sent again (same bytes at an already-committed offset) is accepted as a no-op, one that
disagrees with the stored bytes is refused. When the last byte arrives, the whole file's SHA-256
is checked by reading it back from storage and the file is probed; only then is the upload
COMPLETED (and `vod.media.upload_completed` published). Anything else leaves it UPLOADING
(resumable) or FAILED with its bytes discarded.

Subtitle sidecars take the same path with content_type `text/vtt`: instead of the container sniff
and probe, the first chunk must start like WebVTT and the whole file is checked to be UTF-8 text
whose first line is a `WEBVTT` header. A job references such an upload from
`TranscodeOptions.subtitles`.

Extra audio sidecars (a dubbed language, audio description) are uploads with an `audio/*`
content type: the first chunk must start like an audio container (MP4/M4A, MP3, ADTS AAC, WAV,
FLAC, Ogg, Matroska/WebM) and the whole file is probed for an audio stream. A job references such
an upload from `TranscodeOptions.audio_tracks`. Like subtitle sidecars, completing one publishes no
`vod.media.upload_completed`: a sidecar is not a new source and never starts a transcode.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import google_crc32c
from vod.events.v1 import media_events_pb2 as ev
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.runtime.errors import (
    AlreadyExists,
    DataLoss,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    OutOfRange,
)
from services.runtime.events import new_meta
from services.transcoding.media import NotAudioError, NotVideoError, probe, probe_audio
from services.transcoding.repository import Repository, UploadRow
from services.transcoding.store import ObjectStore, layout

__all__ = [
    "MAX_CHUNK",
    "MAX_SUBTITLE_BYTES",
    "SUBTITLE_CONTENT_TYPE",
    "TitleChecker",
    "UploadDomain",
    "is_audio",
    "is_sidecar",
    "is_subtitle",
    "sniff_audio",
    "sniff_container",
    "webvtt_problem",
]

MAX_CHUNK = 4 * 1024 * 1024
MAX_SUBTITLE_BYTES = 16 * 1024 * 1024
SUBTITLE_CONTENT_TYPE = "text/vtt"
_BOM = b"\xef\xbb\xbf"
_SUPPORTED_APPLICATION = {"application/octet-stream", "application/mp4", "application/x-matroska"}

TitleChecker = Callable[[str], Awaitable[bool]]


def sniff_container(head: bytes) -> str | None:
    """The container a file starts like, or None for anything that is not a video container."""
    if len(head) >= 12 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "mp4/mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska/webm"
    if head.startswith(b"RIFF") and head[8:11] == b"AVI":
        return "avi"
    if head.startswith(b"FLV"):
        return "flv"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg-ps"
    if head[:1] == b"\x47" and (len(head) < 189 or head[188:189] == b"\x47"):
        return "mpeg-ts"
    if head.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01")):
        return "h264/hevc elementary stream"
    if head.startswith(b"OggS"):
        return "ogg"
    return None


def sniff_audio(head: bytes) -> str | None:
    """The audio container a file starts like, or None for anything else."""
    if len(head) >= 12 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"skip"):
        return "mp4/m4a"
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3/adts aac"  # an ID3 tag, or an MPEG audio / ADTS frame sync
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska/webm"
    if head.startswith(b"#!AMR"):
        return "amr"
    return None


def is_subtitle(upload: pb.Upload) -> bool:
    """Whether the upload is a WebVTT subtitle sidecar rather than a video source."""
    return upload.content_type == SUBTITLE_CONTENT_TYPE


def is_audio(upload: pb.Upload | pb.UploadHeader) -> bool:
    """Whether the upload is an extra audio sidecar (content type audio/*) rather than a video
    source."""
    return upload.content_type.startswith("audio/")


def is_sidecar(upload: pb.Upload) -> bool:
    """Whether the upload is a sidecar (subtitles or extra audio) that a job attaches to a video
    source rather than a source of its own."""
    return is_subtitle(upload) or is_audio(upload)


def webvtt_problem(data: bytes, *, complete: bool = True) -> str | None:
    """Why `data` is not a WebVTT file (None when it is). With `complete=False`, `data` is only the
    start of the file and just its signature is checked."""
    body = data.removeprefix(_BOM)
    if not complete and len(body) < 7:
        return None if b"WEBVTT".startswith(body[:6]) else "does not start with WEBVTT"
    if not body.startswith(b"WEBVTT") or (len(body) > 6 and body[6:7] not in b" \t\r\n"):
        return "does not start with a WEBVTT header line"
    if complete:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"is not UTF-8 text (byte {exc.start})"
    return None


def _not_webvtt(problem: str) -> InvalidArgument:
    return InvalidArgument(
        message=f"the text/vtt file {problem}; a subtitle sidecar must be WebVTT; "
        "the upload is discarded",
        reason="NOT_WEBVTT",
        violations=(FieldViolation("chunk.data", f"not WebVTT: the file {problem}"),),
    )


def _not_found(name: str) -> NotFound:
    return NotFound(
        message=f"{name} does not exist",
        reason="UPLOAD_NOT_FOUND",
        resource_type="vod.transcoding.v1.Upload",
        resource_name=name,
    )


class UploadDomain:
    def __init__(
        self,
        repo: Repository,
        store: ObjectStore,
        *,
        ffmpeg: str,
        ttl_s: float,
        title_exists: TitleChecker | None = None,
    ) -> None:
        self._repo = repo
        self._store = store
        self._ffmpeg = ffmpeg
        self._ttl = timedelta(seconds=ttl_s)
        self._title_exists = title_exists
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, name: str) -> pb.Upload:
        row = await self._repo.get_upload(name.removeprefix("uploads/"))
        if row is None:
            raise _not_found(name)
        return row.upload

    async def receive(self, requests: AsyncIterator[pb.UploadRequest]) -> pb.Upload:
        """Consume one Upload stream: a header, then chunks."""
        first = await anext(requests, None)
        if first is None or first.WhichOneof("payload") != "header":
            raise InvalidArgument.for_field(
                "header", "the first message must carry an UploadHeader"
            )
        row = await self._open(first.header)
        upload_id = row.upload.name.removeprefix("uploads/")
        lock = self._locks.setdefault(upload_id, asyncio.Lock())
        async with lock:
            async for request in requests:
                if request.WhichOneof("payload") != "chunk":
                    raise InvalidArgument.for_field(
                        "chunk", "every message after the first must carry an UploadChunk"
                    )
                if row.upload.state != pb.UPLOAD_STATE_UPLOADING:
                    raise FailedPrecondition(
                        message=f"{row.upload.name} is already complete; no more chunks are accepted",
                        reason="UPLOAD_NOT_UPLOADING",
                        violations=(("STATE", row.upload.name, "upload is not UPLOADING"),),
                    )
                row = await self._commit(row, request.chunk)
            return row.upload

    # -- header ----------------------------------------------------------------------------

    async def _open(self, header: pb.UploadHeader) -> UploadRow:
        if header.file_name in (".", ".."):  # the proto pattern lets them through
            raise InvalidArgument.for_field(
                "header.file_name", "must name a file; '.' and '..' are not file names"
            )
        content_type = header.content_type
        if content_type.startswith("application/") and content_type not in _SUPPORTED_APPLICATION:
            raise InvalidArgument(
                message=f"unsupported content type {content_type}; send a video file",
                reason="UNSUPPORTED_CONTENT_TYPE",
                violations=(
                    FieldViolation(
                        "header.content_type", "must be video/* or application/octet-stream"
                    ),
                ),
            )
        if content_type == SUBTITLE_CONTENT_TYPE and header.size_bytes > MAX_SUBTITLE_BYTES:
            raise InvalidArgument.for_field(
                "header.size_bytes",
                f"a text/vtt subtitle sidecar is at most {MAX_SUBTITLE_BYTES} bytes",
            )
        upload_id = header.upload_id or uuid.uuid4().hex[:20]
        existing = await self._repo.get_upload(upload_id)
        if existing is None:
            if self._title_exists is not None and not await self._title_exists(header.title):
                raise FailedPrecondition(
                    message=f"{header.title} does not exist in the catalog",
                    reason="TITLE_NOT_FOUND",
                    violations=(
                        (
                            "TITLE",
                            header.title,
                            "the title must exist before its media is uploaded",
                        ),
                    ),
                )
            now = datetime.now(UTC)
            upload = pb.Upload(
                name=f"uploads/{upload_id}",
                title=header.title,
                file_name=header.file_name,
                size_bytes=header.size_bytes,
                content_type=header.content_type,
                sha256=header.sha256,
                state=pb.UPLOAD_STATE_UPLOADING,
            )
            upload.create_time.FromDatetime(now)
            upload.update_time.FromDatetime(now)
            upload.expire_time.FromDatetime(now + self._ttl)
            source_key = layout.source(
                header.title.removeprefix("titles/"), upload_id, header.file_name
            )
            state = await asyncio.to_thread(self._store.begin_append, source_key)
            if await self._repo.insert_upload(upload, state, source_key):
                return UploadRow(upload, state, None, source_key)
            await asyncio.to_thread(self._store.abort_append, source_key, state)
            existing = await self._repo.get_upload(upload_id)
            assert existing is not None
        stored = existing.upload
        if stored.state != pb.UPLOAD_STATE_UPLOADING:
            raise AlreadyExists(
                message=f"{stored.name} is already {pb.UploadState.Name(stored.state)}",
                reason="UPLOAD_ALREADY_FINISHED",
                resource_type="vod.transcoding.v1.Upload",
                resource_name=stored.name,
            )
        differs = [
            f
            for f in ("title", "file_name", "size_bytes", "content_type", "sha256")
            if getattr(stored, f) != getattr(header, f)
        ]
        if differs:
            raise FailedPrecondition(
                message=f"the header differs from the stored upload in {', '.join(differs)}",
                reason="UPLOAD_HEADER_MISMATCH",
                violations=tuple(
                    ("HEADER", f"header.{f}", "differs from the stored upload") for f in differs
                ),
            )
        return existing

    # -- chunks ----------------------------------------------------------------------------

    async def _commit(self, row: UploadRow, chunk: pb.UploadChunk) -> UploadRow:
        upload = row.upload
        data = chunk.data
        if len(data) > MAX_CHUNK:
            raise InvalidArgument.for_field(
                "chunk.data", f"at most {MAX_CHUNK} bytes per chunk, got {len(data)}"
            )
        which = chunk.WhichOneof("checksum")
        if which is None:
            raise InvalidArgument.for_field(
                "chunk.checksum", "a crc32c or sha256 checksum is required"
            )
        digest = hashlib.sha256(data).hexdigest()
        if (which == "crc32c" and google_crc32c.value(data) != chunk.crc32c) or (
            which == "sha256" and digest != chunk.sha256
        ):
            raise DataLoss(
                message=f"chunk at offset {chunk.offset}: {which} does not match its data; "
                "the chunk was not committed",
                reason="CHUNK_CHECKSUM_MISMATCH",
                field=f"chunk.{which}",
                metadata={
                    "offset": str(chunk.offset),
                    "committed_offset": str(upload.committed_offset),
                },
            )
        end = chunk.offset + len(data)
        if end > upload.size_bytes:
            raise OutOfRange(
                message=f"chunk [{chunk.offset}, {end}) extends past size_bytes {upload.size_bytes}",
                reason="CHUNK_PAST_END",
                field="chunk.offset",
                metadata={"size_bytes": str(upload.size_bytes)},
            )
        committed = upload.committed_offset
        if chunk.offset > committed:
            raise FailedPrecondition(
                message=f"chunk offset {chunk.offset} leaves a gap: the committed offset is {committed}",
                reason="CHUNK_OFFSET_GAP",
                metadata={"committed_offset": str(committed)},
                violations=(("OFFSET", upload.name, f"committed_offset={committed}"),),
            )
        offset = chunk.offset
        if offset < committed:  # a re-sent chunk (overlap): it must agree with what is stored
            overlap = min(end, committed) - offset
            await self._check_overlap(row, offset, data[:overlap])
            data = data[overlap:]
            offset = committed
            if not data:
                return row  # idempotent: nothing new
            digest = hashlib.sha256(data).hexdigest()
        if offset == 0 and is_subtitle(upload):
            problem = webvtt_problem(data[:16], complete=False)
            if problem is not None:
                await self._fail(row)
                raise _not_webvtt(problem)
        elif offset == 0 and is_audio(upload):
            if sniff_audio(data[:512]) is None and len(data) >= 12:
                await self._fail(row)
                raise InvalidArgument(
                    message="the file does not start like an audio container (MP4/M4A, MP3, AAC, "
                    "WAV, FLAC, Ogg, Matroska/WebM); the upload is discarded",
                    reason="UNSUPPORTED_CONTAINER",
                    violations=(FieldViolation("chunk.data", "not a supported audio container"),),
                )
        elif offset == 0:
            kind = sniff_container(data[:512])
            if kind is None and len(data) >= 12:
                await self._fail(row)
                raise InvalidArgument(
                    message="the file does not start like a video container (MP4/MOV, Matroska/WebM, "
                    "MPEG-TS/PS, AVI, FLV); the upload is discarded",
                    reason="UNSUPPORTED_CONTAINER",
                    violations=(FieldViolation("chunk.data", "not a supported video container"),),
                )
        state = await asyncio.to_thread(
            self._store.append, row.source_key, row.append_state, offset, data
        )
        upload_id = upload.name.removeprefix("uploads/")
        if not await self._repo.commit_chunk(
            upload_id, committed, offset, len(data), digest, state
        ):
            raise FailedPrecondition(
                message="another stream committed to this upload concurrently; call GetUpload and resume",
                reason="UPLOAD_CONCURRENT_WRITE",
                violations=(("OFFSET", upload.name, "committed_offset moved"),),
            )
        upload.committed_offset = offset + len(data)
        upload.update_time.FromDatetime(datetime.now(UTC))
        row = UploadRow(upload, state, row.probe, row.source_key)
        if upload.committed_offset == upload.size_bytes:
            row = await self._complete(row)
        return row

    async def _check_overlap(self, row: UploadRow, offset: int, data: bytes) -> None:
        upload_id = row.upload.name.removeprefix("uploads/")
        end = offset + len(data)
        records = await self._repo.chunks_between(upload_id, offset, end)
        stored_ok: bool | None = None
        if (
            records
            and records[0][0] == offset
            and sum(r[1] for r in records) >= len(data)
            and records[-1][0] + records[-1][1] >= end
        ):
            # compare chunk by chunk where the resent data covers recorded chunks whole
            stored_ok = True
            for rec_offset, rec_len, rec_sha in records:
                piece = data[rec_offset - offset : rec_offset - offset + rec_len]
                if len(piece) == rec_len:
                    stored_ok = stored_ok and hashlib.sha256(piece).hexdigest() == rec_sha
                else:
                    stored_ok = None  # partial cover of the last record: compare bytes instead
                    break
        if stored_ok is None:
            stored = await asyncio.to_thread(
                self._store.read_appended, row.source_key, row.append_state, offset, len(data)
            )
            if stored is None:
                raise FailedPrecondition(
                    message="the chunk overlaps committed bytes at boundaries that cannot be compared; "
                    f"resume at the committed offset {row.upload.committed_offset}",
                    reason="CHUNK_OVERLAP_UNVERIFIABLE",
                    metadata={"committed_offset": str(row.upload.committed_offset)},
                    violations=(
                        (
                            "OFFSET",
                            row.upload.name,
                            f"committed_offset={row.upload.committed_offset}",
                        ),
                    ),
                )
            stored_ok = stored == data
        if not stored_ok:
            raise FailedPrecondition(
                message=f"the chunk at offset {offset} disagrees with bytes already committed",
                reason="CHUNK_CONFLICT",
                metadata={"committed_offset": str(row.upload.committed_offset)},
                violations=(
                    ("OFFSET", row.upload.name, "overlapping bytes differ from the stored ones"),
                ),
            )

    async def _fail(self, row: UploadRow) -> None:
        upload_id = row.upload.name.removeprefix("uploads/")
        try:
            await asyncio.to_thread(self._store.abort_append, row.source_key, row.append_state)
        except Exception:  # noqa: BLE001 - the upload fails either way
            pass
        await asyncio.to_thread(self._store.delete, row.source_key)
        await self._repo.finish_upload(upload_id, pb.UPLOAD_STATE_FAILED)

    async def _complete(self, row: UploadRow) -> UploadRow:
        upload = row.upload
        upload_id = upload.name.removeprefix("uploads/")
        await asyncio.to_thread(self._store.finish_append, row.source_key, row.append_state)
        actual = await asyncio.to_thread(self._sha256_of, row.source_key)
        if actual != upload.sha256:
            await asyncio.to_thread(self._store.delete, row.source_key)
            await self._repo.finish_upload(upload_id, pb.UPLOAD_STATE_FAILED)
            raise DataLoss(
                message=f"the file's SHA-256 is {actual}, the header said {upload.sha256}; "
                "the upload is FAILED and its bytes discarded",
                reason="UPLOAD_CHECKSUM_MISMATCH",
                field="header.sha256",
            )
        if is_subtitle(upload):
            text = await asyncio.to_thread(self._store.get_bytes, row.source_key)
            problem = webvtt_problem(text)
            if problem is not None:
                await asyncio.to_thread(self._store.delete, row.source_key)
                await self._repo.finish_upload(upload_id, pb.UPLOAD_STATE_FAILED)
                raise _not_webvtt(problem)
            # no vod.media.upload_completed: a sidecar is not a new source (the catalog would
            # mark the title PROCESSING again)
            return await self._repo.finish_upload(upload_id, pb.UPLOAD_STATE_COMPLETED)
        if is_audio(upload):
            try:
                url = await asyncio.to_thread(self._store.reader_url, row.source_key)
                await probe_audio(self._ffmpeg, url)
            except NotAudioError as exc:
                await asyncio.to_thread(self._store.delete, row.source_key)
                await self._repo.finish_upload(upload_id, pb.UPLOAD_STATE_FAILED)
                raise InvalidArgument(
                    message=f"the {upload.content_type} file is not a usable audio sidecar: "
                    f"{exc}; the upload is FAILED",
                    reason="NOT_AUDIO",
                    violations=(FieldViolation("chunk.data", str(exc)),),
                ) from exc
            # no vod.media.upload_completed, as for subtitles: a sidecar never starts a transcode
            return await self._repo.finish_upload(upload_id, pb.UPLOAD_STATE_COMPLETED)
        try:
            url = await asyncio.to_thread(self._store.reader_url, row.source_key)
            info = await probe(self._ffmpeg, url)
        except NotVideoError as exc:
            await asyncio.to_thread(self._store.delete, row.source_key)
            await self._repo.finish_upload(upload_id, pb.UPLOAD_STATE_FAILED)
            raise InvalidArgument(
                message=f"the file is not a playable video: {exc}; the upload is FAILED",
                reason="NOT_VIDEO",
                violations=(FieldViolation("chunk.data", str(exc)),),
            ) from exc
        event = ev.UploadCompleted(meta=new_meta("transcoding"))
        return await self._repo.finish_upload(
            upload_id, pb.UPLOAD_STATE_COMPLETED, [event], probe=info.to_json()
        )

    def _sha256_of(self, key: str) -> str:
        digest = hashlib.sha256()
        for block in self._store.read(key):
            digest.update(block)
        return digest.hexdigest()
