"""Encrypted ingest with content keys from the licensing server (`tc_licensing`, the real one):
one key per class (SD, HD, audio), CENC DASH with per-Representation ContentProtection (checked
with mpegdash) that ffmpeg decodes only with the right keys, and an HLS AES-128 copy that ffmpeg
plays when the playlist's placeholder key URI points at the 16 key bytes (over HTTP) and fails to
play with a wrong key. Packaging with and without encryption is timed on the same renditions."""

from __future__ import annotations

import asyncio
import http.server
import json
import re
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urljoin

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser
from vod.licensing.v1 import licensing_pb2 as lpb
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.transcoding.server import Running
from tests.transcoding.conftest import LicensingUnderTest
from tests.transcoding.helpers import FFMPEG, create_job, make_video, upload, wait_job
from tests.transcoding.packaging_bench import measure_packaging
from tests.transcoding.test_pipeline import get

TITLE = "titles/protected"
MEDIA = "protected-1"
MP4PROTECTION = "urn:mpeg:dash:mp4protection:2011"
CLEARKEY = "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e"
HD, SD, AUDIO = lpb.TRACK_TYPE_VIDEO_HD, lpb.TRACK_TYPE_VIDEO_SD, lpb.TRACK_TYPE_AUDIO
# What h264/aac decoders (and the mp4 demuxer) say when they are fed ciphertext.
GARBLED = re.compile(
    r"error while decoding|Invalid NAL|non-existing PPS|no frame|decode_slice_header|"
    r"illegal|concealing|Invalid data|corrupt|out of range|left block unavailable|"
    r"Reserved bit set|number of reference frames|top block unavailable|Error splitting|"
    r"Prediction is not allowed|channel element|decryption|missing picture|truncated",
    re.IGNORECASE,
)

# A refusal for a missing input, as ffmpeg words it; a bare "404" would also match the numbers in
# its messages about undecodable (still encrypted) data, e.g. "bytestream 5404".
_NOT_FOUND = re.compile(r"\b404 Not Found\b|Server returned 404")


def ffmpeg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def uuid_kid(kid: str) -> str:
    return str(uuid.UUID(hex=kid))


