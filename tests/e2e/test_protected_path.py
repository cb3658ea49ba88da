"""Protected titles end to end through the whole local mesh: the admin ingests with
`encrypt: true` (keys from licensing, per class), a viewer's session gets a ClearKey licence
through the gateway for exactly the keys of the rungs its plan allows, ffmpeg decrypts the
per-session DASH through the edge only with those keys, HLS AES-128 plays through the edge with
the session's key URIs, and a stopped session or a forged token gets no further key. Every grant
and refusal is in the licence audit; no key appears in any log."""

from __future__ import annotations

import base64
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import imageio_ffmpeg
import pytest

from mesh.launcher import LocalMesh
from tests.e2e.media import ingest_through_gateway
from tests.e2e.test_viewer_path import make_source, sign_up, start, stop

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
RUNGS = [
    {"height": 1080, "bitrateBps": 700_000},
    {"height": 360, "bitrateBps": 150_000},
]
GARBLED = re.compile(
    r"error while decoding|Invalid NAL|no frame|corrupt|decode_slice|concealing", re.I
)


@dataclass
class Protected:
    title: str
    kids: dict[int, str]
    """Rung height -> hex KID."""


def b64url(hex_kid: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(hex_kid)).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(scope="module")
def protected(
    mesh: LocalMesh, admin_headers: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Protected:
    data = make_source(tmp_path_factory.mktemp("protected") / "source.mp4")
    ingested = ingest_through_gateway(
        mesh.settings.gateway_url,
        admin_headers,
        data,
        options={"renditions": RUNGS, "encrypt": True},
        regions=[mesh.settings.regions[0]],
        display_name=f"Protected {uuid.uuid4().hex[:6]}",
    )
    renditions = ingested.job["renditions"]
    kids = ingested.key_ids_by_height()
    assert len(set(kids.values())) == 2 and all(r["encrypted"] for r in renditions)
    return Protected(ingested.title, kids)


def licence(url: str, kids: list[str]) -> httpx.Response:
    return httpx.post(
        url,
        json={"kids": [b64url(k) for k in kids], "type": "temporary"},
        timeout=15,
    )


def decode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FFMPEG, "-v", "error", *args, "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_dash_decrypts_only_with_the_keys_the_licence_granted(
    mesh: LocalMesh, protected: Protected, admin_headers: dict[str, str]
) -> None:
    base = mesh.settings.gateway_url
    viewer = sign_up(mesh, f"dash-{uuid.uuid4().hex[:8]}@example.com", "standard")
    started = start(base, viewer, protected.title, "web-p1", "DEVICE_TYPE_WEB",
                    preferredProtocol="STREAMING_PROTOCOL_DASH")  # fmt: skip
    assert started.status_code == 200, started.text
    session = started.json()["session"]
    assert session["encrypted"] is True
    assert session["licenseUrl"].startswith(f"{base}/v1/licenses/clearkey?session_token=")
    mpd = httpx.get(session["manifestUrl"], timeout=15).text
    listed = {k.replace("-", "") for k in re.findall(r'cenc:default_KID="([0-9a-fA-F-]+)"', mpd)}
    assert set(protected.kids.values()) <= listed  # both video classes; the audio key too

    granted = licence(session["licenseUrl"], sorted(listed))
    assert granted.status_code == 200, granted.text
    keys = {unb64url(k["kid"]).hex(): unb64url(k["k"]).hex() for k in granted.json()["keys"]}
    assert set(keys) == listed
    decrypted = decode(
        "-cenc_decryption_keys", ":".join(f"{kid}={key}" for kid, key in keys.items()),
        "-i", session["manifestUrl"], "-map", "0",
    )  # fmt: skip
    assert decrypted.returncode == 0 and decrypted.stderr.strip() == "", decrypted.stderr[-2000:]
    without = decode("-i", session["manifestUrl"], "-map", "0")
    assert without.returncode != 0 or GARBLED.search(without.stderr), without.stderr[-1500:]

    # After StopPlayback the same licence request is refused, and that is audited.
    stop(base, viewer, session["name"])
    again = licence(session["licenseUrl"], sorted(listed))
    assert again.status_code == 400 and "SESSION_STOPPED" in again.text
    audits = httpx.get(
        f"{base}/v1/licenseAudits",
        params={"session": session["name"]},
        headers=admin_headers,
        timeout=15,
    ).json()["licenseAudits"]
    assert [(a["decision"], a["reason"]) for a in audits][:2] == [
        ("LICENSE_DECISION_REFUSED", "SESSION_STOPPED"),
        ("LICENSE_DECISION_GRANTED", "GRANTED"),
    ]
    for value in keys.values():
        assert value not in str(audits)


