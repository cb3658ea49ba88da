"""The per-session rewrite of an encrypted title's origin manifests, on origin manifests in the
packager's format (per-Representation CENC + ClearKey in the MPD; `<track>-aes` AES-128 media
playlists with `key://<kid>` key URIs): licence URL, vendor signalling, key URIs, the cap's
removal of the HD/UHD rungs and their KIDs, and refusals of anything unexpected."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import m3u8
import pytest

from services.playback import manifests
from services.playback.config import load_settings, parse_drm_signal
from tests.playback.protection import (
    CLEARKEY_ID,
    DASH,
    MP4PROTECTION,
    PLAYREADY_ID,
    WIDEVINE_ID,
    clearkey_license_urls,
    default_kid,
    playready_key_ids,
    protections,
    pssh_of,
    widevine_key_ids,
)

SD, HD, UHD, AUDIO = (f"{n:x}" * 32 for n in (1, 2, 3, 4))
ORIGIN = manifests.Origin("movie", "movie-m1")
LICENSE = "https://gw.example/v1/licenses/clearkey?session_token=s1.movie.US.9.mac"


def _cp(kid: str) -> str:
    return (
        '<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cenc" '
        f'cenc:default_KID="{uuid.UUID(kid)}"/>'
        f'<ContentProtection schemeIdUri="urn:uuid:{CLEARKEY_ID}" value="ClearKey1.0"/>'
    )


def _rep(track: str, height: int, kid: str) -> str:
    uri = f"../../renditions/movie-m1/{track}/"
    return (
        f'<Representation id="{track}" bandwidth="{height * 1000}" codecs="avc1.64001f" '
        f'width="{height * 16 // 9}" height="{height}">{_cp(kid)}'
        f'<SegmentTemplate timescale="90000" initialization="{uri}init.mp4" '
        f'media="{uri}seg-$Number%05d$.m4s" startNumber="1">'
        '<SegmentTimeline><S t="0" d="180000" r="1"/></SegmentTimeline></SegmentTemplate>'
        "</Representation>"
    )


ORIGIN_MPD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013" '
    'type="static" mediaPresentationDuration="PT4.000S" minBufferTime="PT2.000S">'
    '<Period id="0" start="PT0S">'
    '<AdaptationSet id="0" contentType="video" mimeType="video/mp4" maxWidth="3840" '
    'maxHeight="2160">'
    + _rep("720p-h264", 720, SD)
    + _rep("1080p-h264", 1080, HD)
    + _rep("2160p-h264", 2160, UHD)
    + '</AdaptationSet><AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" lang="en">'
    + _rep("audio-0-en", 0, AUDIO).replace(' width="0" height="0"', "")
    + "</AdaptationSet></Period></MPD>"
)

AES_PLAYLIST = "\n".join(
    [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-TARGETDURATION:2",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        f'#EXT-X-KEY:METHOD=AES-128,URI="key://{HD}",IV=0x000102030405060708090a0b0c0d0e0f',
        '#EXT-X-MAP:URI="../../renditions/movie-m1/1080p-h264-aes/init.mp4"',
        "#EXTINF:2.000000,",
        "../../renditions/movie-m1/1080p-h264-aes/seg-00001.m4s",
        "#EXTINF:2.000000,",
        "../../renditions/movie-m1/1080p-h264-aes/seg-00002.m4s",
        "#EXT-X-ENDLIST",
    ]
)


def sign(track: str, file: str) -> str:
    return f"https://edge.example/cdn/US/movie/movie-m1/{track}/{file}?s=s1"


def key_url(kid: str) -> str:
    return manifests.hls_key_url("https://gw.example/", kid, "s1.movie.US.9.mac")


def protection(*systems: str) -> manifests.Protection:
    return manifests.Protection(LICENSE, key_url, systems)


def representations(body: str) -> dict[str, ET.Element]:
    root = ET.fromstring(body)
    return {r.get("id", ""): r for r in root.iter(f"{{{DASH}}}Representation")}


def test_mpd_keeps_each_rungs_cenc_and_adds_the_licence_url() -> None:
    body = manifests.rewrite_mpd(
        ORIGIN_MPD, ["720p-h264", "1080p-h264", "2160p-h264"], ORIGIN, sign, protection=protection()
    )
    reps = representations(body)
    assert sorted(reps) == ["1080p-h264", "2160p-h264", "720p-h264", "audio-0-en"]
    expected = {"720p-h264": SD, "1080p-h264": HD, "2160p-h264": UHD, "audio-0-en": AUDIO}
    for track, rep in reps.items():
        assert default_kid(rep) == expected[track]
        found = protections(rep)
        assert sorted(found) == [MP4PROTECTION, f"urn:uuid:{CLEARKEY_ID}"]  # no vendor by default
        assert clearkey_license_urls(found[f"urn:uuid:{CLEARKEY_ID}"]) == (
            LICENSE,
            LICENSE,
            "EME-1.0",
        )
    # ContentProtection stays before SegmentTemplate (the MPD schema's order).
    tags = [child.tag.rsplit("}", 1)[1] for child in reps["1080p-h264"]]
    assert tags == ["ContentProtection", "ContentProtection", "SegmentTemplate"]
    assert 'xmlns:dashif="https://dashif.org/CPS"' in body
    assert 'xmlns:clearkey="http://dashif.org/guidelines/clearKey"' in body


def test_mpd_cap_below_hd_removes_the_hd_and_uhd_kids() -> None:
    body = manifests.rewrite_mpd(
        ORIGIN_MPD, ["720p-h264"], ORIGIN, sign, protection=protection("widevine", "playready")
    )
    assert sorted(representations(body)) == ["720p-h264", "audio-0-en"]
    for kid in (HD, UHD):
        assert kid not in body and str(uuid.UUID(kid)) not in body
    for cp in ET.fromstring(body).iter(f"{{{DASH}}}ContentProtection"):
        if cp.find("{urn:mpeg:cenc:2013}pssh") is not None:
            assert set(pssh_of(cp).key_ids) <= {SD, AUDIO}


def test_mpd_signals_the_configured_vendor_systems_per_kid() -> None:
    body = manifests.rewrite_mpd(
        ORIGIN_MPD,
        ["720p-h264", "1080p-h264"],
        ORIGIN,
        sign,
        protection=protection("widevine", "playready"),
    )
    reps = representations(body)
    assert sorted(reps) == ["1080p-h264", "720p-h264", "audio-0-en"]
    for track, kid in (("720p-h264", SD), ("1080p-h264", HD), ("audio-0-en", AUDIO)):
        found = protections(reps[track])
        assert sorted(found) == sorted(
            [MP4PROTECTION, f"urn:uuid:{CLEARKEY_ID}", f"urn:uuid:{WIDEVINE_ID}"]
            + [f"urn:uuid:{PLAYREADY_ID}"]
        )
        widevine = pssh_of(found[f"urn:uuid:{WIDEVINE_ID}"])
        assert widevine.system_id == WIDEVINE_ID
        assert widevine.key_ids == (kid,) and widevine_key_ids(widevine.data) == [kid]
        playready = pssh_of(found[f"urn:uuid:{PLAYREADY_ID}"])
        assert playready.system_id == PLAYREADY_ID
        assert playready.key_ids == (kid,) and playready_key_ids(playready.data) == [kid]
        assert found[f"urn:uuid:{WIDEVINE_ID}"].get("value") == "Widevine"
        assert found[f"urn:uuid:{PLAYREADY_ID}"].get("value") == "MSPR 2.0"
        order = [cp.get("schemeIdUri") for cp in reps[track].iter(f"{{{DASH}}}ContentProtection")]
        assert order[:2] == [MP4PROTECTION, f"urn:uuid:{CLEARKEY_ID}"]


def test_mpd_replaces_an_origin_licence_url_and_adds_clearkey_when_missing() -> None:
    origin = ORIGIN_MPD.replace(
        f'<ContentProtection schemeIdUri="urn:uuid:{CLEARKEY_ID}" value="ClearKey1.0"/>',
        "",
        1,
    ).replace(
        f'<ContentProtection schemeIdUri="urn:uuid:{CLEARKEY_ID}" value="ClearKey1.0"/>',
        f'<ContentProtection schemeIdUri="urn:uuid:{CLEARKEY_ID}" value="ClearKey1.0">'
        '<dashif:Laurl xmlns:dashif="https://dashif.org/CPS">https://stale/</dashif:Laurl>'
        "</ContentProtection>",
    )
    body = manifests.rewrite_mpd(
        origin, ["720p-h264", "1080p-h264"], ORIGIN, sign, protection=protection()
    )
    assert "https://stale/" not in body
    for rep in representations(body).values():
        cp = protections(rep)[f"urn:uuid:{CLEARKEY_ID}"]
        assert clearkey_license_urls(cp) == (LICENSE, LICENSE, "EME-1.0")


def test_mpd_of_a_clear_session_is_unchanged_by_protection_code() -> None:
    clear = manifests.rewrite_mpd(ORIGIN_MPD, ["720p-h264"], ORIGIN, sign)
    assert "laurl" not in clear.lower() and "pssh" not in clear


def test_mpd_with_a_malformed_kid_is_refused() -> None:
    broken = ORIGIN_MPD.replace(str(uuid.UUID(SD)), "not-a-kid", 1)
    with pytest.raises(manifests.ManifestError):
        manifests.rewrite_mpd(broken, ["720p-h264"], ORIGIN, sign, protection=protection())


def test_hls_aes_playlist_gets_the_sessions_key_uri_and_aes_segments() -> None:
    body = manifests.rewrite_hls_media(
        AES_PLAYLIST, ORIGIN, sign, key_url=key_url, track="1080p-h264-aes"
    )
    playlist = m3u8.loads(body)
    assert len(playlist.keys) == 1
    key = playlist.keys[0]
    assert key.method == "AES-128"
    assert key.iv == "0x000102030405060708090a0b0c0d0e0f"
    assert key.uri == f"https://gw.example/v1/hlsKeys/{HD}?session_token=s1.movie.US.9.mac"
    assert playlist.segment_map[0].uri == sign("1080p-h264-aes", "init.mp4")
    assert [s.uri for s in playlist.segments] == [
        sign("1080p-h264-aes", "seg-00001.m4s"),
        sign("1080p-h264-aes", "seg-00002.m4s"),
    ]
    # The key line still precedes the map: the init segment is encrypted too.
    lines = body.splitlines()
    assert lines.index(next(x for x in lines if x.startswith("#EXT-X-KEY:"))) < lines.index(
        next(x for x in lines if x.startswith("#EXT-X-MAP:"))
    )


@pytest.mark.parametrize(
    "change",
    [
        (f'URI="key://{HD}"', 'URI="https://evil.example/key"'),
        (f'URI="key://{HD}"', 'URI="key://xyz"'),
        ("METHOD=AES-128", "METHOD=SAMPLE-AES"),
        ("1080p-h264-aes/seg-00002.m4s", "1080p-h264/seg-00002.m4s"),  # a CENC segment
        ("1080p-h264-aes/init.mp4", "720p-h264-aes/init.mp4"),  # another rung's
    ],
)
def test_hls_aes_playlist_refuses_anything_unexpected(change: tuple[str, str]) -> None:
    with pytest.raises(manifests.ManifestError):
        manifests.rewrite_hls_media(
            AES_PLAYLIST.replace(*change), ORIGIN, sign, key_url=key_url, track="1080p-h264-aes"
        )


def test_master_listing_aes_playlists_names_the_sessions_tracks() -> None:
    master = "\n".join(
        [
            "#EXTM3U",
            '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",URI="audio-0-en-aes.m3u8"',
            '#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=1280x720,AUDIO="aud"',
            "720p-h264-aes.m3u8",
            '#EXT-X-STREAM-INF:BANDWIDTH=2,RESOLUTION=1920x1080,AUDIO="aud"',
            "1080p-h264-aes.m3u8",
        ]
    )
    variants, others = manifests.hls_tracks(master)
    assert variants == [("720p-h264", 720), ("1080p-h264", 1080)] and others == ["audio-0-en"]
    body = manifests.rewrite_hls_master(master, ["720p-h264"], lambda t: f"{t}.m3u8?token=x")
    assert "1080p" not in body and "720p-h264.m3u8?token=x" in body
    assert 'URI="audio-0-en.m3u8?token=x"' in body


def test_drm_signal_setting() -> None:
    assert parse_drm_signal("") == ()
    assert parse_drm_signal(" Widevine, playready ,widevine") == ("widevine", "playready")
    with pytest.raises(ValueError):
        parse_drm_signal("widevine,clearkey2")
    env = {"VOD_PLAYBACK_SECRET": "a", "VOD_EDGE_SECRET": "b"}
    settings = load_settings(env)
    assert settings.drm_signal == () and settings.license_public_url == ""
    assert settings.public_license_base == "http://127.0.0.1:8080"
    settings = load_settings(
        {
            **env,
            "VOD_DRM_SIGNAL": "playready",
            "VOD_LICENSE_PUBLIC_URL": "https://licences.example/",
        }
    )
    assert settings.drm_signal == ("playready",)
    assert settings.public_license_base == "https://licences.example"
