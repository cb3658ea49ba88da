"""The per-session manifest endpoint refuses bad, forged, expired and misbound tokens (403), odd
paths (404/400), and never answers 5xx to any input; and PrewarmTitle warms the edges."""

from __future__ import annotations

import asyncio
import time

import grpc
import m3u8
import pytest
from vod.playback.v1 import playback_pb2 as pb

from services.runtime import playback_tokens
from tests.playback.conftest import PlaybackMesh, identity, start_request
from tests.support import details_of


async def raw_get(port: int, target: str, method: str = "GET") -> int:
    """Status of a request sent byte for byte (no client-side path normalisation)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"Content-Length: 0\r\n\r\n".encode("latin-1")
        )
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        return int(line.split()[1])
    finally:
        writer.close()


@pytest.fixture
async def live(pb_mesh: PlaybackMesh) -> pb.PlaybackSession:
    profile = pb_mesh.user() + "/profiles/main"
    reply = await pb_mesh.playback.StartPlayback(
        start_request(profile, pb_mesh.movie.title, protocol=pb.STREAMING_PROTOCOL_HLS),
        metadata=identity(profile),
    )
    return reply.session


async def test_tokens(pb_mesh: PlaybackMesh, live: pb.PlaybackSession) -> None:
    mesh = pb_mesh
    session_id = live.name.removeprefix("sessions/")
    base = f"{mesh.play_base}/play/v1/sessions/{session_id}"
    ok = await mesh.http.get(f"{base}/master.m3u8", params={"token": live.session_token})
    assert ok.status_code == 200 and ok.headers["cache-control"] == "private, no-store"
    secret = mesh.settings.playback_secret
    claims = playback_tokens.verify_session_token(secret, live.session_token)
    forged = live.session_token[:-2] + ("AA" if not live.session_token.endswith("AA") else "BB")
    expired = playback_tokens.issue_session_token(
        secret,
        playback_tokens.SessionClaims(
            session_id, claims.title, claims.region, int(time.time()) - 5
        ),
    )
    other_title = playback_tokens.issue_session_token(
        secret, playback_tokens.SessionClaims(session_id, "pb-short", claims.region, claims.expires)
    )
    other_region = playback_tokens.issue_session_token(
        secret, playback_tokens.SessionClaims(session_id, claims.title, "GB", claims.expires)
    )
    other_secret = playback_tokens.issue_session_token(b"not-the-secret", claims)
    other_profile = mesh.user() + "/profiles/main"
    another = (
        await mesh.playback.StartPlayback(
            start_request(other_profile, mesh.movie.title), metadata=identity(other_profile)
        )
    ).session
    cases = {
        "forged": forged,
        "expired": expired,
        "other title": other_title,
        "other region": other_region,
        "other secret": other_secret,
        "another session's": another.session_token,
        "garbage": "a.b.c",
        "empty": "",
    }
    for label, token in cases.items():
        for file in ("master.m3u8", "manifest.mpd", "240p-h264.m3u8"):
            got = await mesh.http.get(f"{base}/{file}", params={"token": token})
            assert got.status_code == 403, (label, file)
            assert got.json()["reason"] in ("BAD_TOKEN",), (label, got.json())
    assert (await mesh.http.get(f"{base}/master.m3u8")).status_code == 403
    twice = await mesh.http.get(
        f"{base}/master.m3u8", params=[("token", live.session_token), ("token", forged)]
    )
    assert twice.status_code == 403
    # Stopped: the token is still genuine, the session is not live.
    await mesh.playback.StopPlayback(
        pb.StopPlaybackRequest(session=live.name), metadata=identity(live.profile)
    )
    got = await mesh.http.get(f"{base}/master.m3u8", params={"token": live.session_token})
    assert got.status_code == 403 and got.json()["reason"] == "SESSION_ENDED"


async def test_paths_never_5xx(pb_mesh: PlaybackMesh, live: pb.PlaybackSession) -> None:
    port = pb_mesh.running.http_port
    session_id = live.name.removeprefix("sessions/")
    token = live.session_token
    prefix = f"/play/v1/sessions/{session_id}"
    odd = [
        f"{prefix}/../master.m3u8?token={token}",
        f"{prefix}/..%2Fmaster.m3u8?token={token}",
        f"/play/v1/sessions/{session_id}%2Fmaster.m3u8?token={token}",
        f"{prefix}/%2e%2e/%2e%2e/etc/passwd?token={token}",
        f"{prefix}/..?token={token}",
        f"{prefix}/.m3u8?token={token}",
        f"{prefix}/master.m3u8%00?token={token}",
        f"{prefix}/master.m3u8/extra?token={token}",
        f"{prefix}/seg.mp4?token={token}",
        f"{prefix}/nosuchtrack.m3u8?token={token}",
        f"{prefix}/master.m3u8?token=%ff%fe%00",
        f"{prefix}/master.m3u8?token={'x' * 5000}",
        f"/play/v1/sessions/UPPER/master.m3u8?token={token}",
        f"/play/v1/sessions//master.m3u8?token={token}",
        "/play/v1/sessions/",
        "/",
        "/etc/passwd",
        "/" + "a/" * 500,
        f"{prefix}/master.m3u8?token={token}&token=",
    ]
    for target in odd:
        status = await raw_get(port, target)
        assert status in (400, 403, 404), (target, status)
    assert await raw_get(port, f"{prefix}/master.m3u8?token={token}", method="POST") == 405
    assert await raw_get(port, f"{prefix}/master.m3u8?token={token}") == 200
    assert await raw_get(port, f"{prefix}/master.m3u8?token={token}", method="HEAD") == 200


async def test_prewarm(pb_mesh: PlaybackMesh) -> None:
    mesh = pb_mesh
    asset = mesh.movie.asset
    text = (await mesh.http.get(f"{mesh.origin}/{asset.hls_manifest_uri}")).text
    master = m3u8.loads(text)
    tracks = [p.uri for p in master.playlists] + [m.uri for m in master.media if m.uri]
    folder = asset.hls_manifest_uri.rsplit("/", 1)[0]
    expected = 0
    for uri in tracks:
        media = m3u8.loads((await mesh.http.get(f"{mesh.origin}/{folder}/{uri}")).text)
        expected += 1 + len(media.segments)
    # ... and the trick-play sheets of the image stream (no init segment).
    images = [x for x in text.splitlines() if x.startswith("#EXT-X-IMAGE-STREAM-INF:")]
    assert len(images) == 1
    image_uri = images[0].split('URI="', 1)[1].rstrip('"')
    sheets = (await mesh.http.get(f"{mesh.origin}/{folder}/{image_uri}")).text.splitlines()
    expected += sum(1 for x in sheets if x and not x.startswith("#"))
    edge = mesh.edges["US"]
    media_prefix = f"/cdn/US/pb-movie/{asset.name.removeprefix('media/')}/"
    cached_before = sum(1 for key in edge.cache if key.startswith(media_prefix))

    first = await mesh.playback.PrewarmTitle(
        pb.PrewarmTitleRequest(title=mesh.movie.title, region_codes=["US"])
    )
    (result,) = first.results
    mine = {k: v for k, v in edge.cache.items() if k.startswith(media_prefix)}
    assert result.region_code == "US"
    assert result.objects == expected == len(mine)
    assert result.already_cached == cached_before
    assert result.bytes == sum(len(v) for v in mine.values())
    everywhere = await mesh.playback.PrewarmTitle(
        pb.PrewarmTitleRequest(title=mesh.movie.title),
        metadata=identity(mesh.user() + "/profiles/main", roles="viewer admin"),
    )
    assert [r.region_code for r in everywhere.results] == ["GB", "US"]
    us = everywhere.results[1]
    assert (us.objects, us.already_cached, us.bytes) == (expected, expected, result.bytes)

    async def error_of(request: pb.PrewarmTitleRequest, meta: object = ()):  # type: ignore[no-untyped-def]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await mesh.playback.PrewarmTitle(request, metadata=meta)
        return details_of(caught.value)

    unknown_region = await error_of(
        pb.PrewarmTitleRequest(title=mesh.movie.title, region_codes=["US", "FR"])
    )
    assert unknown_region.code == grpc.StatusCode.INVALID_ARGUMENT
    assert list(unknown_region.violations) == ["region_codes[1]"]
    missing = await error_of(pb.PrewarmTitleRequest(title="titles/pb-nope"))
    assert missing.code == grpc.StatusCode.NOT_FOUND
    viewer = await error_of(
        pb.PrewarmTitleRequest(title=mesh.movie.title),
        identity(mesh.user() + "/profiles/main"),
    )
    assert viewer.code == grpc.StatusCode.PERMISSION_DENIED
