"""Transcoding benchmark: prints numbers, asserts nothing.

    .venv/bin/python benchmarks/transcode_bench.py                       # a few minutes
    .venv/bin/python benchmarks/transcode_bench.py --seconds 60 --height 1080 --ingest-mb 1024

Prints: wall time of the full pipeline (upload through the real service → job on NATS → worker →
all rungs packaged) and of one bare ffmpeg command encoding the same ladder with the same settings
(the physical floor); realtime factor; speedup of chunked-parallel over one-pass encoding; peak
RSS of the service process while ingesting a big file; VMAF per rung and the bitrate the per-title
ladder saves against the fixed ladder.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "gen" / "python")]

import google_crc32c  # noqa: E402
import grpc  # noqa: E402
from vod.transcoding.v1 import transcoding_pb2 as pb  # noqa: E402
from vod.transcoding.v1 import transcoding_pb2_grpc  # noqa: E402

from mesh.embedded import EmbeddedNats, EmbeddedPostgres, free_port  # noqa: E402
from services.runtime.config import RuntimeSettings  # noqa: E402
from services.transcoding.config import TranscodingSettings  # noqa: E402
from services.transcoding.ladder import plan_ladder  # noqa: E402
from services.transcoding.media import ffmpeg_exe, probe  # noqa: E402
from services.transcoding.pipeline import EncodeConfig, _video_args, run_pipeline  # noqa: E402

FFMPEG = ffmpeg_exe()


def make_source(path: Path, seconds: int, height: int) -> None:
    width = height * 16 // 9 // 2 * 2
    subprocess.run(
        [
            FFMPEG,
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={width}x{height}:rate=25:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=300:duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "16",
            "-c:a",
            "aac",
            "-shortest",
            str(path),
        ],
        check=True,
    )


async def bare_ffmpeg(source: Path, work: Path, cfg: EncodeConfig) -> float:
    info = await probe(FFMPEG, str(source))
    ladder = plan_ladder(info, pb.TranscodeOptions())
    gop = round(info.fps * 2)
    graph = (
        f"[0:v]split={len(ladder)}"
        + "".join(f"[s{i}]" for i in range(len(ladder)))
        + ";"
        + ";".join(f"[s{i}]scale={r.width}:{r.height}[o{i}]" for i, r in enumerate(ladder))
    )
    args = [FFMPEG, "-v", "error", "-y", "-i", str(source), "-filter_complex", graph]
    for i, rung in enumerate(ladder):
        args += [
            "-map",
            f"[o{i}]",
            "-an",
            *_video_args(rung, gop, cfg, os.cpu_count() or 1),
            str(work / f"bare-{rung.id}.mp4"),
        ]
    start = time.monotonic()
    subprocess.run(args, check=True)
    return time.monotonic() - start


def bench_settings(
    root: Path, pg: EmbeddedPostgres, nats_server: EmbeddedNats, **overrides: Any
) -> TranscodingSettings:
    """The transcoding service's settings for a benchmark: a fresh database, free ports, files
    under `root`, VMAF on every 10th frame."""
    return TranscodingSettings(
        runtime=RuntimeSettings(
            service="transcoding",
            grpc_address="127.0.0.1:0",
            metrics_address="127.0.0.1:0",
            database_url=pg.create_database("bench"),
            nats_url=nats_server.url,
        ),
        object_store_dir=root / "objects",
        scratch_dir=root / "scratch",
        origin_address="127.0.0.1:0",
        upload_http_address="127.0.0.1:0",
        vmaf_subsample=10,
        watch_poll_s=0.2,
        **overrides,
    )


async def service_pipeline(source: Path, big: Path, root: Path) -> tuple[float, float, float]:
    from services.transcoding.server import running
    from services.transcoding.worker import run_worker

    pg = EmbeddedPostgres(root / "pg", free_port(), fast=True)
    nats_server = EmbeddedNats(root / "nats", free_port(), monitor_port=free_port())
    with pg, nats_server:
        settings = bench_settings(root, pg, nats_server, ack_wait_s=30)
        async with running(settings, serve_metrics=False) as run:
            stop = asyncio.Event()
            worker = asyncio.create_task(run_worker(settings, stop, name="bench"))
            async with grpc.aio.insecure_channel(f"127.0.0.1:{run.port}") as channel:
                stub = transcoding_pb2_grpc.TranscodingServiceStub(channel)
                rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                await upload(stub, big, "titles/bench-big", "bench-big")
                rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                start = time.monotonic()
                up = await upload(stub, source, "titles/bench", "bench-src")
                job = (
                    await stub.CreateJob(
                        pb.CreateJobRequest(job=pb.Job(upload=up.name), job_id="bench")
                    )
                ).job
                async for _ in stub.WatchJob(pb.WatchJobRequest(name=job.name)):
                    pass
                wall = time.monotonic() - start
                job = (await stub.GetJob(pb.GetJobRequest(name=job.name))).job
                print(f"  job state: {pb.JobState.Name(job.state)} {job.error.message[:200]}")
            stop.set()
            await worker
    return wall, rss_before, rss_after


async def upload(stub, path: Path, title: str, upload_id: str) -> pb.Upload:  # type: ignore[no-untyped-def]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    header = pb.UploadHeader(
        title=title,
        file_name=path.name,
        size_bytes=path.stat().st_size,
        content_type="video/mp4",
        sha256=digest.hexdigest(),
        upload_id=upload_id,
    )

    async def requests():  # type: ignore[no-untyped-def]
        yield pb.UploadRequest(header=header)
        with path.open("rb") as fh:
            offset = 0
            while data := fh.read(4 * 1024 * 1024 - 1024):
                yield pb.UploadRequest(
                    chunk=pb.UploadChunk(offset=offset, data=data, crc32c=google_crc32c.value(data))
                )
                offset += len(data)

    try:
        return (await stub.Upload(requests(), timeout=3600)).upload
    except (
        grpc.aio.AioRpcError
    ) as exc:  # the padded big file may fail its probe: memory is what counts
        return pb.Upload(
            name=f"uploads/{upload_id}", state=pb.UPLOAD_STATE_FAILED, content_type=exc.details()
        )


def make_big(source: Path, path: Path, megabytes: int) -> None:
    """A real video followed by padding up to the size (ffmpeg ignores trailing bytes)."""
    with path.open("wb") as out:
        out.write(source.read_bytes())
        block = os.urandom(1 << 20)
        while out.tell() < megabytes << 20:
            out.write(block)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--ingest-mb", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = root / "source.mp4"
        make_source(source, args.seconds, args.height)
        big = root / "big.mp4"
        make_big(source, big, args.ingest_mb)
        cfg = EncodeConfig(FFMPEG, vmaf_subsample=10)
        print(f"source: {args.seconds}s {args.height}p testsrc2+sine; {os.cpu_count()} cores")

        bare = await bare_ffmpeg(source, root, cfg)
        wall, rss0, rss1 = await service_pipeline(source, big, root / "svc")
        print(f"full pipeline (upload→all rungs packaged, incl. VMAF+thumbnails): {wall:.1f}s")
        print(f"bare ffmpeg, same ladder and settings, one command:              {bare:.1f}s")
        print(f"realtime factor of the full pipeline: {args.seconds / wall:.2f}x")
        print(
            f"peak RSS of the service process: {rss0:.0f} MiB before, {rss1:.0f} MiB after "
            f"ingesting {args.ingest_mb} MiB"
        )

        timings = {}
        for label, chunk in (("chunked-parallel", 0.0), ("one-pass", 1e9)):
            result = await run_pipeline(
                str(source),
                pb.TranscodeOptions(),
                media=label,
                work=root / f"w-{label}",
                out=root / f"o-{label}",
                report=lambda p: None,
                cfg=EncodeConfig(FFMPEG, chunk_seconds=chunk, vmaf_subsample=10),
            )
            timings[label] = result.timings["encode"]
            fixed = result if label == "chunked-parallel" else None
            if fixed:
                fixed_result = fixed
        stages = fixed_result.timings
        after = sum(stages.get(k, 0.0) for k in ("vmaf", "thumbnails", "package"))
        print(
            "pipeline stages (chunked-parallel run): "
            + ", ".join(f"{k} {v:.1f}s" for k, v in stages.items())
            + f"; VMAF + thumbnails + packaging = {after / max(stages['encode'], 1e-3):.0%} "
            "of the encode"
        )
        print(
            f"encode stage: chunked-parallel {timings['chunked-parallel']:.1f}s, one-pass "
            f"{timings['one-pass']:.1f}s, speedup {timings['one-pass'] / timings['chunked-parallel']:.2f}x"
        )

        per_title = await run_pipeline(
            str(source),
            pb.TranscodeOptions(ladder=pb.LADDER_PRESET_PER_TITLE),
            media="pt",
            work=root / "w-pt",
            out=root / "o-pt",
            report=lambda p: None,
            cfg=cfg,
        )
        print("rung        fixed kb/s  fixed VMAF   per-title kb/s  per-title VMAF  saved")
        total_fixed = total_pt = 0
        for f, p in zip(fixed_result.renditions, per_title.renditions, strict=False):
            saved = 1 - p.bitrate_bps / f.bitrate_bps
            total_fixed += f.bitrate_bps
            total_pt += p.bitrate_bps
            print(
                f"{f.id:<11} {f.bitrate_bps / 1000:>10.0f}  {f.vmaf:>10.2f}   {p.bitrate_bps / 1000:>14.0f}"
                f"  {p.vmaf:>14.2f}  {saved:>5.0%}"
            )
        print(
            f"per-title ladder total bitrate saved vs fixed: {1 - total_pt / total_fixed:.0%} "
            f"(target VMAF 93; analysis took {per_title.timings.get('analyze', 0):.1f}s, "
            f"{per_title.timings.get('analyze', 0) / max(per_title.timings['encode'], 1e-3):.0%} "
            "of its encode)"
        )


if __name__ == "__main__":
    asyncio.run(main())