def test_a_720p_plan_never_receives_the_hd_key(mesh: LocalMesh, protected: Protected) -> None:
    base = mesh.settings.gateway_url
    viewer = sign_up(mesh, f"basic-p-{uuid.uuid4().hex[:8]}@example.com", "basic")
    started = start(base, viewer, protected.title, "web-p2", "DEVICE_TYPE_WEB",
                    preferredProtocol="STREAMING_PROTOCOL_DASH")  # fmt: skip
    assert started.status_code == 200, started.text
    session = started.json()["session"]
    mpd = httpx.get(session["manifestUrl"], timeout=15).text
    hd, sd = protected.kids[1080], protected.kids[360]
    assert hd not in mpd.replace("-", "") and sd in mpd.replace("-", "")
    # Asking for the HD key anyway: the licence carries only what the plan allows.
    mixed = licence(session["licenseUrl"], [sd, hd])
    assert mixed.status_code == 200, mixed.text
    assert {unb64url(k["kid"]).hex() for k in mixed.json()["keys"]} == {sd}
    only_hd = licence(session["licenseUrl"], [hd])
    assert only_hd.status_code == 403 and "RESOLUTION_NOT_IN_PLAN" in only_hd.text
    # Forged and foreign tokens get nothing.
    forged = session["licenseUrl"][:-3] + "AAA"
    assert licence(forged, [sd]).status_code == 401
    stop(base, viewer, session["name"])


def test_hls_aes_128_plays_through_the_edge_with_the_session_keys(
    mesh: LocalMesh, protected: Protected, tmp_path: Path
) -> None:
    base = mesh.settings.gateway_url
    viewer = sign_up(mesh, f"hls-p-{uuid.uuid4().hex[:8]}@example.com", "standard")
    started = start(base, viewer, protected.title, "phone-p3", "DEVICE_TYPE_MOBILE",
                    preferredProtocol="STREAMING_PROTOCOL_HLS")  # fmt: skip
    assert started.status_code == 200, started.text
    session = started.json()["session"]
    master = httpx.get(session["manifestUrl"], timeout=15).text
    variant = next(line for line in master.splitlines() if line and not line.startswith("#"))
    media_url = session["manifestUrl"].rsplit("/", 1)[0] + "/" + variant
    media = httpx.get(media_url, timeout=15).text
    key_line = next(line for line in media.splitlines() if line.startswith("#EXT-X-KEY"))
    assert "METHOD=AES-128" in key_line and f"{base}/v1/hlsKeys/" in key_line
    key_uri = re.search(r'URI="([^"]+)"', key_line).group(1)  # type: ignore[union-attr]
    assert httpx.get(key_uri, timeout=15).content.__len__() == 16
    edge = mesh.edge_urls()[mesh.settings.regions[0]]
    assert all(
        line.startswith(f"{edge}/cdn/") and "-aes/" in line
        for line in media.splitlines()
        if line and not line.startswith("#")
    )
    played = decode("-protocol_whitelist", "file,http,tcp,crypto", "-i", media_url)
    assert played.returncode == 0 and played.stderr.strip() == "", played.stderr[-2000:]

    # A playlist whose key URI carries a forged token does not play (the key is refused).
    forged = tmp_path / "forged.m3u8"
    forged.write_text(media.replace(key_uri, key_uri[:-3] + "AAA"))
    refused = decode("-protocol_whitelist", "file,http,tcp,crypto", "-i", str(forged))
    assert refused.returncode != 0 or GARBLED.search(refused.stderr), refused.stderr[-1500:]
    assert httpx.get(key_uri[:-3] + "AAA", timeout=15).status_code == 401
    # After the session stops, its key URI is refused too.
    stop(base, viewer, session["name"])
    assert httpx.get(key_uri, timeout=15).status_code == 400


def test_no_content_key_reaches_any_log(mesh: LocalMesh, protected: Protected) -> None:
    base = mesh.settings.gateway_url
    viewer = sign_up(mesh, f"keys-{uuid.uuid4().hex[:8]}@example.com", "premium")
    started = start(base, viewer, protected.title, "tv-p4", "DEVICE_TYPE_TV",
                    preferredProtocol="STREAMING_PROTOCOL_DASH")  # fmt: skip
    session = started.json()["session"]
    mpd = httpx.get(session["manifestUrl"], timeout=15).text
    listed = sorted({k.replace("-", "") for k in re.findall(r'default_KID="([0-9a-fA-F-]+)"', mpd)})
    keys = [unb64url(k["k"]) for k in licence(session["licenseUrl"], listed).json()["keys"]]
    assert len(keys) == len(listed) >= 3
    stop(base, viewer, session["name"])
    httpx.post(f"http://{mesh.settings.host}:{mesh.settings.admin_port}/reopen_logs", timeout=5)
    forms = []
    for key in keys:
        forms += [key.hex(), base64.b64encode(key).decode(), b64url(key.hex())]
    logs = [*mesh.settings.logs.rglob("*.log"), *(mesh.settings.home / "edges").rglob("*.log")]
    for log in logs:
        text = log.read_text(errors="replace")
        for form in forms:
            assert form not in text, f"key material in {log}"
