"""A worker killed with SIGKILL mid-job: JetStream redelivers the job after ack-wait to another
worker, which finishes it; the published output is complete, unique and decodes cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from vod.transcoding.v1 import transcoding_pb2 as pb

from services.transcoding.config import TranscodingSettings
from services.transcoding.server import Running
from tests.transcoding.conftest import worker_env
from tests.transcoding.helpers import FFMPEG, create_job, make_video, upload, wait_job

ROOT = Path(__file__).resolve().parents[2]


def start_worker(settings: TranscodingSettings, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.transcoding.worker"],
        cwd=ROOT,
        env=worker_env(settings),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


async def test_sigkill_mid_job_is_redelivered_and_finished_by_another_worker(
    tc, tc_service: Running, tc_settings: TranscodingSettings, tmp_path: Path
) -> None:
    source = make_video(tmp_path / "long.mp4", seconds=20, size="640x360")
    up = await upload(tc, source, "titles/crash", "crash-1", chunk_size=1024 * 1024)
    first = start_worker(tc_settings, tmp_path / "worker-a.log")
    second = None
    try:
        job = await create_job(tc, up.name, "crash-1")
        async for message in tc.WatchJob(pb.WatchJobRequest(name=job.name), timeout=120):
            if message.progress.stage == pb.JOB_STAGE_ENCODING:
                break
        os.kill(first.pid, signal.SIGKILL)  # mid-encode: no ack, no cleanup
        first.wait(10)
        killed = (await tc.GetJob(pb.GetJobRequest(name=job.name))).job
        assert killed.state == pb.JOB_STATE_RUNNING and killed.attempt_count == 1
        second = start_worker(tc_settings, tmp_path / "worker-b.log")
        job, _ = await wait_job(tc, job.name, timeout=180)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(20)
    assert job.state == pb.JOB_STATE_SUCCEEDED, job.error.message
    assert job.attempt_count == 2
    store = tc_service.store
    assert store.list("staging/crash-1/") == []
    keys = store.list("titles/crash/renditions/crash-1/")
    assert len(keys) == len(set(keys))
    for rendition in job.renditions:
        names = [k.rsplit("/", 1)[1] for k in keys if f"/{rendition.id}/" in k]
        assert names == ["init.mp4"] + [f"seg-{n:05d}.m4s" for n in range(1, 5)]  # 20 s / 6 s
    playlist = f"http://127.0.0.1:{tc_service.origin_port}/{job.media_asset.hls_manifest_uri}"
    result = await asyncio.to_thread(
        subprocess.run,
        [FFMPEG, "-v", "error", "-i", playlist, "-map", "0", "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr[-2000:]
