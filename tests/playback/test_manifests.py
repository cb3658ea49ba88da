"""StartPlayback end to end: the session, its per-session HLS and DASH manifests filtered to what
the plan and device allow, every segment URL signed on the region's edge, and playable."""

from __future__ import annotations

import asyncio
import subprocess
from urllib.parse import parse_qs, urlsplit

import m3u8
from mpegdash.parser import MPEGDASHParser
from vod.playback.v1 import playback_pb2 as pb

from services.runtime import playback_tokens
from tests.playback.conftest import PlaybackMesh, identity, seconds, start_request
from tests.transcoding.helpers import FFMPEG


def check_edge_url(mesh: PlaybackMesh, url: str, *, region: str, session: str) -> str:
    """Asserts `url` is a signed URL of this session on the region's edge; returns the track."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == mesh.edges[region].url
    path = parts.path.replace("$Number%05d$", "00001").replace("$Number%03d$", "001")
    match = playback_tokens.EDGE_PATH.match(path)
    assert match is not None, url
    assert match["region"] == region
    assert match["title"] == mesh.movie.title.removeprefix("titles/")
    assert match["media"] == mesh.movie.asset.name.removeprefix("media/")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["s"] == session
    assert query["t"] == playback_tokens.edge_signature(
        mesh.settings.edge_secret,
        region=region,
        title=match["title"],
        session=session,
        expires=int(query["e"]),
    )
    return match["track"]


async def test_start_returns_the_contract_fields(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    profile = mesh.user("plans/standard") + "/profiles/main"
    reply = await mesh.playback.StartPlayback(
        start_request(profile, mesh.movie.title, device=pb.DEVICE_TYPE_TV),
        metadata=identity(profile, region="GB"),
    )
    session = reply.session
    assert session.name.startswith("sessions/") and len(session.name) == len("sessions/") + 16
    assert session.profile == profile and session.title == mesh.movie.title
    assert session.region_code == "GB"  # from the platform, not the client
    assert session.protocol == pb.STREAMING_PROTOCOL_DASH  # a TV's default
    assert session.state == pb.SESSION_STATE_ACTIVE
    assert seconds(session.heartbeat_interval) == 10.0
    assert seconds(session.resume_position) == 0.0
    assert session.max_height == 480  # the ladder's top; the standard plan allows 1080
    lease = session.expire_time.ToDatetime() - session.start_time.ToDatetime()
    assert lease.total_seconds() == 30.0
    claims = playback_tokens.verify_session_token(
        mesh.settings.playback_secret, session.session_token
    )
    assert claims.session == session.name.removeprefix("sessions/")
    assert (claims.title, claims.region) == ("pb-movie", "GB")
    assert session.manifest_url == (
        f"{mesh.play_base}/play/v1/sessions/{claims.session}/manifest.mpd"
        f"?token={session.session_token}"
    )


async def test_hls_lists_only_the_allowed_rungs_signed_on_the_regions_edge(
    pb_mesh: PlaybackMesh,
) -> None:
    mesh = pb_mesh
    heights = sorted(r.height for r in mesh.movie.asset.renditions)
    assert heights == [240, 360, 480]
    profile = mesh.user("plans/sd") + "/profiles/main"  # plan cap 360p
    reply = await mesh.playback.StartPlayback(
        start_request(profile, mesh.movie.title, device=pb.DEVICE_TYPE_MOBILE),
        metadata=identity(profile, plan="plans/sd", region="US"),
    )
    session = reply.session
    session_id = session.name.removeprefix("sessions/")
    assert session.protocol == pb.STREAMING_PROTOCOL_HLS and session.max_height == 360
    assert "/master.m3u8?token=" in session.manifest_url
    got = await mesh.http.get(session.manifest_url)
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    master = m3u8.loads(got.text, uri=session.manifest_url)
    assert master.is_variant
    assert sorted(p.stream_info.resolution[1] for p in master.playlists) == [240, 360]
    audio = [m for m in master.media if m.type == "AUDIO"]
    assert len(audio) == 1
    for playlist_uri in [p.absolute_uri for p in master.playlists] + [audio[0].absolute_uri]:
        assert playlist_uri.startswith(f"{mesh.play_base}/play/v1/sessions/{session_id}/")
        media_reply = await mesh.http.get(playlist_uri)
        assert media_reply.status_code == 200, playlist_uri
        media = m3u8.loads(media_reply.text)
        assert media.segments and media.segment_map
        track = playlist_uri.rsplit("/", 1)[1].split(".m3u8")[0]
        for uri in [media.segment_map[0].uri, *(s.uri for s in media.segments)]:
            assert check_edge_url(mesh, uri, region="US", session=session_id) == track
        assert (
            abs(sum(s.duration for s in media.segments) - mesh.movie.asset.duration_seconds) < 0.1
        )
    # The 480p rung exists but is not this session's to fetch.
    refused = await mesh.http.get(
        f"{mesh.play_base}/play/v1/sessions/{session_id}/480p-h264.m3u8",
        params={"token": session.session_token},
    )
    assert refused.status_code == 403 and refused.json()["reason"] == "RENDITION_NOT_ALLOWED"
    # The trick-play image stream: its playlist through the session, its sheets on the edge.
    image = [x for x in got.text.splitlines() if x.startswith("#EXT-X-IMAGE-STREAM-INF:")]
    assert len(image) == 1 and 'CODECS="jpeg"' in image[0]
    thumbs_url = image[0].split('URI="', 1)[1].rstrip('"')
    assert thumbs_url == f"thumbs.m3u8?token={session.session_token}"
    thumbs = await mesh.http.get(
        f"{mesh.play_base}/play/v1/sessions/{session_id}/thumbs.m3u8",
        params={"token": session.session_token},
    )
    assert thumbs.status_code == 200
    sheets = [x for x in thumbs.text.splitlines() if x and not x.startswith("#")]
    assert "#EXT-X-TILES:RESOLUTION=160x90,LAYOUT=5x5,DURATION=2.000" in thumbs.text
    assert [check_edge_url(mesh, u, region="US", session=session_id) for u in sheets] == [
        "thumbs"
    ] * len(sheets)
    sheet = await mesh.http.get(sheets[0])
    assert sheet.status_code == 200 and sheet.content[:2] == b"\xff\xd8"


async def test_basic_plan_cap_and_dash_lists_the_same_rungs(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    for plan, expected in (("plans/basic", [240, 360, 480]), ("plans/sd", [240, 360])):
        profile = mesh.user(plan) + "/profiles/main"
        meta = identity(profile, plan=plan, region="US")
        hls = (
            await mesh.playback.StartPlayback(
                start_request(profile, mesh.movie.title, protocol=pb.STREAMING_PROTOCOL_HLS),
                metadata=meta,
            )
        ).session
        dash = None
        if plan != "plans/basic":
            dash = (
                await mesh.playback.StartPlayback(
                    start_request(
                        profile,
                        mesh.movie.title,
                        device_id="dev-2",
                        protocol=pb.STREAMING_PROTOCOL_DASH,
                    ),
                    metadata=meta,
                )
            ).session
        master = m3u8.loads((await mesh.http.get(hls.manifest_url)).text)
        assert sorted(p.stream_info.resolution[1] for p in master.playlists) == expected
        if dash is None:  # one stream only on basic: stop, then start the DASH one
            await mesh.playback.StopPlayback(
                pb.StopPlaybackRequest(session=hls.name), metadata=meta
            )
            dash = (
                await mesh.playback.StartPlayback(
                    start_request(profile, mesh.movie.title, protocol=pb.STREAMING_PROTOCOL_DASH),
                    metadata=meta,
                )
            ).session
        assert dash.manifest_url.split("?")[0].endswith("/manifest.mpd")
        got = await mesh.http.get(dash.manifest_url)
        assert got.status_code == 200 and got.headers["content-type"].startswith(
            "application/dash+xml"
        )
        mpd = MPEGDASHParser.parse(got.text)
        session_id = dash.name.removeprefix("sessions/")
        video = [a for p in mpd.periods for a in p.adaptation_sets if a.content_type == "video"]
        assert len(video) == 1
        assert sorted(r.height for r in video[0].representations) == expected
        assert int(video[0].max_height) == max(expected)
        for adaptation in [a for p in mpd.periods for a in p.adaptation_sets]:
            for rep in adaptation.representations:
                for template in rep.segment_templates or adaptation.segment_templates or []:
                    for uri in (template.initialization, template.media):
                        if uri is None:  # the image (trick-play) track has no init segment
                            assert adaptation.content_type == "image"
                            continue
                        assert check_edge_url(mesh, uri, region="US", session=session_id) == rep.id
        assert mpd.base_urls is None or not mpd.base_urls


async def test_ffmpeg_plays_the_top_allowed_rendition_through_the_edge(
    pb_mesh: PlaybackMesh,
) -> None:
    mesh = pb_mesh
    profile = mesh.user("plans/sd") + "/profiles/main"
    session = (
        await mesh.playback.StartPlayback(
            start_request(profile, mesh.movie.title, protocol=pb.STREAMING_PROTOCOL_HLS),
            metadata=identity(profile, plan="plans/sd", region="GB"),
        )
    ).session
    master = m3u8.loads((await mesh.http.get(session.manifest_url)).text, uri=session.manifest_url)
    top = max(master.playlists, key=lambda p: p.stream_info.resolution[1])
    assert top.stream_info.resolution == (640, 360)
    refused_before = mesh.edges["GB"].refused
    served_before = len(mesh.edges["GB"].served)

    def decode() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [FFMPEG, "-v", "error", "-i", top.absolute_uri, "-map", "0:v:0", "-f", "null", "-"],
            capture_output=True,
            text=True,
            timeout=120,
        )

    result = await asyncio.to_thread(decode)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""
    assert mesh.edges["GB"].refused == refused_before
    served = mesh.edges["GB"].served[served_before:]
    assert any("/360p-h264/init.mp4" in path for path in served)
    assert not any("/480p-h264/" in path or "/240p-h264/" in path for path in served)
