"""A real browser plays what the mesh serves: Shaka Player (web/player/, served locally) in Debian's
headless Chromium, driven by playwright-core (tests/browser/play.mjs). An admin ingests a short
title; a viewer signs up, StartPlayback hands out per-session DASH and HLS manifests and the
browser plays each past 5 s with no player or console errors, listing exactly the rungs the
per-session manifest offers. Protected titles (CENC + ClearKey): a standard viewer plays DASH with
licences from licensing through the gateway; a basic (720p) viewer is never handed the HD key;
after StopPlayback the session's licence URL is refused.

Needs `scripts/web-deps` (Debian chromium at /usr/bin/chromium and web/node_modules)."""

from __future__ import annotations

import base64
import functools
import http.server
import json
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import m3u8
import mpegdash.parser
import pytest

from mesh.launcher import ROOT, LocalMesh
from tests.e2e.media import Ingested as Title
from tests.e2e.media import ingest_through_gateway
from tests.e2e.test_viewer_path import FFMPEG, Viewer, sign_up, start, stop

WEB = ROOT / "web"
DRIVER = ROOT / "tests" / "browser" / "play.mjs"
CHROMIUM = Path("/usr/bin/chromium")
PLAY_PAST_S = 5.0
BROWSER_TIMEOUT_S = 25
CLEAR_RUNGS = [
    {"height": 720, "bitrateBps": 900_000},
    {"height": 360, "bitrateBps": 250_000},
]
PROTECTED_RUNGS = [
    {"height": 1080, "bitrateBps": 1_200_000},
    {"height": 720, "bitrateBps": 700_000},
    {"height": 360, "bitrateBps": 200_000},
]


