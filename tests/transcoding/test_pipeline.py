"""End to end: upload → job on the work queue → worker → CMAF HLS + DASH on the origin, checked
with independent parsers (m3u8, mpegdash) and by decoding with ffmpeg over HTTP."""

from __future__ import annotations

import asyncio
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urljoin

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.transcoding.server import Running
from tests.transcoding.helpers import FFMPEG, create_job, make_video, upload, wait_job


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    """Blocking GET: tests call it through `get` (a thread), since the origin hands lookups to the
    event loop the tests run on."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, b"", dict(err.headers)


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    return await asyncio.to_thread(fetch, url, headers)


def keyframe_times(path: str) -> list[float]:
    out = subprocess.run(
        [
            FFMPEG,
            "-hide_banner",
            "-skip_frame",
            "nokey",
            "-i",
            path,
            "-map",
            "0:v:0",
            "-vf",
            "showinfo",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
    )
    return [round(float(t), 3) for t in re.findall(r"pts_time:([\d.]+)", out.stderr)]


@pytest.fixture(scope="module")
async def finished(tc, tc_worker, media_dir: Path) -> pb.Job:
    up = await upload(tc, media_dir / "clip.mp4", "titles/pipeline-clip", "pipeline-clip")
    assert up.state == pb.UPLOAD_STATE_COMPLETED
    job = await create_job(
        tc, up.name, "pipeline-clip", segment_duration_seconds=2, keyframe_interval_seconds=1
    )
    assert job.state == pb.JOB_STATE_QUEUED
    job, progress = await wait_job(tc, job.name)
    assert job.state == pb.JOB_STATE_SUCCEEDED, job.error.message
    stages = [p.stage for p in progress]
    assert pb.JOB_STAGE_ENCODING in stages and progress[-1].percent == 100
    return job


async def test_job_succeeds_with_a_ladder_that_never_upscales(finished: pb.Job) -> None:
    heights = [r.height for r in finished.renditions]
    assert heights == [360, 240]
    for rendition in finished.renditions:
        assert rendition.codecs.startswith("avc1.") and rendition.codecs.endswith(",mp4a.40.2")
        assert 60 < rendition.vmaf <= 100
        assert rendition.segment_count == 3
        assert rendition.peak_bitrate_bps >= rendition.bitrate_bps > 0
    asset = finished.media_asset
    assert asset.name == "media/pipeline-clip"
    assert asset.hls_manifest_uri.endswith("manifests/pipeline-clip/master.m3u8")
    assert abs(asset.duration_seconds - 6.0) < 0.05


async def test_a_clear_title_has_no_protection_and_one_set_of_segments(
    finished: pb.Job, tc_service: Running
) -> None:
    """encrypt=false (the default, e.g. trailers): no keys, no key tags, no AES-128 copies."""
    asset = finished.media_asset
    assert not asset.encrypted and list(asset.key_ids) == []
    assert all(not r.encrypted and r.key_id == "" for r in finished.renditions)
    store = tc_service.store
    folder = "titles/pipeline-clip/manifests/pipeline-clip/"
    names = sorted(k.rsplit("/", 1)[1] for k in store.list(folder))
    tracks = [r.id for r in finished.renditions] + ["audio-0-und"]
    expected = ["manifest.mpd", "master.m3u8", "thumbs.m3u8", *(f"{t}.m3u8" for t in tracks)]
    assert names == sorted(expected)
    for name in names:
        text = store.get_bytes(folder + name).decode()
        assert "EXT-X-KEY" not in text and "ContentProtection" not in text and "-aes" not in text
    renditions = store.list("titles/pipeline-clip/renditions/pipeline-clip/")
    assert {k.split("/")[4] for k in renditions} == {*tracks, "thumbs"}  # + trick-play sheets
    for key in renditions:
        head = store.get_bytes(key)[:4096]
        assert b"encv" not in head and b"enca" not in head and b"senc" not in head


async def test_hls_parses_and_every_segment_is_served(finished: pb.Job, origin: str) -> None:
    master_url = f"{origin}/{finished.media_asset.hls_manifest_uri}"
    status, body, headers = await get(master_url)
    assert status == 200 and headers["Content-Type"] == "application/vnd.apple.mpegurl"
    master = m3u8.loads(body.decode(), uri=master_url)
    assert master.is_variant and len(master.playlists) == 2
    assert len(master.media) == 1 and master.media[0].type == "AUDIO"
    playlists = [p.absolute_uri for p in master.playlists] + [m.absolute_uri for m in master.media]
    for url in playlists:
        status, body, _ = await get(url)
        assert status == 200
        media = m3u8.loads(body.decode(), uri=url)
        assert media.is_endlist and media.playlist_type == "vod"
        assert media.segment_map and (await get(media.segment_map[0].absolute_uri))[0] == 200
        durations = [s.duration for s in media.segments]
        assert media.target_duration >= max(durations)
        assert all(abs(d - 2.0) < 0.1 for d in durations[:-1])
        assert abs(sum(durations) - 6.0) < 0.1
        for segment in media.segments:
            status, data, seg_headers = await get(segment.absolute_uri)
            assert status == 200 and data[4:8] == b"moof"
            assert "immutable" in seg_headers["Cache-Control"]


async def test_declared_bandwidth_matches_measured_bitrate(finished: pb.Job, origin: str) -> None:
    master_url = f"{origin}/{finished.media_asset.hls_manifest_uri}"
    master = m3u8.loads((await get(master_url))[1].decode(), uri=master_url)
    audio = m3u8.loads(
        (await get(master.media[0].absolute_uri))[1].decode(), uri=master.media[0].absolute_uri
    )
    audio_bytes = sum([len((await get(s.absolute_uri))[1]) for s in audio.segments])
    for variant in master.playlists:
        media = m3u8.loads((await get(variant.absolute_uri))[1].decode(), uri=variant.absolute_uri)
        sizes = [len((await get(s.absolute_uri))[1]) for s in media.segments]
        duration = sum(s.duration for s in media.segments)
        measured_avg = (sum(sizes) + audio_bytes) * 8 / duration
        measured_peak = max(
            size * 8 / s.duration for size, s in zip(sizes, media.segments, strict=True)
        )
        info = variant.stream_info
        assert abs(info.average_bandwidth - measured_avg) / measured_avg < 0.05
        assert info.bandwidth >= measured_peak  # BANDWIDTH is a true peak
        assert info.bandwidth < 3 * measured_avg


async def test_dash_parses_and_references_existing_segments(finished: pb.Job, origin: str) -> None:
    mpd_url = f"{origin}/{finished.media_asset.dash_manifest_uri}"
    status, body, headers = await get(mpd_url)
    assert status == 200 and headers["Content-Type"] == "application/dash+xml"
    mpd = MPEGDASHParser.parse(body.decode())
    sets = mpd.periods[0].adaptation_sets
    assert [s.content_type for s in sets] == ["video", "audio", "image"]
    for adaptation in sets[:2]:
        for rep in adaptation.representations:
            template = rep.segment_templates[0]
            count = sum((s.r or 0) + 1 for s in template.segment_timelines[0].Ss)
            assert (await get(urljoin(mpd_url, template.initialization)))[0] == 200
            for number in range(template.start_number, template.start_number + count):
                url = urljoin(mpd_url, template.media.replace("$Number%05d$", f"{number:05d}"))
                assert (await get(url, {"Range": "bytes=0-7"}))[0] == 206
            assert (
                await get(
                    urljoin(mpd_url, template.media.replace("$Number%05d$", f"{count + 1:05d}"))
                )
            )[0] == 404


@pytest.mark.parametrize("manifest", ["hls", "dash"])
async def test_ffmpeg_decodes_the_whole_presentation(
    finished: pb.Job, origin: str, manifest: str
) -> None:
    uri = (
        finished.media_asset.hls_manifest_uri
        if manifest == "hls"
        else finished.media_asset.dash_manifest_uri
    )
    result = await asyncio.to_thread(
        subprocess.run,
        [
            FFMPEG,
            "-v",
            "error",
            "-i",
            f"{origin}/{uri}",
            "-map",
            "0:v",
            "-map",
            "0:a",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr[-2000:]


async def test_keyframes_are_aligned_across_rungs_at_the_interval(
    finished: pb.Job, tc_service: Running, tmp_path: Path
) -> None:
    store = tc_service.store
    times = {}
    for rendition in finished.renditions:
        prefix = f"titles/pipeline-clip/renditions/pipeline-clip/{rendition.id}/"
        keys = store.list(prefix)
        joined = tmp_path / f"{rendition.id}.mp4"
        with open(joined, "wb") as out:
            out.write(store.get_bytes(prefix + "init.mp4"))
            for key in sorted(k for k in keys if k.endswith(".m4s")):
                out.write(store.get_bytes(key))
        times[rendition.id] = keyframe_times(str(joined))
    first = next(iter(times.values()))
    assert first == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert all(t == first for t in times.values())


async def test_origin_serves_ranges_and_never_sources_or_unpublished(
    finished: pb.Job, origin: str, tc_service: Running
) -> None:
    url = f"{origin}/titles/pipeline-clip/renditions/pipeline-clip/360p-h264/init.mp4"
    full = (await get(url))[1]
    status, part, headers = await get(url, {"Range": "bytes=4-11"})
    assert status == 206 and part == full[4:12] and part[:4] == b"ftyp"
    assert headers["Content-Range"] == f"bytes 4-11/{len(full)}"
    assert (await get(url, {"Range": f"bytes={len(full) + 10}-"}))[0] == 416
    etag = (await get(url))[2]["ETag"]
    status, _, headers = await get(url, {"If-None-Match": etag})
    assert status == 304
    sources = [k for k in tc_service.store.list("titles/pipeline-clip/sources/")]
    assert sources
    assert (await get(f"{origin}/{sources[0]}"))[0] == 404
    # bytes under a media id that is not published (e.g. a crashed attempt) are not served
    tc_service.store.put_bytes(
        "titles/pipeline-clip/manifests/not-published/master.m3u8", b"#EXTM3U\n"
    )
    assert (await get(f"{origin}/titles/pipeline-clip/manifests/not-published/master.m3u8"))[
        0
    ] == 404
    assert (await get(f"{origin}/uploads/pipeline-clip/data"))[0] == 404
    assert (await get(f"{origin}/titles/pipeline-clip/renditions/pipeline-clip/../sources/x"))[
        0
    ] == 404


async def test_thumbnails_and_trick_play_index(finished: pb.Job, origin: str) -> None:
    base = f"{origin}/titles/pipeline-clip/thumbnails/pipeline-clip/"
    status, poster, headers = await get(base + "poster.jpg")
    assert status == 200 and poster[:2] == b"\xff\xd8" and headers["Content-Type"] == "image/jpeg"
    status, vtt, _ = await get(base + "sprite.vtt")
    text = vtt.decode()
    assert status == 200 and text.startswith("WEBVTT")
    cues = re.findall(r"(sprite-\d+\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)", text)
    assert len(cues) == 3
    assert all([(await get(base + sheet))[0] == 200 for sheet in {c[0] for c in cues}])


async def test_dash_image_track_points_at_the_sprite_sheets(finished: pb.Job, origin: str) -> None:
    """The trick-play sheets as a DASH-IF thumbnail-tile adaptation set: 5x5 tiles of 160 px,
    one tile every 2 s, so one sheet covers 50 s; a 6 s clip has exactly one sheet."""
    mpd_url = f"{origin}/{finished.media_asset.dash_manifest_uri}"
    _, body, _ = await get(mpd_url)
    images = [
        s
        for s in MPEGDASHParser.parse(body.decode()).periods[0].adaptation_sets
        if s.content_type == "image"
    ]
    assert len(images) == 1 and images[0].mime_type == "image/jpeg"
    rep = images[0].representations[0]
    tile = rep.essential_properties[0]
    assert (tile.scheme_id_uri, tile.value) == ("http://dashif.org/thumbnail_tile", "5x5")
    assert rep.width == 5 * 160
    template = rep.segment_templates[0]
    assert (template.duration, template.timescale, template.start_number) == (50_000, 1000, 1)
    first = urljoin(mpd_url, template.media.replace("$Number%03d$", "001"))
    status, sheet, headers = await get(first)
    assert status == 200 and sheet[:2] == b"\xff\xd8"
    # The sheet is exactly the thumbnails folder's sprite (what the WebVTT index points at).
    base = f"{origin}/titles/pipeline-clip/thumbnails/pipeline-clip/"
    assert (await get(base + "sprite-001.jpg"))[1] == sheet
    assert (await get(urljoin(mpd_url, template.media.replace("$Number%03d$", "002"))))[0] == 404


async def test_hls_image_playlist_points_at_the_same_sheets(finished: pb.Job, origin: str) -> None:
    """The same sheets for HLS players: an EXT-X-IMAGE-STREAM-INF in the master (tile size,
    CODECS="jpeg") and an image media playlist with EXT-X-TILES (5x5 tiles, one every 2 s) whose
    one segment, as long as the 6 s clip, is the first sheet."""
    master_url = f"{origin}/{finished.media_asset.hls_manifest_uri}"
    _, body, _ = await get(master_url)
    image_lines = [
        line for line in body.decode().splitlines() if line.startswith("#EXT-X-IMAGE-STREAM-INF:")
    ]
    assert len(image_lines) == 1
    attrs = dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', image_lines[0].split(":", 1)[1]))
    assert (attrs["RESOLUTION"], attrs["CODECS"], attrs["URI"]) == (
        "160x90",
        '"jpeg"',
        '"thumbs.m3u8"',
    )
    # The image playlist is not a variant: m3u8 sees the same playlists as before.
    assert all(p.uri.endswith("-h264.m3u8") for p in m3u8.loads(body.decode()).playlists)
    playlist_url = urljoin(master_url, "thumbs.m3u8")
    status, playlist, _ = await get(playlist_url)
    lines = playlist.decode().splitlines()
    assert status == 200 and "#EXT-X-IMAGES-ONLY" in lines and lines[-1] == "#EXT-X-ENDLIST"
    tiles = [line for line in lines if line.startswith("#EXT-X-TILES:")]
    assert tiles == ["#EXT-X-TILES:RESOLUTION=160x90,LAYOUT=5x5,DURATION=2.000"]
    durations = [float(x.split(":")[1].rstrip(",")) for x in lines if x.startswith("#EXTINF:")]
    assert durations == [pytest.approx(6.0, abs=0.1)]
    sheet_uri = [line for line in lines if line and not line.startswith("#")]
    assert sheet_uri == ["../../renditions/pipeline-clip/thumbs/sprite-001.jpg"]
    status, sheet, _ = await get(urljoin(playlist_url, sheet_uri[0]))
    base = f"{origin}/titles/pipeline-clip/thumbnails/pipeline-clip/"
    assert status == 200 and sheet == (await get(base + "sprite-001.jpg"))[1]


async def test_no_staging_left_and_no_duplicate_output(
    finished: pb.Job, tc_service: Running
) -> None:
    store = tc_service.store
    assert store.list("staging/pipeline-clip/") == []
    keys = store.list("titles/pipeline-clip/renditions/pipeline-clip/")
    assert len(keys) == len(set(keys))
    per_track = {}
    for key in keys:
        track = key.split("/")[4]
        per_track.setdefault(track, []).append(key.rsplit("/", 1)[1])
    assert per_track["360p-h264"] == ["init.mp4", "seg-00001.m4s", "seg-00002.m4s", "seg-00003.m4s"]
    assert per_track["thumbs"] == ["sprite-001.jpg"]


async def test_media_asset_and_job_listing(tc, finished: pb.Job) -> None:
    asset = (
        await tc.GetMediaAsset(pb.GetMediaAssetRequest(name="media/pipeline-clip"))
    ).media_asset
    assert asset.title == "titles/pipeline-clip" and len(asset.renditions) == 2
    listed = await tc.ListJobs(pb.ListJobsRequest(title="titles/pipeline-clip"))
    assert [j.name for j in listed.jobs] == ["jobs/pipeline-clip"]


async def test_a_longer_source_at_a_higher_resolution_gets_more_rungs(
    tc, tc_worker, tmp_path: Path
) -> None:
    source = make_video(tmp_path / "wide.mkv", seconds=4, size="1280x720", audio=False)
    up = await upload(tc, source, "titles/wide-clip", "wide-clip", chunk_size=1024 * 1024)
    job = await create_job(
        tc,
        up.name,
        "wide-clip",
        ladder=pb.LADDER_PRESET_PREVIEW,
        segment_duration_seconds=2,
        keyframe_interval_seconds=2,
    )
    job, _ = await wait_job(tc, job.name)
    assert job.state == pb.JOB_STATE_SUCCEEDED, job.error.message
    assert [(r.width, r.height) for r in job.renditions] == [(854, 480), (640, 360), (426, 240)]
    assert all("mp4a" not in r.codecs for r in job.renditions)  # no audio in, no audio out