@pytest.fixture(scope="module")
def hd_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16:10 at 800 lines: an HD rung (721-1080) and an SD rung from the same title."""
    return make_video(tmp_path_factory.mktemp("protected") / "hd.mp4", seconds=4, size="1280x800")


@pytest.fixture(scope="module")
async def encrypted(tc, tc_worker, hd_source: Path) -> pb.Job:
    up = await upload(tc, hd_source, TITLE, MEDIA, chunk_size=1024 * 1024)
    job = await create_job(
        tc,
        up.name,
        MEDIA,
        renditions=[
            pb.RenditionSpec(height=800, bitrate_bps=1_500_000),
            pb.RenditionSpec(height=360, bitrate_bps=400_000),
        ],
        encrypt=True,
        segment_duration_seconds=2,
        keyframe_interval_seconds=2,
    )
    job, _ = await wait_job(tc, job.name, timeout=180)
    assert job.state == pb.JOB_STATE_SUCCEEDED, job.error.message
    return job


@pytest.fixture(scope="module")
async def keys(encrypted: pb.Job, tc_licensing: LicensingUnderTest) -> dict[int, lpb.ContentKey]:
    return await tc_licensing.keys(MEDIA)


def rendition(job: pb.Job, height: int) -> pb.Rendition:
    return next(r for r in job.renditions if r.height == height)


async def test_licensing_is_the_real_server(tc_licensing: LicensingUnderTest) -> None:
    """The packaging tests run against services/licensing; the conftest double only stands in
    while that package is missing, and this says so in the summary."""
    if not tc_licensing.real:
        pytest.skip("services.licensing is not importable: keys came from the conftest double")


async def test_each_class_gets_its_own_key_from_licensing(
    encrypted: pb.Job, keys: dict[int, lpb.ContentKey]
) -> None:
    assert set(keys) == {HD, SD, AUDIO}  # nothing else was created (no UHD rung, no ALL key)
    hd, sd = rendition(encrypted, 800), rendition(encrypted, 360)
    assert hd.encrypted and sd.encrypted
    assert hd.key_id == keys[HD].key_id and sd.key_id == keys[SD].key_id
    assert hd.key_id != sd.key_id
    asset = encrypted.media_asset
    assert asset.encrypted
    assert sorted(asset.key_ids) == sorted(k.key_id for k in keys.values())
    assert list(asset.renditions) == list(encrypted.renditions)


async def test_dash_representations_carry_their_default_kid(
    encrypted: pb.Job, keys: dict[int, lpb.ContentKey], tc_service: Running
) -> None:
    text = tc_service.store.get_bytes(f"{TITLE}/manifests/{MEDIA}/manifest.mpd").decode()
    mpd = MPEGDASHParser.parse(text)
    expected = {
        rendition(encrypted, 800).id: keys[HD].key_id,
        rendition(encrypted, 360).id: keys[SD].key_id,
        "audio-0-und": keys[AUDIO].key_id,
    }
    seen = {}
    sets = mpd.periods[0].adaptation_sets
    # Trick-play thumbnails stay clear (JPEG sheets no player decrypts); everything else is CENC.
    assert [s.content_type for s in sets] == ["video", "audio", "image"]
    assert not sets[2].content_protections and not sets[2].representations[0].content_protections
    for adaptation in sets[:2]:
        assert not adaptation.content_protections  # per Representation: KIDs differ per class
        for rep in adaptation.representations:
            schemes = {cp.scheme_id_uri: cp for cp in rep.content_protections or []}
            assert set(schemes) == {MP4PROTECTION, CLEARKEY}, rep.id
            assert schemes[MP4PROTECTION].value == "cenc"
            seen[rep.id] = uuid.UUID(schemes[MP4PROTECTION].cenc_default_kid).hex
    assert seen == expected
    assert "Laurl" not in text and "laurl" not in text  # playback adds the session's licence URL


async def test_ffmpeg_decodes_the_cenc_dash_only_with_the_keys(
    encrypted: pb.Job, keys: dict[int, lpb.ContentKey], origin: str, tmp_path: Path
) -> None:
    url = f"{origin}/{encrypted.media_asset.dash_manifest_uri}"
    both = ":".join(f"{k.key_id}={k.key.hex()}" for k in (keys[HD], keys[SD], keys[AUDIO]))
    good = await asyncio.to_thread(
        ffmpeg, "-cenc_decryption_keys", both, "-i", url, "-map", "0", "-f", "null", "-"
    )
    assert good.returncode == 0 and good.stderr.strip() == "", good.stderr[-2000:]

    # One rendition as a file: init + segments from the origin.
    hd = rendition(encrypted, 800)
    base = f"{origin}/{TITLE}/renditions/{MEDIA}/{hd.id}/"
    status, init, _ = await get(base + "init.mp4")
    assert status == 200 and b"tenc" in init and b"encv" in init
    data = bytearray(init)
    for number in range(1, hd.segment_count + 1):
        status, body, _ = await get(f"{base}seg-{number:05d}.m4s")
        assert status == 200 and b"senc" in body
        data += body
    cenc = tmp_path / "hd-cenc.mp4"
    cenc.write_bytes(bytes(data))

    decoded = ffmpeg("-decryption_key", keys[HD].key.hex(), "-i", str(cenc), "-f", "null", "-")
    assert decoded.returncode == 0 and decoded.stderr.strip() == "", decoded.stderr[-2000:]
    frames = ffmpeg(
        "-decryption_key", keys[HD].key.hex(), "-i", str(cenc), "-f", "framemd5", "-"
    ).stdout
    assert len([line for line in frames.splitlines() if not line.startswith("#")]) == 100  # 4s@25

    for args in ([], ["-decryption_key", keys[SD].key.hex()]):  # no key; another class's key
        bad = ffmpeg(*args, "-i", str(cenc), "-f", "null", "-")
        assert bad.returncode != 0 or bad.stderr.strip(), args
        assert "No such file" not in bad.stderr and not _NOT_FOUND.search(bad.stderr)
        assert GARBLED.search(bad.stderr), bad.stderr[-1500:]
    wrong = await asyncio.to_thread(  # the origin answers on this loop: never block it
        ffmpeg,
        "-cenc_decryption_keys",
        both.replace(keys[HD].key.hex(), keys[SD].key.hex()),
        "-i",
        url,
        "-map",
        "0",
        "-f",
        "null",
        "-",
    )
    assert wrong.returncode != 0 or GARBLED.search(wrong.stderr), wrong.stderr[-1500:]


async def test_hls_lists_only_the_aes_128_copies(
    encrypted: pb.Job, keys: dict[int, lpb.ContentKey], tc_service: Running, origin: str
) -> None:
    store = tc_service.store
    folder = f"{TITLE}/manifests/{MEDIA}/"
    master = m3u8.loads(store.get_bytes(folder + "master.m3u8").decode())
    hd, sd = rendition(encrypted, 800), rendition(encrypted, 360)
    assert [p.uri for p in master.playlists] == [f"{hd.id}-aes.m3u8", f"{sd.id}-aes.m3u8"]
    assert [m.uri for m in master.media] == ["audio-0-und-aes.m3u8"]
    names = {k.rsplit("/", 1)[1] for k in store.list(folder)}
    assert f"{hd.id}.m3u8" not in names  # no HLS playlist of the CENC segments
    for track, key in ((hd.id, keys[HD]), (sd.id, keys[SD]), ("audio-0-und", keys[AUDIO])):
        text = store.get_bytes(f"{folder}{track}-aes.m3u8").decode()
        playlist = m3u8.loads(text)
        assert len(playlist.keys) == 1 and playlist.keys[0] is not None
        assert playlist.keys[0].method == "AES-128"
        assert playlist.keys[0].uri == f"key://{key.key_id}"
        assert playlist.keys[0].iv.lower() == f"0x{key.iv.hex()}"
        lines = text.splitlines()
        key_at = next(i for i, x in enumerate(lines) if x.startswith("#EXT-X-KEY"))
        map_at = next(i for i, x in enumerate(lines) if x.startswith("#EXT-X-MAP"))
        assert key_at < map_at  # the key covers the init segment too (RFC 8216 4.3.2.5)
        objects = [playlist.segment_map[0].uri, *(s.uri for s in playlist.segments)]
        assert all(u.startswith(f"../../renditions/{MEDIA}/{track}-aes/") for u in objects)
        # Same segment names as the CENC track, every file AES-128 ciphertext (16-byte blocks).
        cenc_names = sorted(
            k.rsplit("/", 1)[1] for k in store.list(f"{TITLE}/renditions/{MEDIA}/{track}/")
        )
        aes_keys = sorted(store.list(f"{TITLE}/renditions/{MEDIA}/{track}-aes/"))
        assert [k.rsplit("/", 1)[1] for k in aes_keys] == cenc_names
        for object_key in aes_keys:
            body = store.get_bytes(object_key)
            assert len(body) % 16 == 0 and b"moof" not in body and b"ftyp" not in body


class _KeyServer:
    """A local HTTP server answering every GET with the given 16 bytes (a stand-in for
    licensing's /v1/hlsKeys endpoint behind playback's per-session URI)."""

    def __init__(self) -> None:
        self.key = b""
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(outer.key)))
                self.end_headers()
                self.wfile.write(outer.key)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/hlsKeys/"


@pytest.fixture
def key_server() -> Iterator[_KeyServer]:
    server = _KeyServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


async def test_ffmpeg_plays_the_hls_aes_128_variant_only_with_the_key(
    encrypted: pb.Job,
    keys: dict[int, lpb.ContentKey],
    tc_service: Running,
    origin: str,
    key_server: _KeyServer,
    tmp_path: Path,
) -> None:
    folder = f"{TITLE}/manifests/{MEDIA}/"
    hd = rendition(encrypted, 800)
    text = tc_service.store.get_bytes(f"{folder}{hd.id}-aes.m3u8").decode()
    # What playback does per session: the placeholder URI becomes a key URL; segment URIs are
    # made absolute on the origin here.
    base = f"{origin}/{folder}"
    lines = []
    for line in text.splitlines():
        if line.startswith("#EXT-X-KEY"):
            line = line.replace("key://", key_server.url)
        elif line.startswith("#EXT-X-MAP"):
            uri = re.search(r'URI="([^"]+)"', line).group(1)  # type: ignore[union-attr]
            line = line.replace(uri, urljoin(base, uri))
        elif line and not line.startswith("#"):
            line = urljoin(base, line)
        lines.append(line)
    playlist = tmp_path / "hd-aes.m3u8"
    playlist.write_text("\n".join(lines) + "\n")
    command = ["-protocol_whitelist", "file,http,tcp,crypto", "-i", str(playlist)]

    key_server.key = keys[HD].key
    good = await asyncio.to_thread(ffmpeg, *command, "-f", "framemd5", "-")
    assert good.returncode == 0 and good.stderr.strip() == "", good.stderr[-2000:]
    assert len([x for x in good.stdout.splitlines() if not x.startswith("#")]) == 100
    assert key_server.hits >= 1

    # The same pictures as the CENC rendition decrypted with the same key.
    cenc_init = tc_service.store.get_bytes(f"{TITLE}/renditions/{MEDIA}/{hd.id}/init.mp4")
    cenc = tmp_path / "cenc.mp4"
    cenc.write_bytes(
        cenc_init
        + b"".join(
            tc_service.store.get_bytes(f"{TITLE}/renditions/{MEDIA}/{hd.id}/seg-{n:05d}.m4s")
            for n in range(1, hd.segment_count + 1)
        )
    )
    from_cenc = ffmpeg(
        "-decryption_key", keys[HD].key.hex(), "-i", str(cenc), "-f", "framemd5", "-"
    )

    def frame_hashes(out: str) -> list[str]:
        return [x.rsplit(",", 1)[1].strip() for x in out.splitlines() if not x.startswith("#")]

    assert frame_hashes(good.stdout) == frame_hashes(from_cenc.stdout)

    key_server.key = keys[SD].key  # another class's key
    bad = await asyncio.to_thread(ffmpeg, *command, "-f", "null", "-")
    assert bad.returncode != 0, bad.stderr[-1500:]
    assert "Connection refused" not in bad.stderr and not _NOT_FOUND.search(bad.stderr)


async def test_packaging_time_with_and_without_encryption(
    hd_source: Path, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """Measures, asserts nothing about speed: `package()` of the same renditions clear and
    encrypted (see tests/transcoding/packaging_bench.py for longer sources)."""
    report = await measure_packaging(hd_source, tmp_path, rounds=2)
    record_property("packaging", json.dumps(report))
    print(f"\npackaging, {json.dumps(report)}")
    assert report["encrypted_s"] > 0 and report["clear_s"] > 0
