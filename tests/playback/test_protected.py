"""Sessions of an ENCRYPTED title (packaged by the real transcoding worker with content keys
from the real licensing server): the licence URL, the per-session MPD's CENC / ClearKey /
vendor signalling per Representation, the HLS AES-128 playlists with the session's key URIs and
`<track>-aes` segments, a cap below HD dropping the HD rung and its KID from both manifests, and
licensing (asking this playback's GetSession) delivering exactly the keys the manifests name."""

from __future__ import annotations

import base64
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import grpc
import m3u8
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from mpegdash.parser import MPEGDASHParser
from vod.licensing.v1 import licensing_pb2 as lpb
from vod.playback.v1 import playback_pb2 as pb

from services.runtime import playback_tokens
from tests.playback.conftest import (
    LICENSE_PUBLIC_URL,
    PlaybackMesh,
    identity,
    start_request,
)
from tests.playback.protection import (
    CLEARKEY_ID,
    DASH,
    MP4PROTECTION,
    PLAYREADY_ID,
    WIDEVINE_ID,
    clearkey_license_urls,
    parse_pssh,
    playready_key_ids,
    protections,
    widevine_key_ids,
)


def kids(mesh: PlaybackMesh) -> dict[str, str]:
    """Track id -> KID of the encrypted clip: its renditions' `key_id`, and the audio key (the
    asset's remaining key id)."""
    asset = mesh.locked.asset
    by_track = {r.id: r.key_id for r in asset.renditions}
    (audio,) = set(asset.key_ids) - set(by_track.values())
    return {**by_track, "audio-0-und": audio}


