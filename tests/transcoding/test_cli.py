"""`vod ingest --wait` end to end (the CLI as a subprocess), including resuming an upload an
earlier run left unfinished, and the exit code for a rejected file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import m3u8
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.transcoding.cli import upload_id_for
from services.transcoding.server import Running
from tests.transcoding.conftest import worker_env
from tests.transcoding.helpers import make_video, sha256_of, upload

ROOT = Path(__file__).resolve().parents[2]


async def run_cli(settings, service: Running, *args: str) -> tuple[int, str, str]:
    env = {
        **worker_env(settings),
        "VOD_GATEWAY_GRPC": f"127.0.0.1:{service.port}",
        "VOD_ORIGIN_PUBLIC_URL": f"http://127.0.0.1:{service.origin_port}",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.transcoding.cli",
        *args,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    return int(proc.returncode or 0), out.decode(), err.decode()


async def test_ingest_resumes_and_waits_for_the_media(
    tc, tc_worker, tc_service: Running, tc_settings, tmp_path: Path
) -> None:
    source = make_video(tmp_path / "cli.mp4", seconds=3, size="426x240")
    upload_id = upload_id_for("titles/cli-film", sha256_of(source))
    partial = await upload(tc, source, "titles/cli-film", upload_id, chunk_size=4096, stop_after=2)
    assert partial.committed_offset == 8192  # an earlier run was interrupted here
    code, out, err = await run_cli(
        tc_settings,
        tc_service,
        "ingest",
        str(source),
        "--title",
        "titles/cli-film",
        "--wait",
        "--ladder",
        "preview",
    )
    assert code == 0, err
    assert "resuming" in err and "at byte 8192" in err
    lines = dict(line.split(None, 1) for line in out.strip().splitlines())
    assert lines["HLS"].endswith("/master.m3u8") and lines["DASH"].endswith("/manifest.mpd")
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(lines["HLS"], timeout=10).read())
    assert m3u8.loads(body.decode()).is_variant
    job = (await tc.GetJob(pb.GetJobRequest(name=f"jobs/{upload_id}"))).job
    assert job.state == pb.JOB_STATE_SUCCEEDED

    code, out, err = await run_cli(
        tc_settings, tc_service, "ingest", str(source), "--title", "titles/cli-film"
    )  # a re-run finds the same upload and job
    assert code == 0 and out.strip() == f"jobs/{upload_id}"


async def test_ingest_exit_codes_for_rejections(
    tc_service: Running, tc_settings, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(5000))
    code, _, err = await run_cli(
        tc_settings, tc_service, "ingest", str(junk), "--title", "titles/junk"
    )
    assert code == 2 and "video container" in err
    code, _, err = await run_cli(
        tc_settings,
        tc_service,
        "ingest",
        str(junk),
        "--title",
        "titles/junk",
        "--address",
        "127.0.0.1:1",
    )
    assert code == 3 and "unreachable" in err
