"""Media through the gateway, as an operator's tool sees it: an HTTP PUT upload in Content-Range
chunks, a transcode job over REST, and HLS and DASH that ffmpeg decodes from the origin route
(an admin preview: viewers get media from the edges, see test_viewer_path.py)."""

from __future__ import annotations

import hashlib
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import imageio_ffmpeg

from mesh.launcher import LocalMesh

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def make_source(path: Path) -> bytes:
    subprocess.run(
        [
            FFMPEG,
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x180:rate=24",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
            "-shortest",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    return path.read_bytes()


def test_upload_transcode_and_play_through_the_gateway(
    mesh: LocalMesh, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    base = mesh.settings.gateway_url
    # Uploads, jobs and the origin are admin routes.
    for method, path in (
        ("PUT", "/upload/v1/uploads/x1"),
        ("POST", "/v1/jobs"),
        ("GET", "/origin/x"),
    ):
        assert httpx.request(method, base + path, timeout=10).status_code == 401
    with httpx.Client(base_url=base, timeout=30, headers=admin_headers) as http:
        title = http.post(
            "/v1/titles", json={"type": "TITLE_TYPE_MOVIE", "displayName": "Gateway Media"}
        )
        assert title.status_code == 200, title.text
        title_name = title.json()["title"]["name"]
        data = make_source(tmp_path / "source.mp4")
        upload_id = f"gw-{uuid.uuid4().hex[:10]}"
        query = {
            "title": title_name,
            "file_name": "source.mp4",
            "size_bytes": len(data),
            "content_type": "video/mp4",
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        half = len(data) // 2
        first = http.put(
            f"/upload/v1/uploads/{upload_id}",
            params=query,
            content=data[:half],
            headers={"Content-Range": f"bytes 0-{half - 1}/{len(data)}"},
        )
        assert first.status_code == 308 and first.headers["Range"] == f"bytes=0-{half - 1}"
        # A client that lost the response asks where to resume.
        resume = http.get(f"/upload/v1/uploads/{upload_id}")
        assert resume.headers["Range"] == f"bytes=0-{half - 1}"
        second = http.put(
            f"/upload/v1/uploads/{upload_id}",
            params=query,
            content=data[half:],
            headers={"Content-Range": f"bytes {half}-{len(data) - 1}/{len(data)}"},
        )
        assert second.status_code == 200, second.text
        job = http.post(
            "/v1/jobs",
            json={"upload": f"uploads/{upload_id}", "options": {"ladder": "LADDER_PRESET_PREVIEW"}},
        )
        assert job.status_code == 200, job.text
        job_name = job.json()["job"]["name"]
        deadline = time.monotonic() + 240
        state = ""
        while time.monotonic() < deadline:
            current = http.get(f"/v1/{job_name}").json()["job"]
            state = current["state"]
            if state in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
                break
            time.sleep(0.5)
        assert state == "JOB_STATE_SUCCEEDED", current
        asset = current["mediaAsset"]
        for uri in (asset["hlsManifestUri"], asset["dashManifestUri"]):
            url = f"{base}/origin/{uri}"
            auth = f"authorization: {admin_headers['authorization']}\r\n"
            decoded = subprocess.run(
                [FFMPEG, "-v", "error", "-headers", auth, "-i", url, "-f", "null", "-"],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert decoded.returncode == 0 and decoded.stderr.strip() == "", decoded.stderr
        # The origin never serves sources or unknown media.
        titles_path = title_name.removeprefix("titles/")
        assert http.get(f"/origin/titles/{titles_path}/sources/{upload_id}").status_code == 404
        assert (
            http.get(f"/origin/titles/{titles_path}/manifests/nope/master.m3u8").status_code == 404
        )
