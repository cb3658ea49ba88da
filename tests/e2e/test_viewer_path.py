"""The viewer's path end to end, through the whole local mesh (`vod up`'s launcher): an admin
ingests a title; a viewer on the basic plan signs up, signs in, picks a profile and presses play
through the front door of their region; the per-session manifests list only the rungs the plan
allows, and ffmpeg (an independent client) decodes them through the region's nginx edge; tokens
for another region or a tampered one get 403; the stream limit, resume across devices, the
region rule and a second language's client (`buf curl`) are checked on the same mesh. At the end
no password or token appears in any log of the run."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import imageio_ffmpeg
import m3u8
import mpegdash.parser
import pytest

from mesh.launcher import DESCRIPTOR, ROOT, LocalMesh
from tests.e2e.media import Ingested, ingest_through_gateway

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
PASSWORD = "basic plan viewer 42"
# An explicit ladder with a rung above the basic plan's 720p cap.
RUNGS = [
    {"height": 1080, "bitrateBps": 700_000},
    {"height": 720, "bitrateBps": 400_000},
    {"height": 360, "bitrateBps": 150_000},
]


@dataclass
class Viewer:
    user: str
    profile: str
    token: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


def make_source(path: Path) -> bytes:
    subprocess.run(
        [
            FFMPEG, "-y", "-loglevel", "error",
            "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=12",
            "-f", "lavfi", "-i", "sine=frequency=440",
            "-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest",
            str(path),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    return path.read_bytes()


@pytest.fixture(scope="module")
def ingested(
    mesh: LocalMesh, admin_headers: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Ingested:
    """A title available in the first region only, with a 1080/720/360 ladder, READY."""
    data = make_source(tmp_path_factory.mktemp("viewer") / "source.mp4")
    return ingest_through_gateway(
        mesh.settings.gateway_url,
        admin_headers,
        data,
        options={"renditions": RUNGS},
        regions=[mesh.settings.regions[0]],
        display_name=f"Viewer Path {uuid.uuid4().hex[:6]}",
    )


def sign_up(mesh: LocalMesh, email: str, plan: str) -> Viewer:
    base = mesh.settings.gateway_url
    with httpx.Client(base_url=base, timeout=15) as http:
        made = http.post(
            "/v1/users",
            json={
                "user": {
                    "email": email,
                    "displayName": email.split("@")[0],
                    "plan": f"plans/{plan}",
                    "homeRegion": mesh.settings.regions[0],
                },
                "password": PASSWORD,
            },
        )
        assert made.status_code == 200, made.text
        user = made.json()["user"]["name"]
        profile = made.json()["profile"]["name"]
        login = http.post("/v1/auth:login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        user_token = login.json()["tokens"]["accessToken"]
        issued = http.post(
            f"/v1/{profile}:issueToken",
            json={},
            headers={"authorization": f"Bearer {user_token}"},
        )
        assert issued.status_code == 200, issued.text
        tokens = issued.json()["tokens"]
    return Viewer(user, profile, tokens["accessToken"], tokens["refreshToken"])


def start(
    base: str, viewer: Viewer, title: str, device: str, kind: str, **extra: object
) -> httpx.Response:
    body = {
        "profile": viewer.profile,
        "title": title,
        "deviceType": kind,
        "deviceId": device,
        **extra,
    }
    return httpx.post(f"{base}/v1/sessions:start", json=body, headers=viewer.headers, timeout=30)


def stop(base: str, viewer: Viewer, session: str, seconds: float | None = None) -> dict:
    body: dict[str, object] = {}
    if seconds is not None:
        body["position"] = f"{seconds}s"
    r = httpx.post(f"{base}/v1/{session}:stop", json=body, headers=viewer.headers, timeout=15)
    assert r.status_code == 200, r.text
    return r.json()["resumePoint"]


def duration_s(value: str) -> float:
    return float(value.rstrip("s") or 0)


def decode(url_or_path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FFMPEG, "-v", "error", "-protocol_whitelist", "file,http,tcp", "-i", url_or_path,
         "-map", "0", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=180,
    )  # fmt: skip


def test_a_basic_viewer_plays_through_the_edge_of_their_region(
    mesh: LocalMesh, ingested: Ingested, tmp_path: Path
) -> None:
    base = mesh.settings.gateway_url
    region = mesh.settings.regions[0]
    edge = mesh.edge_urls()[region]
    viewer = sign_up(mesh, f"basic-{uuid.uuid4().hex[:8]}@example.com", "basic")

    # DASH first: the manifest lists only the rungs the basic plan (720p) allows.
    started = start(
        base, viewer, ingested.title, "web-1", "DEVICE_TYPE_WEB",
        preferredProtocol="STREAMING_PROTOCOL_DASH",
        regionCode="GB",  # a client-chosen region is ignored: the front door decides
    )  # fmt: skip
    assert started.status_code == 200, started.text
    session = started.json()["session"]
    assert session["regionCode"] == region
    assert session["maxHeight"] == 720
    assert session["protocol"] == "STREAMING_PROTOCOL_DASH"
    mpd_text = httpx.get(session["manifestUrl"], timeout=15).text
    mpd = mpegdash.parser.MPEGDASHParser.parse(mpd_text)
    heights = sorted(
        int(r.height)
        for period in mpd.periods
        for aset in period.adaptation_sets
        if aset.content_type == "video"  # not the trick-play image track
        for r in aset.representations
        if r.height
    )
    assert heights == [360, 720]
    urls = re.findall(r'(?:media|initialization)="([^"]+)"', mpd_text)
    assert urls and all(u.startswith(f"{edge}/cdn/{region}/") for u in urls)
    dash = decode(session["manifestUrl"])
    assert dash.returncode == 0 and dash.stderr.strip() == "", dash.stderr
    stop(base, viewer, session["name"], 1.0)

    # HLS on a phone: the master lists the same rungs; ffmpeg decodes the top allowed one.
    started = start(
        base, viewer, ingested.title, "phone-1", "DEVICE_TYPE_MOBILE",
        preferredProtocol="STREAMING_PROTOCOL_HLS",
    )  # fmt: skip
    assert started.status_code == 200, started.text
    session = started.json()["session"]
    master = m3u8.loads(httpx.get(session["manifestUrl"], timeout=15).text)
    assert sorted(p.stream_info.resolution[1] for p in master.playlists) == [360, 720]
    top = max(master.playlists, key=lambda p: p.stream_info.resolution[1])
    top_url = top.absolute_uri if top.base_uri else top.uri
    if not top_url.startswith("http"):
        top_url = session["manifestUrl"].rsplit("/", 1)[0] + "/" + top_url
    media_text = httpx.get(top_url, timeout=15).text
    media = m3u8.loads(media_text)
    assert media.segments and media.segment_map
    objects = [media.segment_map[0].uri, *(s.uri for s in media.segments)]
    assert all(u.startswith(f"{edge}/cdn/{region}/") for u in objects)
    hls = decode(top_url)
    assert hls.returncode == 0 and hls.stderr.strip() == "", hls.stderr

    # A second viewer's request for the same segment is a cache hit at the edge.
    first_segment = media.segments[0].uri
    assert httpx.get(first_segment, timeout=15).headers["x-cache-status"] == "HIT"

    # Tampered, foreign-region and foreign-title URLs are refused by the edge (403).
    parts = urlsplit(first_segment)
    query = parse_qs(parts.query)
    token = query["t"][0]
    forged = first_segment.replace(
        f"t={token}", "t=" + ("A" if token[0] != "A" else "B") + token[1:]
    )
    assert httpx.get(forged, timeout=15).status_code == 403
    other_region = mesh.settings.regions[1]
    foreign = first_segment.replace(edge, mesh.edge_urls()[other_region]).replace(
        f"/cdn/{region}/", f"/cdn/{other_region}/"
    )
    assert httpx.get(foreign, timeout=15).status_code == 403
    title_id = ingested.title.removeprefix("titles/")
    other_title = first_segment.replace(f"/{title_id}/", "/some-other-title/")
    assert httpx.get(other_title, timeout=15).status_code == 403
    expired_at = int(query["e"][0]) - 10**6
    expired = first_segment.replace(f"e={query['e'][0]}", f"e={expired_at}")
    assert httpx.get(expired, timeout=15).status_code == 403
    # ffmpeg, given a playlist whose URLs carry a forged token, fails with 403.
    bad_playlist = tmp_path / "forged.m3u8"
    bad_playlist.write_text(media_text.replace(f"t={token}", "t=" + "A" * len(token)))
    refused = decode(str(bad_playlist))
    assert refused.returncode != 0 and "403" in refused.stderr, refused.stderr
    stop(base, viewer, session["name"])


def test_stream_limit_and_resume_across_devices(mesh: LocalMesh, ingested: Ingested) -> None:
    base = mesh.settings.gateway_url
    viewer = sign_up(mesh, f"resume-{uuid.uuid4().hex[:8]}@example.com", "basic")
    phone = start(base, viewer, ingested.title, "phone-2", "DEVICE_TYPE_MOBILE")
    assert phone.status_code == 200, phone.text
    session = phone.json()["session"]
    interval = duration_s(session["heartbeatInterval"])
    beat = httpx.post(
        f"{base}/v1/{session['name']}:heartbeat",
        json={"position": "2.5s", "state": "PLAYER_STATE_PLAYING"},
        headers=viewer.headers,
        timeout=15,
    )
    assert beat.status_code == 200, beat.text

    # The basic plan allows one stream: the TV is refused and told which session holds it.
    tv = start(base, viewer, ingested.title, "tv-2", "DEVICE_TYPE_TV")
    assert tv.status_code == 429, tv.text
    assert tv.json()["code"] == 8  # RESOURCE_EXHAUSTED
    assert session["name"] in json.dumps(tv.json()["details"])

    # "Stop playback on the other device", then the TV resumes where the phone was.
    saved = stop(base, viewer, session["name"])
    assert abs(duration_s(saved["position"]) - 2.5) < 0.01
    tv = start(base, viewer, ingested.title, "tv-2", "DEVICE_TYPE_TV")
    assert tv.status_code == 200, tv.text
    resumed = duration_s(tv.json()["session"].get("resumePosition", "0s"))
    assert abs(resumed - 2.5) <= interval
    cw = httpx.get(f"{base}/v1/{viewer.profile}/continueWatching", headers=viewer.headers)
    assert [p["title"] for p in cw.json()["resumePoints"]] == [ingested.title]
    stop(base, viewer, tv.json()["session"]["name"])


def test_region_is_the_front_doors_and_availability_is_enforced(
    mesh: LocalMesh, ingested: Ingested
) -> None:
    other = mesh.settings.regions[1]
    front = mesh.state("ready").fronts[other]
    viewer = sign_up(mesh, f"abroad-{uuid.uuid4().hex[:8]}@example.com", "standard")
    # Through the other region's front door the title is not available, whatever the body says.
    r = start(
        front, viewer, ingested.title, "web-3", "DEVICE_TYPE_WEB",
        regionCode=mesh.settings.regions[0],
    )  # fmt: skip
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == 9  # FAILED_PRECONDITION
    assert "NOT_AVAILABLE_IN_REGION" in json.dumps(body["details"])
    # Unknown titles are NOT_FOUND; another user's profile is PERMISSION_DENIED.
    unknown = start(
        mesh.settings.gateway_url, viewer, "titles/no-such-title", "w", "DEVICE_TYPE_WEB"
    )
    assert unknown.status_code == 404
    other_viewer = sign_up(mesh, f"other-{uuid.uuid4().hex[:8]}@example.com", "basic")
    stolen = httpx.post(
        f"{mesh.settings.gateway_url}/v1/sessions:start",
        json={"profile": other_viewer.profile, "title": ingested.title,
              "deviceType": "DEVICE_TYPE_WEB", "deviceId": "w"},
        headers=viewer.headers,
        timeout=15,
    )  # fmt: skip
    assert stolen.status_code == 403


def _buf_curl(protocol: str, url: str, data: dict, token: str | None) -> dict:
    command = [
        str(ROOT / ".venv" / "bin" / "buf"), "curl", "--protocol", protocol,
        "--schema", str(DESCRIPTOR), "--data", json.dumps(data), url,
    ]  # fmt: skip
    if protocol == "grpc":
        command.insert(2, "--http2-prior-knowledge")
    if token:
        command[2:2] = ["-H", f"authorization: Bearer {token}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("protocol", ["grpc", "grpcweb"])
def test_a_second_language_client_signs_in_and_starts_playback(
    mesh: LocalMesh, ingested: Ingested, protocol: str
) -> None:
    """`buf curl` (Go) drives the contracts from the descriptor set, not from Python stubs."""
    email = f"buf-{protocol}-{uuid.uuid4().hex[:6]}@example.com"
    sign_up(mesh, email, "standard")
    base = mesh.settings.gateway_url
    login = _buf_curl(
        protocol, f"{base}/vod.accounts.v1.AccountsService/Login",
        {"email": email, "password": PASSWORD}, None,
    )  # fmt: skip
    user = login["user"]["name"]
    issued = _buf_curl(
        protocol, f"{base}/vod.accounts.v1.AccountsService/IssueToken",
        {"profile": f"{user}/profiles/main"}, login["tokens"]["accessToken"],
    )  # fmt: skip
    token = issued["tokens"]["accessToken"]
    started = _buf_curl(
        protocol, f"{base}/vod.playback.v1.PlaybackService/StartPlayback",
        {"profile": f"{user}/profiles/main", "title": ingested.title,
         "deviceType": "DEVICE_TYPE_TV", "deviceId": f"buf-{protocol}"},
        token,
    )  # fmt: skip
    session = started["session"]
    assert session["regionCode"] == mesh.settings.regions[0]
    assert session["manifestUrl"].startswith(f"{base}/play/")
    _buf_curl(
        protocol, f"{base}/vod.playback.v1.PlaybackService/StopPlayback",
        {"session": session["name"]}, token,
    )  # fmt: skip


def test_no_password_or_token_reaches_any_log(mesh: LocalMesh, ingested: Ingested) -> None:
    """Runs after the others in this module: grep every log of the mesh for secrets used."""
    viewer = sign_up(mesh, f"logs-{uuid.uuid4().hex[:8]}@example.com", "basic")
    started = start(mesh.settings.gateway_url, viewer, ingested.title, "w-9", "DEVICE_TYPE_WEB")
    assert started.status_code == 200, started.text
    session = started.json()["session"]
    secrets = {
        "password": PASSWORD,
        "access token": viewer.token,
        "access token signature": viewer.token.rsplit(".", 1)[1],
        "refresh token": viewer.refresh,
        "session token": session["sessionToken"],
        "demo password": next(iter(mesh.demo_passwords.values())),
        "edge secret": mesh.secret("VOD_EDGE_SECRET"),
        "playback secret": mesh.secret("VOD_PLAYBACK_SECRET"),
    }
    encoded = base64.b64encode(PASSWORD.encode()).decode()
    stop(mesh.settings.gateway_url, viewer, session["name"])
    httpx.post(f"http://{mesh.settings.host}:{mesh.settings.admin_port}/reopen_logs", timeout=5)
    logs = [*mesh.settings.logs.rglob("*.log"), *(mesh.settings.home / "edges").rglob("*.log")]
    assert len(logs) >= 8
    for log in logs:
        text = log.read_text(errors="replace")
        for what, value in {**secrets, "base64 password": encoded}.items():
            assert value not in text, f"{what} found in {log}"


def test_home_feed_through_the_front_door(mesh: LocalMesh, ingested: Ingested) -> None:
    """GetHome (the gateway's backend-for-frontend) in one round trip: the title a viewer left
    half-watched heads continue watching, with its title data; another user's home is refused."""
    base = mesh.settings.gateway_url
    viewer = sign_up(mesh, f"home-{uuid.uuid4().hex[:8]}@example.com", "standard")
    started = start(base, viewer, ingested.title, "web-h", "DEVICE_TYPE_WEB")
    assert started.status_code == 200, started.text
    stop(base, viewer, started.json()["session"]["name"], 2.0)
    home = httpx.get(f"{base}/v1/{viewer.profile}/home", headers=viewer.headers, timeout=15)
    assert home.status_code == 200, home.text
    rows = {row["kind"]: row for row in home.json()["rows"]}
    cw = rows["ROW_KIND_CONTINUE_WATCHING"]
    assert [item["title"] for item in cw["items"]] == [ingested.title]
    item = cw["items"][0]
    assert item["displayName"].startswith("Viewer Path ")
    assert abs(item["watchedFraction"] - 2.0 / ingested.duration_s) < 0.01
    assert not cw["degraded"]
    other = sign_up(mesh, f"home-other-{uuid.uuid4().hex[:8]}@example.com", "basic")
    refused = httpx.get(f"{base}/v1/{viewer.profile}/home", headers=other.headers, timeout=15)
    assert refused.status_code == 403
    assert httpx.get(f"{base}/v1/{viewer.profile}/home", timeout=15).status_code == 401
