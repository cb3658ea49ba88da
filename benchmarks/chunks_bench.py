"""Distributed chunks benchmark: prints numbers, asserts nothing.

    scripts/bench chunks                          # 20 s 720p, about a minute on two cores
    scripts/bench chunks --seconds 60 --height 1080 --workers 2

Wall time of one transcode job (CreateJob → SUCCEEDED, through the real service, Postgres, NATS
and worker processes) on the same source in the same run: one worker encoding its chunks locally
(`VOD_TRANSCODE_CHUNKS=local`, today's path) against N workers sharing the job's chunks
(`VOD_TRANSCODE_CHUNKS=distributed`). Workers are started and ready before each job is created,
so start-up is not counted. All workers run on this machine: on a machine with fewer cores than
workers × parallelism the distributed run only adds coordination; the speed-up needs cores (or
machines) the single worker cannot use. The machine's load is printed with the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "gen" / "python")]

import grpc  # noqa: E402
import nats  # noqa: E402
from nats.js.errors import NotFoundError  # noqa: E402
from vod.events.v1 import media_events_pb2 as ev  # noqa: E402
from vod.transcoding.v1 import transcoding_pb2 as pb  # noqa: E402
from vod.transcoding.v1 import transcoding_pb2_grpc  # noqa: E402

from benchmarks.transcode_bench import bench_settings, make_source, upload  # noqa: E402
from mesh.embedded import EmbeddedNats, EmbeddedPostgres, free_port  # noqa: E402
from services.transcoding.chunks import STATUS_SUBJECT  # noqa: E402
from services.transcoding.config import TranscodingSettings  # noqa: E402


def worker_env(
    settings: TranscodingSettings, name: str, mode: str, chunk_s: float
) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'gen' / 'python'}",
        "VOD_DATABASE_URL": settings.runtime.database_url,
        "VOD_NATS_URL": settings.runtime.nats_url,
        "VOD_OBJECT_STORE_DIR": str(settings.object_store_dir),
        "VOD_TRANSCODE_SCRATCH_DIR": str(settings.scratch_dir),
        "VOD_TRANSCODE_VMAF_SUBSAMPLE": str(settings.vmaf_subsample),
        "VOD_TRANSCODE_WORKER_NAME": name,
        "VOD_TRANSCODE_CHUNKS": mode,
        "VOD_TRANSCODE_CHUNK_SECONDS": str(chunk_s),
        "VOD_LOG_LEVEL": "WARNING",
    }


@contextmanager
def workers(
    settings: TranscodingSettings, root: Path, mode: str, count: int, chunk_s: float
) -> Iterator[None]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "services.transcoding.worker"],
            cwd=ROOT,
            env=worker_env(settings, f"{mode}-{n}", mode, chunk_s),
            stdout=(root / f"{mode}-{n}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for n in range(count)
    ]
    try:
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)


async def ready(js: Any, stream: str, durable: str, pullers: int) -> None:
    """Until `pullers` pull requests wait on the consumer (the workers are up and idle)."""
    async with asyncio.timeout(120):
        while True:
            try:
                info = await js.consumer_info(stream, durable)
                if (info.num_waiting or 0) >= pullers:
                    return
            except NotFoundError:
                pass
            await asyncio.sleep(0.05)


async def one_job(
    stub: Any, nc: Any, upload_name: str, job_id: str
) -> tuple[float, pb.Job, Counter[str]]:
    by_worker: Counter[str] = Counter()

    async def on_status(msg: Any) -> None:
        status = ev.TranscodeChunkStatus.FromString(msg.data)
        if status.state == ev.CHUNK_STATE_DONE:
            by_worker[status.worker] += 1

    sub = await nc.subscribe(f"{STATUS_SUBJECT}.{job_id}.>", cb=on_status)
    await nc.flush()
    start = time.monotonic()
    job = (
        await stub.CreateJob(
            pb.CreateJobRequest(job=pb.Job(upload=upload_name), job_id=job_id), timeout=10
        )
    ).job
    async for _ in stub.WatchJob(pb.WatchJobRequest(name=job.name), timeout=3600):
        pass
    wall = time.monotonic() - start
    await sub.unsubscribe()
    job = (await stub.GetJob(pb.GetJobRequest(name=job.name), timeout=10)).job
    return wall, job, by_worker


async def main() -> None:
    from services.transcoding.server import running

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--workers", type=int, default=2, help="workers of the distributed run")
    parser.add_argument("--chunk-seconds", type=float, default=0.0, help="0 = auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = root / "source.mp4"
        make_source(source, args.seconds, args.height)
        pg = EmbeddedPostgres(root / "pg", free_port(), fast=True)
        nats_server = EmbeddedNats(root / "nats", free_port(), monitor_port=free_port())
        with pg, nats_server:
            settings = bench_settings(root, pg, nats_server)
            async with (
                running(settings, serve_metrics=False) as run,
                grpc.aio.insecure_channel(f"127.0.0.1:{run.port}") as channel,
            ):
                stub = transcoding_pb2_grpc.TranscodingServiceStub(channel)
                nc = await nats.connect(nats_server.url)
                js = nc.jetstream()
                up = await upload(stub, source, "titles/bench", "bench-src")
                print(
                    f"source: {args.seconds}s {args.height}p testsrc2+sine, standard ladder, "
                    f"chunks {args.chunk_seconds or 'auto'} (s); "
                    f"{os.cpu_count()} cores; "
                    f"load before: {os.getloadavg()[0]:.2f}"
                )
                rows = []
                for mode, count in (("local", 1), ("distributed", args.workers)):
                    with workers(settings, root, mode, count, args.chunk_seconds):
                        await ready(js, settings.jobs_stream, settings.jobs_durable, count)
                        if mode == "distributed":
                            await ready(js, settings.chunks_stream, settings.chunks_durable, count)
                        wall, job, by_worker = await one_job(stub, nc, up.name, f"bench-{mode}")
                    state = pb.JobState.Name(job.state)
                    split = ", ".join(f"{w}: {n}" for w, n in sorted(by_worker.items()))
                    rows.append((mode, count, wall))
                    print(
                        f"{mode:<12} {count} worker(s): {wall:6.1f}s  {state}"
                        + (f"  chunks by worker: {split}" if split else "")
                        + f"  (load {os.getloadavg()[0]:.2f})"
                    )
                await nc.close()
                local, distributed = rows[0][2], rows[1][2]
                print(
                    f"distributed / local wall time: {distributed / local:.2f} "
                    f"(<1 = faster; {os.cpu_count()} cores shared by all workers)"
                )


if __name__ == "__main__":
    asyncio.run(main())
