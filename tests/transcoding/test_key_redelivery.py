"""An encrypted job whose worker is killed after it got its keys: JetStream redelivers it, the
second worker gets the SAME keys from licensing (none created), the published media names them,
and neither worker's logs (at DEBUG) contain key material in hex, base64 or base64url."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from pathlib import Path

from vod.licensing.v1 import licensing_pb2 as lpb
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.transcoding.config import TranscodingSettings
from services.transcoding.server import Running
from tests.transcoding.conftest import LicensingUnderTest, worker_env
from tests.transcoding.helpers import create_job, make_video, upload, wait_job

ROOT = Path(__file__).resolve().parents[2]


def start_worker(settings: TranscodingSettings, log: Path) -> subprocess.Popen[bytes]:
    env = {**worker_env(settings), "VOD_LOG_LEVEL": "DEBUG", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "services.transcoding.worker"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def spellings(secret: bytes) -> list[str]:
    """Ways key bytes could show up in a log line."""
    std = base64.b64encode(secret).decode()
    url = base64.urlsafe_b64encode(secret).decode()
    return [secret.hex(), secret.hex().upper(), std, std.rstrip("="), url, url.rstrip("=")]


async def test_a_redelivered_encrypted_job_reuses_its_keys_and_logs_none(
    tc,
    tc_service: Running,
    tc_settings: TranscodingSettings,
    tc_licensing: LicensingUnderTest,
    tmp_path: Path,
) -> None:
    source = make_video(tmp_path / "redeliver.mp4", seconds=12, size="1280x800")
    up = await upload(tc, source, "titles/redeliver", "redeliver-1", chunk_size=1024 * 1024)
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    first = start_worker(tc_settings, logs[0])
    second = None
    try:
        job = await create_job(
            tc,
            up.name,
            "redeliver-1",
            renditions=[
                pb.RenditionSpec(height=800, bitrate_bps=1_500_000),
                pb.RenditionSpec(height=360, bitrate_bps=400_000),
            ],
            encrypt=True,
            segment_duration_seconds=2,
            keyframe_interval_seconds=2,
        )
        async for message in tc.WatchJob(pb.WatchJobRequest(name=job.name), timeout=120):
            if message.progress.stage == pb.JOB_STAGE_ENCODING:
                break  # keys are fetched before encoding starts
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        before = await tc_licensing.keys("redeliver-1")
        assert set(before) == {
            lpb.TRACK_TYPE_VIDEO_SD,
            lpb.TRACK_TYPE_VIDEO_HD,
            lpb.TRACK_TYPE_AUDIO,
        }
        killed = (await tc.GetJob(pb.GetJobRequest(name=job.name))).job
        assert killed.state == pb.JOB_STATE_RUNNING and killed.attempt_count == 1
        second = start_worker(tc_settings, logs[1])
        job, _ = await wait_job(tc, job.name, timeout=180)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(20)
    assert job.state == pb.JOB_STATE_SUCCEEDED, job.error.message
    assert job.attempt_count == 2
    after = await tc_licensing.keys("redeliver-1")
    assert {t: k.key_id for t, k in after.items()} == {t: k.key_id for t, k in before.items()}
    asset = job.media_asset
    assert sorted(asset.key_ids) == sorted(k.key_id for k in before.values())
    by_height = {r.height: r.key_id for r in asset.renditions}
    assert by_height == {
        800: before[lpb.TRACK_TYPE_VIDEO_HD].key_id,
        360: before[lpb.TRACK_TYPE_VIDEO_SD].key_id,
    }

    first_log, second_log = (log.read_text(errors="replace") for log in logs)
    assert first_log.count('"content_key.created"') == 3
    assert '"content_key.created"' not in second_log and '"content_keys.ready"' in second_log
    assert '"job.succeeded"' in second_log
    text = first_log + second_log
    for key in after.values():
        for spelling in spellings(bytes(key.key)):
            assert spelling not in text, "key material in a worker log"