def edge_track(mesh: PlaybackMesh, url: str, *, session: str, region: str = "US") -> str:
    """The track of a signed edge URL of this session on the region's edge."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == mesh.edges[region].url
    match = playback_tokens.EDGE_PATH.match(parts.path.replace("$Number%05d$", "00001"))
    assert match is not None, url
    assert (match["region"], match["title"], match["media"]) == (
        region,
        "pb-locked",
        mesh.locked.asset.name.removeprefix("media/"),
    )
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["s"] == session
    return match["track"]


async def start(
    mesh: PlaybackMesh, plan: str, protocol: int, device_id: str = "dev-1"
) -> pb.PlaybackSession:
    profile = mesh.user(plan) + "/profiles/main"
    reply = await mesh.playback.StartPlayback(
        start_request(profile, mesh.locked.title, protocol=protocol, device_id=device_id),
        metadata=identity(profile, plan=plan, region="US"),
    )
    return reply.session


def test_the_clip_has_an_sd_and_an_hd_key(pb_mesh: PlaybackMesh) -> None:
    asset = pb_mesh.locked.asset
    assert asset.encrypted
    assert [(r.id, r.height, r.encrypted) for r in asset.renditions] == [
        ("768p-h264", 768, True),
        ("360p-h264", 360, True),
    ]
    found = kids(pb_mesh)
    assert len(set(found.values())) == 3  # HD, SD and audio keys differ
    assert sorted(asset.key_ids) == sorted(found.values())


async def test_dash_session_of_an_encrypted_title(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    session = await start(mesh, "plans/standard", pb.STREAMING_PROTOCOL_DASH)
    session_id = session.name.removeprefix("sessions/")
    token = session.session_token
    assert session.encrypted is True and session.max_height == 768
    assert session.license_url == f"{LICENSE_PUBLIC_URL}/v1/licenses/clearkey?session_token={token}"
    assert parse_qs(urlsplit(session.license_url).query) == {"session_token": [token]}

    got = await mesh.http.get(session.manifest_url)
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/dash+xml")
    expected_kids = kids(mesh)

    # The structure, through mpegdash.
    mpd = MPEGDASHParser.parse(got.text)
    reps = {
        rep.id: rep
        for period in mpd.periods
        for adaptation in period.adaptation_sets
        for rep in adaptation.representations
        if adaptation.content_type != "image"  # trick-play sheets: clear JPEG, no protection
    }
    assert sorted(reps) == ["360p-h264", "768p-h264", "audio-0-und"]
    for track, rep in reps.items():
        schemes = [cp.scheme_id_uri.lower() for cp in rep.content_protections]
        assert schemes == [
            MP4PROTECTION,
            f"urn:uuid:{CLEARKEY_ID}",
            f"urn:uuid:{WIDEVINE_ID}",
            f"urn:uuid:{PLAYREADY_ID}",
        ]
        (cenc,) = [cp for cp in rep.content_protections if cp.scheme_id_uri == MP4PROTECTION]
        assert cenc.value == "cenc"
        assert uuid.UUID(cenc.cenc_default_kid).hex == expected_kids[track]
        for template in rep.segment_templates:
            for uri in (template.initialization, template.media):
                assert edge_track(mesh, uri, session=session_id) == track  # the CENC copy

    # The licence URL and the vendor systems' pssh boxes, per Representation.
    root = ET.fromstring(got.text)
    for rep in root.iter(f"{{{DASH}}}Representation"):
        if rep.get("id") == "thumbs":
            continue  # the clear trick-play sheets, checked above
        kid = expected_kids[rep.get("id", "")]
        found = protections(rep)
        assert clearkey_license_urls(found[f"urn:uuid:{CLEARKEY_ID}"]) == (
            session.license_url,
            session.license_url,
            "EME-1.0",
        )
        for system, decode in ((WIDEVINE_ID, widevine_key_ids), (PLAYREADY_ID, playready_key_ids)):
            node = found[f"urn:uuid:{system}"].find("{urn:mpeg:cenc:2013}pssh")
            assert node is not None and node.text
            box = parse_pssh(base64.b64decode(node.text))
            assert box.system_id == system
            assert box.key_ids == (kid,)
            assert decode(box.data) == [kid]

    # The edge serves the CENC init segment of the top rung: encrypted samples (encv, tenc).
    init = reps["768p-h264"].segment_templates[0].initialization
    served = await mesh.http.get(init)
    assert served.status_code == 200
    assert b"encv" in served.content and b"tenc" in served.content
    assert bytes.fromhex(expected_kids["768p-h264"]) in served.content

    # Licensing (which asks this playback's GetSession) licenses exactly these KIDs.
    licence = await mesh.licensing.AcquireClearKeyLicense(
        lpb.AcquireClearKeyLicenseRequest(
            session_token=token,
            license_request=lpb.ClearKeyLicenseRequest(
                kids=[b64url(expected_kids[t]) for t in ("768p-h264", "360p-h264")],
                type="temporary",
            ),
        )
    )
    assert sorted(k.kid for k in licence.keys) == sorted(
        b64url(expected_kids[t]) for t in ("768p-h264", "360p-h264")
    )
    assert licence.policy.session == session.name

    # GetSession gives licensing the session without its token nor URLs carrying it.
    internal = await mesh.playback.GetSession(pb.GetSessionRequest(name=session.name))
    assert internal.session.encrypted is True
    assert internal.session.license_url == "" and internal.session.session_token == ""
    assert internal.session.manifest_url == ""
    assert (internal.media_asset, internal.plan) == (mesh.locked.asset.name, "plans/standard")


def b64url(kid: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(kid)).rstrip(b"=").decode()


async def test_hls_session_of_an_encrypted_title(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    session = await start(mesh, "plans/standard", pb.STREAMING_PROTOCOL_HLS)
    session_id = session.name.removeprefix("sessions/")
    token = session.session_token
    assert session.encrypted is True and session.license_url == ""  # key URIs are in playlists
    expected_kids = kids(mesh)
    media_id = mesh.locked.asset.name.removeprefix("media/")
    origin_folder = f"{mesh.origin}/titles/pb-locked/manifests/{media_id}"

    got = await mesh.http.get(session.manifest_url)
    assert got.status_code == 200
    master = m3u8.loads(got.text, uri=session.manifest_url)
    assert [p.stream_info.resolution for p in master.playlists] == [(1024, 768), (480, 360)]
    (audio,) = [m for m in master.media if m.type == "AUDIO"]
    base = f"{mesh.play_base}/play/v1/sessions/{session_id}"
    assert [p.absolute_uri for p in master.playlists] == [
        f"{base}/768p-h264.m3u8?token={token}",
        f"{base}/360p-h264.m3u8?token={token}",
    ]
    assert audio.absolute_uri == f"{base}/audio-0-und.m3u8?token={token}"
    assert "key://" not in got.text and "-aes" not in got.text

    for track, uri in [
        ("768p-h264", master.playlists[0].absolute_uri),
        ("360p-h264", master.playlists[1].absolute_uri),
        ("audio-0-und", audio.absolute_uri),
    ]:
        reply = await mesh.http.get(uri)
        assert reply.status_code == 200, uri
        playlist = m3u8.loads(reply.text)
        origin = m3u8.loads((await mesh.http.get(f"{origin_folder}/{track}-aes.m3u8")).text)
        (origin_key,) = origin.keys
        (key,) = playlist.keys
        assert key.method == "AES-128"
        assert key.iv == origin_key.iv and len(key.iv) == len("0x") + 32
        kid = expected_kids[track]
        assert origin_key.uri == f"key://{kid}"
        assert key.uri == f"{LICENSE_PUBLIC_URL}/v1/hlsKeys/{kid}?session_token={token}"
        objects = [playlist.segment_map[0].uri, *(s.uri for s in playlist.segments)]
        assert len(objects) == 2  # init + one 4 s segment
        assert {edge_track(mesh, u, session=session_id) for u in objects} == {f"{track}-aes"}

        # The key licensing delivers for that URI (it asks this playback's GetSession) and the
        # IV decrypt the init segment served by the edge into clear CMAF.
        delivered = await mesh.licensing.GetHlsKey(
            lpb.GetHlsKeyRequest(key_id=kid, session_token=token)
        )
        assert len(delivered.key.data) == 16
        served = await mesh.http.get(playlist.segment_map[0].uri)
        assert served.status_code == 200
        clear = aes128_decrypt(served.content, delivered.key.data, bytes.fromhex(key.iv[2:]))
        assert clear[4:8] == b"ftyp" and b"moov" in clear
        assert b"encv" not in clear and b"enca" not in clear


def aes128_decrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


async def test_a_cap_below_hd_removes_the_hd_rung_and_its_kid(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    expected_kids = kids(mesh)
    hd = expected_kids["768p-h264"]
    hd_forms = (hd, str(uuid.UUID(hd)), b64url(hd), base64.b64encode(bytes.fromhex(hd)).decode())

    dash = await start(mesh, "plans/basic", pb.STREAMING_PROTOCOL_DASH)  # basic: 720 lines
    assert dash.max_height == 360
    body = (await mesh.http.get(dash.manifest_url)).text
    root = ET.fromstring(body)
    reps = {r.get("id"): r for r in root.iter(f"{{{DASH}}}Representation")}
    assert sorted(reps) == ["360p-h264", "audio-0-und", "thumbs"]
    assert reps["thumbs"].find(f"{{{DASH}}}ContentProtection") is None
    for form in hd_forms:
        assert form not in body
    boxes = [
        parse_pssh(base64.b64decode(node.text or ""))
        for node in root.iter("{urn:mpeg:cenc:2013}pssh")
    ]
    assert len(boxes) == 4  # Widevine and PlayReady for the SD and audio Representations
    assert {k for box in boxes for k in box.key_ids} == {
        expected_kids["360p-h264"],
        expected_kids["audio-0-und"],
    }
    # Licensing refuses the HD key to this session (its GetSession says basic, 360 lines).
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.licensing.AcquireClearKeyLicense(
            lpb.AcquireClearKeyLicenseRequest(
                session_token=dash.session_token,
                license_request=lpb.ClearKeyLicenseRequest(kids=[b64url(hd)], type="temporary"),
            )
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await mesh.playback.StopPlayback(
        pb.StopPlaybackRequest(session=dash.name),
        metadata=identity(dash.profile, plan="plans/basic"),
    )

    hls = await start(mesh, "plans/basic", pb.STREAMING_PROTOCOL_HLS)
    text = (await mesh.http.get(hls.manifest_url)).text
    master = m3u8.loads(text)
    assert [p.stream_info.resolution for p in master.playlists] == [(480, 360)]
    assert "768p" not in text
    base = hls.manifest_url.split("/master.m3u8")[0]
    refused = await mesh.http.get(f"{base}/768p-h264.m3u8", params={"token": hls.session_token})
    assert refused.status_code == 403 and refused.json()["reason"] == "RENDITION_NOT_ALLOWED"
    for track in ("360p-h264", "audio-0-und"):
        media = await mesh.http.get(f"{base}/{track}.m3u8", params={"token": hls.session_token})
        assert media.status_code == 200
        (key,) = m3u8.loads(media.text).keys
        assert key.uri.startswith(f"{LICENSE_PUBLIC_URL}/v1/hlsKeys/{expected_kids[track]}?")
        for form in hd_forms:
            assert form not in media.text


async def test_prewarm_of_an_encrypted_title_fetches_both_copies(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    edge = mesh.edges["GB"]
    before = len(edge.served)
    reply = await mesh.playback.PrewarmTitle(
        pb.PrewarmTitleRequest(title=mesh.locked.title, region_codes=["GB"])
    )
    (result,) = reply.results
    # 3 tracks (768p, 360p, audio) x 2 copies (CENC, AES-128) x (init + one segment), and the
    # trick-play sheet (never encrypted: one copy).
    assert result.region_code == "GB" and result.objects == 12 + 1
    tracks = {path.split("/")[5] for path in edge.served[before:]}
    assert tracks == {
        "thumbs",
        "768p-h264",
        "768p-h264-aes",
        "360p-h264",
        "360p-h264-aes",
        "audio-0-und",
        "audio-0-und-aes",
    }
