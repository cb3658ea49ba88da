"""Job behaviours: per-title ladder from VMAF trials, encryption with keys from licensing,
cancellation, retries ending in a visible failure with the ffmpeg error, and the events
published."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from pathlib import Path

import grpc
import nats
import pytest
from vod.events.v1 import media_events_pb2 as ev
from vod.licensing.v1 import licensing_pb2 as lpb
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.transcoding.jobs import LIST_JOBS_SCOPE
from services.transcoding.server import Running
from tests.runtime.test_page_tokens import assert_refused_page_token, forgeries
from tests.support import details_of
from tests.transcoding.helpers import FFMPEG, create_job, make_video, upload, wait_job


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("jobs") / "jobs.mp4", seconds=4, size="640x360")


async def test_per_title_ladder_aims_at_the_vmaf_target_and_publishes_events(
    tc, tc_worker, source: Path, nats_server
) -> None:
    up = await upload(tc, source, "titles/per-title", "per-title-1")
    job = await create_job(
        tc,
        up.name,
        "per-title-1",
        ladder=pb.LADDER_PRESET_PER_TITLE,
        vmaf_target=90,
        segment_duration_seconds=2,
        keyframe_interval_seconds=2,
    )
    job, progress = await wait_job(tc, job.name)
    assert job.state == pb.JOB_STATE_SUCCEEDED, job.error.message
    assert pb.JOB_STAGE_ANALYZING in [p.stage for p in progress]
    for rendition in job.renditions:
        assert 84 <= rendition.vmaf <= 100, rendition  # aimed at 90, measured independently
    # a synthetic pattern is easy: per-title spends far less than the fixed table's 800 kb/s
    assert job.renditions[0].height == 360 and job.renditions[0].bitrate_bps < 800_000

    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        seen: dict[str, list[bytes]] = {}
        for subject in ("vod.media.ready", "vod.media.rendition_ready", "vod.media.job_completed"):
            sub = await js.pull_subscribe(subject, stream="VOD_MEDIA")
            for _ in range(20):
                try:
                    msgs = await sub.fetch(100, timeout=1)
                except (TimeoutError, nats.errors.TimeoutError):
                    msgs = []
                seen.setdefault(subject, []).extend(m.data for m in msgs)
                for m in msgs:
                    await m.ack()
                if any(job.name.encode() in d for d in seen[subject]):
                    break
        ready = [ev.MediaReady.FromString(d) for d in seen["vod.media.ready"]]
        assert any(
            r.media_asset.name == "media/per-title-1" and r.media_asset.renditions for r in ready
        )
        renditions = [ev.RenditionReady.FromString(d) for d in seen["vod.media.rendition_ready"]]
        assert len([r for r in renditions if r.job == job.name]) == len(job.renditions)
    finally:
        await nc.close()


async def test_encrypted_output_needs_the_key(
    tc, tc_worker, source: Path, tc_service: Running, tc_licensing, tmp_path: Path
) -> None:
    """An SD-only ladder: every rung shares the SD key, the audio has the AUDIO key."""
    up = await upload(tc, source, "titles/secret", "secret-1")
    job = await create_job(
        tc,
        up.name,
        "secret-1",
        ladder=pb.LADDER_PRESET_PREVIEW,
        encrypt=True,
        segment_duration_seconds=2,
        keyframe_interval_seconds=2,
    )
    job, _ = await wait_job(tc, job.name)
    assert job.state == pb.JOB_STATE_SUCCEEDED, job.error.message
    keys = await tc_licensing.keys("secret-1")
    sd, audio = keys[lpb.TRACK_TYPE_VIDEO_SD], keys[lpb.TRACK_TYPE_AUDIO]
    assert set(keys) == {lpb.TRACK_TYPE_VIDEO_SD, lpb.TRACK_TYPE_AUDIO}
    asset = job.media_asset
    assert asset.encrypted and list(asset.key_ids) == [sd.key_id, audio.key_id]
    assert [r.height for r in job.renditions] == [360, 240]
    assert all(r.encrypted and r.key_id == sd.key_id for r in job.renditions)
    store = tc_service.store
    mpd = store.get_bytes("titles/secret/manifests/secret-1/manifest.mpd").decode()
    assert 'value="cenc"' in mpd and "e2719d58-a985-b3c9-781a-b030af78d30e" in mpd
    assert (
        f'#EXT-X-KEY:METHOD=AES-128,URI="key://{sd.key_id}",IV=0x{sd.iv.hex()}'
        in store.get_bytes("titles/secret/manifests/secret-1/240p-h264-aes.m3u8").decode()
    )
    prefix = "titles/secret/renditions/secret-1/240p-h264/"
    joined = tmp_path / "enc.mp4"
    joined.write_bytes(
        b"".join(store.get_bytes(k) for k in store.list(prefix) if k.endswith("init.mp4"))
        + b"".join(store.get_bytes(k) for k in store.list(prefix) if k.endswith(".m4s"))
    )
    init = store.get_bytes(prefix + "init.mp4")
    assert b"tenc" in init and b"encv" in init
    clear = subprocess.run(
        [FFMPEG, "-v", "error", "-decryption_key", sd.key.hex(), "-i", str(joined)]
        + ["-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    assert clear.returncode == 0 and clear.stderr.strip() == ""
    garbled = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(joined), "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    assert garbled.stderr.strip() != ""  # without the key the decoder sees noise


async def test_cancel_a_running_job_discards_its_output(
    tc, tc_worker, tc_service: Running, tmp_path: Path
) -> None:
    longer = make_video(tmp_path / "cancel.mp4", seconds=16, size="640x360")
    up = await upload(tc, longer, "titles/cancel", "cancel-1", chunk_size=1024 * 1024)
    job = await create_job(tc, up.name, "cancel-1")
    async for message in tc.WatchJob(pb.WatchJobRequest(name=job.name), timeout=60):
        if message.progress.state == pb.JOB_STATE_RUNNING:
            break
    cancelled = (await tc.CancelJob(pb.CancelJobRequest(name=job.name))).job
    assert cancelled.state == pb.JOB_STATE_CANCELLED
    again = (await tc.CancelJob(pb.CancelJobRequest(name=job.name))).job
    assert again.state == pb.JOB_STATE_CANCELLED
    job, _ = await wait_job(tc, job.name)
    assert job.state == pb.JOB_STATE_CANCELLED and not job.HasField("media_asset")
    for _ in range(100):  # the worker notices within a second and cleans its staging
        if not tc_service.store.list("staging/cancel-1/"):
            break
        await asyncio.sleep(0.1)
    assert tc_service.store.list("staging/cancel-1/") == []
    assert tc_service.store.list("titles/cancel/manifests/") == []
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.GetMediaAsset(pb.GetMediaAssetRequest(name="media/cancel-1"))
    assert details_of(err.value).reason == "MEDIA_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.CancelJob(pb.CancelJobRequest(name="jobs/per-title-1"))
    assert details_of(err.value).reason == "JOB_FINISHED"


async def test_failing_ffmpeg_retries_then_fails_visibly(
    tc, tc_worker, source: Path, tc_service: Running
) -> None:
    up = await upload(tc, source, "titles/broken", "broken-1")
    # storage corruption after the upload was verified: the source loses its tail (and moov)
    key = f"titles/broken/sources/broken-1/{source.name}"
    data = tc_service.store.get_bytes(key)
    tc_service.store.put_bytes(key, data[: len(data) // 3])
    job = await create_job(tc, up.name, "broken-1", ladder=pb.LADDER_PRESET_PREVIEW)
    job, progress = await wait_job(tc, job.name)
    assert job.state == pb.JOB_STATE_FAILED
    assert job.attempt_count == 2  # max_attempts in the fixtures
    assert any("retrying" in p.message for p in progress)
    assert job.error.message.startswith("ffmpeg failed")
    assert "moov atom not found" in job.error.message or "Invalid data" in job.error.message
    assert tc_service.store.list("staging/broken-1/") == []


async def test_a_forged_page_token_is_refused(tc) -> None:
    """A cursor forged with the unkeyed filter hash ListJobs used to check (or signed with
    anything but the deployment's secret) is INVALID_ARGUMENT on page_token."""
    request = pb.ListJobsRequest(title="titles/forged", page_size=1)
    payload: dict[str, object] = {"t": "2999-01-01T00:00:00+00:00", "id": "x"}
    old = {**payload, "f": hashlib.sha256(b"titles/forged||0").hexdigest()[:12]}
    for token in forgeries(old, LIST_JOBS_SCOPE, request, payload):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await tc.ListJobs(
                pb.ListJobsRequest(title="titles/forged", page_size=1, page_token=token)
            )
        assert_refused_page_token(caught.value)
