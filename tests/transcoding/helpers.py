"""Helpers for the transcoding tests: sources generated with ffmpeg, upload streams."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import google_crc32c
import grpc
from vod.transcoding.v1 import transcoding_pb2 as pb
from vod.transcoding.v1 import transcoding_pb2_grpc

from services.transcoding.media import ffmpeg_exe

FFMPEG = ffmpeg_exe()


def make_video(
    path: Path,
    *,
    seconds: float = 6,
    size: str = "640x360",
    rate: int = 25,
    audio: bool = True,
    extra: tuple[str, ...] = (),
) -> Path:
    """A testsrc2 (+ sine) clip: tiny, but with motion and detail for the encoder."""
    args = [
        FFMPEG,
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate={rate}:duration={seconds}",
    ]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}:sample_rate=44100"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-g", str(rate * 5), "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "64k", "-shortest"]
    args += [*extra, str(path)]
    subprocess.run(args, check=True)
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def header_for(
    path: Path,
    title: str,
    upload_id: str,
    content_type: str = "video/mp4",
    sha256: str | None = None,
) -> pb.UploadHeader:
    return pb.UploadHeader(
        title=title,
        file_name=path.name,
        size_bytes=path.stat().st_size,
        content_type=content_type,
        sha256=sha256 or sha256_of(path),
        upload_id=upload_id,
    )


def chunk(offset: int, data: bytes, *, crc: bool = True) -> pb.UploadRequest:
    c = pb.UploadChunk(offset=offset, data=data)
    if crc:
        c.crc32c = google_crc32c.value(data)
    else:
        c.sha256 = hashlib.sha256(data).hexdigest()
    return pb.UploadRequest(chunk=c)


async def stream(*requests: pb.UploadRequest) -> AsyncIterator[pb.UploadRequest]:
    for r in requests:
        yield r


async def upload(
    stub: transcoding_pb2_grpc.TranscodingServiceStub,
    path: Path,
    title: str,
    upload_id: str,
    *,
    chunk_size: int = 256 * 1024,
    start: int = 0,
    stop_after: int | None = None,
) -> pb.Upload:
    data = path.read_bytes()

    async def requests() -> AsyncIterator[pb.UploadRequest]:
        yield pb.UploadRequest(header=header_for(path, title, upload_id))
        sent = 0
        for offset in range(start, len(data), chunk_size):
            if stop_after is not None and sent >= stop_after:
                return
            yield chunk(offset, data[offset : offset + chunk_size])
            sent += 1

    response = await stub.Upload(requests(), timeout=60)
    return response.upload


async def create_job(
    stub: transcoding_pb2_grpc.TranscodingServiceStub,
    upload_name: str,
    job_id: str,
    **options: object,
) -> pb.Job:
    opts = pb.TranscodeOptions(**options)  # type: ignore[arg-type]
    response = await stub.CreateJob(
        pb.CreateJobRequest(job=pb.Job(upload=upload_name, options=opts), job_id=job_id), timeout=10
    )
    return response.job


async def wait_job(
    stub: transcoding_pb2_grpc.TranscodingServiceStub, name: str, timeout: float = 120
) -> tuple[pb.Job, list[pb.JobProgress]]:
    seen: list[pb.JobProgress] = []
    call = stub.WatchJob(pb.WatchJobRequest(name=name), timeout=timeout)
    async for message in call:
        seen.append(message.progress)
    job = (await stub.GetJob(pb.GetJobRequest(name=name), timeout=10)).job
    return job, seen


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]


__all__ = [
    "FFMPEG",
    "asyncio",
    "chunk",
    "create_job",
    "grpc",
    "header_for",
    "make_tone",
    "make_video",
    "run",
    "sha256_of",
    "stream",
    "upload",
    "wait_job",
]


def make_tone(
    path: Path, *, seconds: float, frequency: int, codec: list[str], sample_rate: int = 44100
) -> Path:
    """A sine tone (lavfi) in whatever container `path`'s suffix says."""
    subprocess.run(
        [
            FFMPEG,
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={frequency}:duration={seconds}:sample_rate={sample_rate}",
            *codec,
            str(path),
        ],
        check=True,
    )
    return path