# --- the browser side ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser_ready() -> None:
    """Fail (not skip) with the fix when the browser or the npm packages are missing."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(str(CHROMIUM))
    if shutil.which("node") is None:
        missing.append("node")
    for package in ("playwright-core", "shaka-player"):
        if not (WEB / "node_modules" / package / "package.json").exists():
            missing.append(f"web/node_modules/{package}")
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/web-deps")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def web_url(mesh: LocalMesh, browser_ready: None) -> Iterator[str]:
    """web/ (the player page and node_modules) over HTTP on a free port of the mesh's host."""
    handler = functools.partial(_QuietHandler, directory=str(WEB))
    server = http.server.ThreadingHTTPServer((mesh.settings.host, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="web-static", daemon=True)
    thread.start()
    try:
        yield f"http://{mesh.settings.host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def page_url(web: str, manifest: str, license_url: str = "", title: str = "") -> str:
    query = {"manifest": manifest}
    if license_url:
        query["license"] = license_url
    if title:
        query["title"] = title
    return f"{web}/player/index.html?{urlencode(query)}"


def _driver_command(url: str, *args: str) -> list[str]:
    return [
        "node", str(DRIVER), url,
        "--until", str(PLAY_PAST_S), "--timeout", str(BROWSER_TIMEOUT_S), *args,
    ]  # fmt: skip


def _result(stdout: str, stderr: str, returncode: int) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, f"the driver printed nothing (exit {returncode}): {stderr[-2000:]}"
    result = json.loads(lines[-1])
    assert "fatal" not in result, result["fatal"]
    assert returncode == 0, f"driver exit {returncode}: {stderr[-2000:]}"
    return result


def play(url: str, *args: str) -> dict[str, Any]:
    """Run the driver once; returns its JSON report."""
    done = subprocess.run(
        _driver_command(url, *args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT_S + 60,
    )
    return _result(done.stdout, done.stderr, done.returncode)


def play_with_pause(url: str, meanwhile: Callable[[], None], *args: str) -> dict[str, Any]:
    """Run the driver with a `stdin` action among `args`: when the browser gets there (it says
    "@@waiting" on stderr) call `meanwhile`, then let the browser go on."""
    process = subprocess.Popen(
        _driver_command(url, *args),
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killer = threading.Timer(BROWSER_TIMEOUT_S + 90, process.kill)
    killer.start()
    try:
        assert process.stderr is not None and process.stdin is not None
        seen = []
        for line in process.stderr:
            if line.strip() == "@@waiting":
                break
            seen.append(line)
        else:
            stdout, _ = process.communicate(timeout=30)
            return _result(stdout, "".join(seen), process.returncode)
        meanwhile()
        process.stdin.write("go\n")
        process.stdin.flush()
        stdout, stderr = process.communicate(timeout=BROWSER_TIMEOUT_S + 60)
        return _result(stdout, "".join(seen) + stderr, process.returncode)
    finally:
        killer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()


def explain(result: dict[str, Any]) -> str:
    """What went on in the browser, for assertion messages (licence bodies left out)."""
    keep = ("reached", "currentTime", "state", "loadedHeights", "heights", "errors")
    keep += ("consoleErrors", "pageErrors")
    summary: dict[str, Any] = {k: result.get(k) for k in keep}
    summary["licenseRequests"] = [
        {k: v for k, v in r.items() if k != "body"} for r in result.get("licenseRequests", [])
    ]
    summary["replays"] = result.get("replays")
    summary["failedRequests"] = result.get("failedRequests")
    summary["switches"] = result.get("switches")
    summary["tracks"] = result.get("tracks")
    return json.dumps(summary, indent=1)


def assert_played(result: dict[str, Any], manifest_heights: list[int]) -> None:
    """Past PLAY_PAST_S, no player, page or console errors, Shaka lists the manifest's rungs."""
    assert result["errors"] == [], explain(result)
    assert result["pageErrors"] == [], explain(result)
    assert [e for e in result["consoleErrors"] if e["phase"] == "play"] == [], explain(result)
    assert result["reached"], explain(result)
    assert result["currentTime"] > PLAY_PAST_S
    # The variants Shaka built from the manifest (it may hide one for a while after a failed
    # segment; any such failure would be in errors, asserted above).
    assert sorted(result["loadedHeights"]) == sorted(set(manifest_heights)), explain(result)


# --- the mesh side ---------------------------------------------------------------------------


def make_source(path: Path, size: str) -> bytes:
    """A 10 s test pattern with a tone; ultrafast, so the encode stays short."""
    subprocess.run(
        [
            FFMPEG, "-y", "-loglevel", "error",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=12",
            "-f", "lavfi", "-i", "sine=frequency=440",
            "-t", "10", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest",
            str(path),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    return path.read_bytes()


def ingest(mesh: LocalMesh, admin: dict[str, str], source: bytes, options: dict) -> Title:
    return ingest_through_gateway(
        mesh.settings.gateway_url,
        admin,
        source,
        options=options,
        regions=[mesh.settings.regions[0]],
        display_name=f"Browser Playback {uuid.uuid4().hex[:6]}",
    )


@pytest.fixture(scope="module")
def clear_title(
    mesh: LocalMesh, admin_headers: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Title:
    source = make_source(tmp_path_factory.mktemp("browser") / "clear.mp4", "1280x720")
    return ingest(mesh, admin_headers, source, {"renditions": CLEAR_RUNGS})


@pytest.fixture(scope="module")
def protected_title(
    mesh: LocalMesh, admin_headers: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Title:
    """1920x1080 source: the ladder never upscales, and the 1080 rung is the HD key's."""
    source = make_source(tmp_path_factory.mktemp("browser") / "protected.mp4", "1920x1080")
    return ingest(mesh, admin_headers, source, {"encrypt": True, "renditions": PROTECTED_RUNGS})


def dash_heights(mpd_text: str) -> list[int]:
    mpd = mpegdash.parser.MPEGDASHParser.parse(mpd_text)
    return sorted(
        int(r.height)
        for period in mpd.periods
        for aset in period.adaptation_sets
        if aset.content_type == "video"  # not the trick-play image track
        for r in aset.representations
        if r.height
    )


def hls_heights(master_text: str) -> list[int]:
    master = m3u8.loads(master_text)
    return sorted(p.stream_info.resolution[1] for p in master.playlists)


def start_session(mesh: LocalMesh, viewer: Viewer, title: Title, protocol: str) -> dict[str, Any]:
    started = start(
        mesh.settings.gateway_url, viewer, title.title, f"browser-{protocol.lower()}",
        "DEVICE_TYPE_WEB", preferredProtocol=f"STREAMING_PROTOCOL_{protocol}",
    )  # fmt: skip
    assert started.status_code == 200, started.text
    session = started.json()["session"]
    assert session["protocol"] == f"STREAMING_PROTOCOL_{protocol}"
    return session


def kid_hex(kid: str) -> str:
    """A JWK / CDM key id (base64url, no padding) as 32 lower-case hex digits."""
    return base64.urlsafe_b64decode(kid + "=" * (-len(kid) % 4)).hex()


def kid_b64(key_id_hex: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(key_id_hex)).rstrip(b"=").decode()


def granted_kids(result: dict[str, Any]) -> set[str]:
    """Hex key ids of every licence response body the browser received (any status)."""
    kids = {kid_hex(k) for r in result["licenseRequests"] for k in r["kids"]}
    kids |= {kid_hex(k) for r in result["replays"] for k in r.get("kids", [])}
    return kids


def other_keys(title: Title) -> set[str]:
    """Key ids of the media asset that no video rendition uses (e.g. an audio key)."""
    media = title.job.get("mediaAsset") or {}
    return set(media.get("keyIds", [])) - set(title.key_ids_by_height().values())


def licence_kids(response: httpx.Response) -> set[str]:
    """Hex key ids in a ClearKey licence (JWK set) body; none for any other body."""
    try:
        body = response.json()
    except ValueError:
        return set()
    keys = body.get("keys", []) if isinstance(body, dict) else []
    return {kid_hex(k["kid"]) for k in keys if isinstance(k, dict) and "kid" in k}


# --- clear titles ----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["DASH", "HLS"])
def test_shaka_in_chromium_plays_the_per_session_manifest(
    mesh: LocalMesh, web_url: str, clear_title: Title, protocol: str, tmp_path: Path
) -> None:
    viewer = sign_up(mesh, f"browser-{uuid.uuid4().hex[:8]}@example.com", "standard")
    session = start_session(mesh, viewer, clear_title, protocol)
    try:
        assert not session.get("encrypted", False)
        assert not session.get("licenseUrl")
        manifest = httpx.get(session["manifestUrl"], timeout=15)
        assert manifest.status_code == 200, manifest.text
        heights = (dash_heights if protocol == "DASH" else hls_heights)(manifest.text)
        assert heights == [360, 720]
        shot = tmp_path / f"{protocol.lower()}.png"
        url = page_url(web_url, session["manifestUrl"], title=clear_title.display_name)
        result = play(url, "--screenshot", str(shot))
        assert_played(result, heights)
        assert result["state"]["manifestType"] == protocol
        assert result["state"]["videoHeight"] in heights
        assert result["licenseRequests"] == [] and result["playerLicenseRequests"] == []
        assert shot.stat().st_size > 10_000
    finally:
        stop(mesh.settings.gateway_url, viewer, session["name"])


# --- protected titles (CENC + ClearKey licences from licensing) ---------------------------------


def test_the_job_reports_per_class_key_ids(protected_title: Title) -> None:
    keys = protected_title.key_ids_by_height()
    assert sorted(keys) == [360, 720, 1080], protected_title.job.get("renditions")
    assert all(len(k) == 32 and int(k, 16) >= 0 for k in keys.values()), keys
    # 1080 is HD (721-1080 lines); 720 and 360 are SD: different classes, different keys.
    assert keys[1080] != keys[720]


def test_a_standard_viewer_plays_protected_dash_and_a_stopped_session_gets_no_licence(
    mesh: LocalMesh, web_url: str, protected_title: Title
) -> None:
    base = mesh.settings.gateway_url
    viewer = sign_up(mesh, f"drm-std-{uuid.uuid4().hex[:8]}@example.com", "standard")
    session = start_session(mesh, viewer, protected_title, "DASH")
    stopped = False
    try:
        assert session["encrypted"] is True
        license_url = session["licenseUrl"]
        assert license_url.startswith(f"{base}/v1/licenses/clearkey?session_token="), license_url
        mpd = httpx.get(session["manifestUrl"], timeout=15)
        assert mpd.status_code == 200, mpd.text
        assert "cenc:default_KID" in mpd.text and "e2719d58-a985-b3c9-781a-b030af78d30e" in (
            mpd.text.lower()
        )
        heights = dash_heights(mpd.text)
        assert heights == [360, 720, 1080]

        def stop_session() -> None:
            nonlocal stopped
            stop(base, viewer, session["name"])
            stopped = True

        url = page_url(web_url, session["manifestUrl"], license_url, protected_title.display_name)
        result = play_with_pause(
            url, stop_session,
            "--action", "replay-license", "--action", "stdin", "--action", "replay-license",
        )  # fmt: skip
        assert_played(result, heights)

        # Shaka asked our licence URL and licensing answered 200 with keys of this title.
        played = [r for r in result["licenseRequests"] if r["phase"] == "play"]
        assert played, result["playerLicenseRequests"]
        assert all(r["url"] == license_url and r["method"] == "POST" for r in played)
        assert any(r["status"] == 200 and r["kids"] for r in played), played
        assert any(r["ok"] for r in result["playerLicenseRequests"]), explain(result)
        title_keys = set(protected_title.key_ids_by_height().values())
        granted = granted_kids(result)
        assert granted and granted <= title_keys | other_keys(protected_title), granted

        # The same request again: granted while the session lives, refused once it is stopped.
        before, after = result["replays"]
        assert before["status"] == 200, before
        assert after["status"] is not None and 400 <= after["status"] < 500, after
        assert after["kids"] == [], after
        # Outside the browser too: the licence URL of a stopped session hands out nothing.
        body = {"kids": [kid_b64(k) for k in sorted(title_keys)], "type": "temporary"}
        direct = httpx.post(license_url, json=body, timeout=15)
        assert 400 <= direct.status_code < 500, direct.text
        assert licence_kids(direct) == set(), direct.text
    finally:
        if not stopped:
            stop(base, viewer, session["name"])


def test_a_basic_viewer_is_never_handed_the_hd_key(
    mesh: LocalMesh, web_url: str, protected_title: Title
) -> None:
    base = mesh.settings.gateway_url
    hd_key = protected_title.key_ids_by_height()[1080]
    viewer = sign_up(mesh, f"drm-basic-{uuid.uuid4().hex[:8]}@example.com", "basic")
    session = start_session(mesh, viewer, protected_title, "DASH")
    try:
        assert session["encrypted"] is True and session["maxHeight"] == 720
        license_url = session["licenseUrl"]
        mpd = httpx.get(session["manifestUrl"], timeout=15)
        assert mpd.status_code == 200, mpd.text
        heights = dash_heights(mpd.text)
        assert heights == [360, 720]

        url = page_url(web_url, session["manifestUrl"], license_url, protected_title.display_name)
        result = play(url, "--action", "wait:1", "--action", "report")
        assert_played(result, heights)
        played = [r for r in result["licenseRequests"] if r["phase"] == "play"]
        assert any(r["status"] == 200 and r["kids"] for r in played), played
        assert hd_key not in granted_kids(result), result["licenseRequests"]
        assert result["state"]["videoHeight"] <= 720

        # Asking for the HD key outright with the basic session's licence URL gets no HD key.
        asked = httpx.post(
            license_url, json={"kids": [kid_b64(hd_key)], "type": "temporary"}, timeout=15
        )
        assert asked.status_code == 200 or 400 <= asked.status_code < 500, asked.text
        assert hd_key not in licence_kids(asked), asked.text
    finally:
        stop(base, viewer, session["name"])
