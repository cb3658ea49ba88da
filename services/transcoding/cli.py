"""`vod ingest` and `vod worker transcode`. The main `vod` CLI (mesh/cli.py) calls `register`;
`python -m services.transcoding.cli ...` runs the same commands on their own.

`vod ingest FILE --title titles/x [--wait]` hashes the file, then uploads it in chunks with a
progress bar. The upload id is derived from the title and the file's SHA-256, so running the same
command again after an interruption asks `GetUpload` for the committed offset and resumes there.
It then queues a job (the job id is the upload id, so a re-run finds the same job) and, with
`--wait`, follows `WatchJob` and prints the HLS and DASH URLs on the origin.

`--subtitles LANG[:LABEL]=FILE.vtt` (repeatable) uploads WebVTT sidecars the same way and
attaches them to the job (HLS SUBTITLES renditions, DASH text/vtt adaptation sets).
`--audio LANG[:LABEL]=FILE.m4a` (repeatable) does the same for extra audio tracks (a dubbed
language, audio description: MP4/M4A, MP3, AAC, WAV, FLAC, Ogg, Matroska), published after the
source's own audio as more HLS AUDIO renditions and DASH audio adaptation sets.
`--title` takes a title's resource name (`titles/my-film`); `--new-title "My Film"` creates the
title in the catalog first (admin) and ingests into it.

Exit codes: 0 done (with --wait: the media is ready); 1 the job FAILED or was CANCELLED;
2 the upload or the options were rejected; 3 the service is unreachable; 130 interrupted (run
the same command again to resume).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import google_crc32c
import grpc
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from vod.transcoding.v1 import transcoding_pb2 as pb
from vod.transcoding.v1 import transcoding_pb2_grpc

from services.transcoding.config import load_settings

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_UNAVAILABLE",
    "main",
    "register",
    "upload_id_for",
]

EXIT_OK, EXIT_FAILED, EXIT_REJECTED, EXIT_UNAVAILABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
CHUNK = 4 * 1024 * 1024 - 1024  # under the 4 MiB chunk limit
_CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".ts": "video/mp2t",
    ".avi": "video/x-msvideo",
}
_AUDIO_TYPES = {
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".mka": "audio/x-matroska",
    ".webm": "audio/webm",
}
_AUDIO_SNIFFED = {  # by what the file starts like, for other file names
    "mp4/m4a": "audio/mp4",
    "mp3/adts aac": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "matroska/webm": "audio/x-matroska",
    "amr": "audio/amr",
}
_TITLE_NAME = re.compile(r"^titles/[a-z0-9][a-z0-9-]{0,62}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_PRESETS = {
    "standard": pb.LADDER_PRESET_STANDARD,
    "per-title": pb.LADDER_PRESET_PER_TITLE,
    "uhd": pb.LADDER_PRESET_UHD,
    "preview": pb.LADDER_PRESET_PREVIEW,
}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ingest = subparsers.add_parser(
        "ingest",
        help="upload a source file and transcode it",
        description=(
            "Upload FILE (resumable: run the same command again after an interruption) and "
            "transcode it into an HLS + DASH ladder. Examples: "
            "`vod ingest movie.mp4 --title titles/my-film --wait`, "
            "`vod ingest movie.mp4 --new-title 'My Film' --subtitles en=movie.en.vtt "
            "--subtitles 'es:Español=movie.es.vtt' --audio 'fr:Français=movie.fr.m4a' --wait`."
        ),
    )
    ingest.add_argument("file", type=Path)
    which = ingest.add_mutually_exclusive_group(required=True)
    which.add_argument("--title", help="the catalog title's name, e.g. titles/my-film")
    which.add_argument(
        "--new-title", metavar="DISPLAY_NAME", help="create a movie called this first (admin)"
    )
    ingest.add_argument(
        "--subtitles",
        action="append",
        default=[],
        metavar="LANG[:LABEL]=FILE.vtt",
        help="a WebVTT subtitle track (repeatable), e.g. en=movie.en.vtt or 'pt-BR:Português=pt.vtt'",
    )
    ingest.add_argument(
        "--audio",
        action="append",
        default=[],
        metavar="LANG[:LABEL]=FILE.m4a",
        help="an extra audio track (repeatable; M4A, MP3, AAC, WAV, FLAC, Ogg, MKA), e.g. "
        "fr=movie.fr.m4a or 'en:English (Audio Description)=ad.m4a'",
    )
    ingest.add_argument(
        "--wait", action="store_true", help="follow the job until the media is ready"
    )
    ingest.add_argument("--ladder", choices=sorted(_PRESETS), default="standard")
    ingest.add_argument("--segment-seconds", type=int, default=0)
    ingest.add_argument("--keyframe-seconds", type=int, default=0)
    ingest.add_argument("--encrypt", action="store_true")
    ingest.add_argument(
        "--address",
        default=os.environ.get("VOD_GATEWAY_GRPC", "127.0.0.1:8080"),
        help="gateway or transcoding gRPC address (default: the local gateway)",
    )
    ingest.add_argument(
        "--origin",
        default=os.environ.get("VOD_ORIGIN_PUBLIC_URL", ""),
        help="base URL of the media origin for the printed manifest URLs "
        "(default: the gateway's /origin route)",
    )
    ingest.set_defaults(func=_ingest_command)
    worker = subparsers.add_parser("worker", help="run a worker")
    kinds = worker.add_subparsers(dest="kind", required=True)
    transcode = kinds.add_parser("transcode", help="a transcode worker on the JetStream work queue")
    transcode.set_defaults(func=_worker_command)


@dataclass(frozen=True)
class SubtitleFile:
    language: str
    label: str
    path: Path


def parse_subtitles(values: list[str]) -> list[SubtitleFile]:
    """`LANG[:LABEL]=FILE.vtt` arguments, checked before anything is uploaded."""
    found = []
    for value in values:
        spec, sep, file = value.partition("=")
        language, _, label = spec.partition(":")
        if not sep or not file:
            raise ValueError(f"--subtitles {value!r}: expected LANG=FILE.vtt, e.g. en=movie.en.vtt")
        if not _LANGUAGE.match(language):
            raise ValueError(
                f"--subtitles {value!r}: {language!r} is not a language tag such as en, spa or pt-BR"
            )
        path = Path(file)
        if not path.is_file():
            raise ValueError(f"--subtitles {value!r}: no such file: {path}")
        with path.open("rb") as fh:
            if not fh.read(16).lstrip(b"\xef\xbb\xbf").startswith(b"WEBVTT"):
                raise ValueError(f"--subtitles {value!r}: {path} is not WebVTT (no WEBVTT header)")
        found.append(SubtitleFile(language, label, path))
    return found


@dataclass(frozen=True)
class AudioFile:
    language: str
    label: str
    path: Path
    content_type: str


def parse_audio(values: list[str]) -> list[AudioFile]:
    """`LANG[:LABEL]=FILE` arguments for extra audio tracks, checked before anything is
    uploaded: the file must start like an audio container."""
    from services.transcoding.uploads import sniff_audio

    found = []
    for value in values:
        spec, sep, file = value.partition("=")
        language, _, label = spec.partition(":")
        if not sep or not file:
            raise ValueError(f"--audio {value!r}: expected LANG=FILE, e.g. fr=movie.fr.m4a")
        if not _LANGUAGE.match(language):
            raise ValueError(
                f"--audio {value!r}: {language!r} is not a language tag such as en, spa or pt-BR"
            )
        if any(c in label for c in '"\\<>&') or any(ord(c) < 0x20 for c in label):
            raise ValueError(
                f"--audio {value!r}: the label cannot hold quotes, backslashes, <, > or &"
            )
        path = Path(file)
        if not path.is_file():
            raise ValueError(f"--audio {value!r}: no such file: {path}")
        with path.open("rb") as fh:
            kind = sniff_audio(fh.read(512))
        if kind is None:
            raise ValueError(
                f"--audio {value!r}: {path} is not an audio file "
                "(MP4/M4A, MP3, AAC, WAV, FLAC, Ogg or Matroska)"
            )
        content_type = _AUDIO_TYPES.get(path.suffix.lower()) or _AUDIO_SNIFFED[kind]
        found.append(AudioFile(language, label, path, content_type))
    return found


def title_argument_error(value: str) -> str | None:
    """What to tell a user whose --title is not a title name (a display name, usually)."""
    if _TITLE_NAME.match(value):
        return None
    slug = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:40] or "my-film"
    if value.startswith("titles/"):
        return (
            f"--title {value!r} is not a title name: after titles/ use lower-case letters, digits "
            f"and dashes, e.g. titles/{slug}"
        )
    return (
        f"--title expects a title name like titles/{slug}, not a display name ({value!r}). "
        f"To create a title called {value!r} and ingest into it, use --new-title {value!r}; "
        f"to find an existing one, `vod search {value!r}`."
    )


def upload_id_for(title: str, sha256: str) -> str:
    return f"{title.removeprefix('titles/')[:40]}-{sha256[:16]}".strip("-")


def _worker_command(args: argparse.Namespace) -> int:
    from services.transcoding.worker import main as worker_main

    worker_main()
    return EXIT_OK


def _ingest_command(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        return asyncio.run(_ingest(args, console))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; run the same command again to resume the upload[/]")
        return EXIT_INTERRUPTED


def _sha256(path: Path, progress: Progress) -> str:
    task = progress.add_task("hashing", total=path.stat().st_size)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1024 * 1024):
            digest.update(block)
            progress.advance(task, len(block))
    progress.remove_task(task)
    return digest.hexdigest()


async def _ingest(args: argparse.Namespace, console: Console) -> int:
    settings = load_settings()
    path: Path = args.file
    if not path.is_file():
        console.print(f"[red]no such file: {path}[/]")
        return EXIT_REJECTED
    problem = title_argument_error(args.title) if args.title else None
    if problem:
        console.print(f"[red]{escape(problem)}[/]")
        return EXIT_REJECTED
    try:
        subtitles = parse_subtitles(args.subtitles)
        audio_files = parse_audio(args.audio)
    except ValueError as exc:
        console.print(f"[red]{escape(str(exc))}[/]")
        return EXIT_REJECTED
    address = args.address or settings.runtime.grpc_address
    origin = (args.origin or f"http://{address}/origin").rstrip("/")
    size = path.stat().st_size
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    from services.accounts.cli import auth_hint, optional_bearer
    from services.runtime.clients import open_channel

    # Through the gateway uploads and jobs are admin routes: send the stored sign-in.
    auth = await asyncio.to_thread(optional_bearer, address)
    async with open_channel(address, timeout_s=30.0, metadata=auth) as channel:
        stub = transcoding_pb2_grpc.TranscodingServiceStub(channel)
        try:
            title = args.title or await _create_title(channel, args.new_title, console)
            with Progress(*columns, console=console, transient=True) as progress:
                sha = await asyncio.to_thread(_sha256, path, progress)
            upload_id = upload_id_for(title, sha)
            upload = await _upload(stub, path, title, upload_id, sha, size, columns, console)
            console.print(f"uploaded [bold]{upload.name}[/] ({size} bytes)")
            specs = []
            for sub in subtitles:
                with Progress(*columns, console=console, transient=True) as progress:
                    sub_sha = await asyncio.to_thread(_sha256, sub.path, progress)
                sub_id = upload_id_for(title, f"vtt{sub_sha}")
                sub_size = sub.path.stat().st_size
                done = await _upload(
                    stub, sub.path, title, sub_id, sub_sha, sub_size, columns, console, "text/vtt"
                )
                console.print(f"uploaded subtitles [bold]{done.name}[/] ({sub.language})")
                specs.append(
                    pb.SubtitleSpec(upload=done.name, language=sub.language, label=sub.label)
                )
            audio_specs = []
            for track in audio_files:
                with Progress(*columns, console=console, transient=True) as progress:
                    track_sha = await asyncio.to_thread(_sha256, track.path, progress)
                track_id = upload_id_for(title, f"aud{track_sha}")
                done = await _upload(
                    stub,
                    track.path,
                    title,
                    track_id,
                    track_sha,
                    track.path.stat().st_size,
                    columns,
                    console,
                    track.content_type,
                )
                console.print(f"uploaded audio [bold]{done.name}[/] ({track.language})")
                audio_specs.append(
                    pb.AudioSpec(upload=done.name, language=track.language, label=track.label)
                )
            job = await _job(stub, upload, upload_id, args, specs, audio_specs)
            console.print(f"queued [bold]{job.name}[/]")
            if not args.wait:
                print(job.name)
                return EXIT_OK
            return await _follow(stub, job.name, origin, console)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                console.print(
                    f"[red]transcoding service unreachable at {address}: {exc.details()}[/]"
                )
                return EXIT_UNAVAILABLE
            console.print(
                f"[red]rejected ({exc.code().name}): {exc.details()}{auth_hint(exc.code())}[/]"
            )
            return EXIT_REJECTED


async def _upload(
    stub: transcoding_pb2_grpc.TranscodingServiceStub,
    path: Path,
    title: str,
    upload_id: str,
    sha: str,
    size: int,
    columns: tuple[object, ...],
    console: Console,
    content_type: str = "",
) -> pb.Upload:
    start = 0
    try:
        existing = (
            await stub.GetUpload(pb.GetUploadRequest(name=f"uploads/{upload_id}"), timeout=10)
        ).upload
        if existing.state == pb.UPLOAD_STATE_COMPLETED:
            return existing
        if existing.state == pb.UPLOAD_STATE_UPLOADING:
            start = existing.committed_offset
            console.print(f"resuming {existing.name} at byte {start}")
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
    header = pb.UploadHeader(
        title=title,
        file_name=path.name,
        size_bytes=size,
        content_type=content_type
        or _CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"),
        sha256=sha,
        upload_id=upload_id,
    )
    with Progress(*columns, console=console, transient=True) as progress:  # type: ignore[arg-type]
        task = progress.add_task("uploading", total=size, completed=start)

        async def requests() -> AsyncIterator[pb.UploadRequest]:
            yield pb.UploadRequest(header=header)
            with path.open("rb") as fh:
                fh.seek(start)
                offset = start
                while data := await asyncio.to_thread(fh.read, CHUNK):
                    yield pb.UploadRequest(
                        chunk=pb.UploadChunk(
                            offset=offset, data=data, crc32c=google_crc32c.value(data)
                        )
                    )
                    offset += len(data)
                    progress.update(task, completed=offset)

        return (await stub.Upload(requests())).upload


async def _job(
    stub: transcoding_pb2_grpc.TranscodingServiceStub,
    upload: pb.Upload,
    job_id: str,
    args: argparse.Namespace,
    subtitles: list[pb.SubtitleSpec] | None = None,
    audio_tracks: list[pb.AudioSpec] | None = None,
) -> pb.Job:
    options = pb.TranscodeOptions(
        ladder=_PRESETS[args.ladder],
        encrypt=args.encrypt,
        segment_duration_seconds=args.segment_seconds,
        keyframe_interval_seconds=args.keyframe_seconds,
        subtitles=subtitles or [],
        audio_tracks=audio_tracks or [],
    )
    try:
        return (
            await stub.CreateJob(
                pb.CreateJobRequest(job=pb.Job(upload=upload.name, options=options), job_id=job_id),
                timeout=10,
            )
        ).job
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
        return (await stub.GetJob(pb.GetJobRequest(name=f"jobs/{job_id}"), timeout=10)).job


async def _create_title(channel: grpc.aio.Channel, display_name: str, console: Console) -> str:
    """A new movie called `display_name` in the catalog (through the gateway, as the signed-in
    admin); its resource name."""
    from vod.catalog.v1 import catalog_pb2 as cpb
    from vod.catalog.v1 import catalog_pb2_grpc

    catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
    created = await catalog.CreateTitle(
        cpb.CreateTitleRequest(
            title=cpb.Title(type=cpb.TITLE_TYPE_MOVIE, display_name=display_name)
        ),
        timeout=10,
    )
    console.print(f"created [bold]{created.title.name}[/] ({display_name!r})")
    return created.title.name


async def _follow(
    stub: transcoding_pb2_grpc.TranscodingServiceStub, name: str, origin: str, console: Console
) -> int:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[fps]}"),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("queued", total=100, fps="")
        async for message in stub.WatchJob(pb.WatchJobRequest(name=name)):
            p = message.progress
            stage = pb.JobStage.Name(p.stage).removeprefix("JOB_STAGE_").lower()
            eta = f" eta {p.eta.seconds}s" if p.HasField("eta") else ""
            progress.update(
                task,
                completed=p.percent,
                description=p.message or stage,
                fps=(f"{p.fps:.0f} fps{eta}" if p.fps else eta),
            )
    job = (await stub.GetJob(pb.GetJobRequest(name=name), timeout=10)).job
    if job.state != pb.JOB_STATE_SUCCEEDED:
        reason = job.error.message or pb.JobState.Name(job.state)
        console.print(f"[red]{name} {pb.JobState.Name(job.state)}: {reason}[/]")
        return EXIT_FAILED
    asset = job.media_asset
    print(f"HLS  {origin}/{asset.hls_manifest_uri}")
    print(f"DASH {origin}/{asset.dash_manifest_uri}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vod")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
