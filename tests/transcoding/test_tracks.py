"""Several audio tracks and WebVTT subtitle sidecars: a source with two languages of audio plus a
.vtt uploaded through the same resumable Upload path become two HLS audio renditions and one
SUBTITLES rendition (m3u8), three DASH adaptation sets with lang (mpegdash), all served by the
origin and decodable by ffmpeg; sidecars that are not WebVTT are refused with details."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from urllib.parse import urljoin

import grpc
import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser
from vod.transcoding.v1 import transcoding_pb2 as pb

from tests.support import details_of
from tests.transcoding.helpers import FFMPEG, chunk, header_for, stream, upload, wait_job
from tests.transcoding.test_pipeline import get

TITLE = "titles/tracks-clip"
CUES = (
    "WEBVTT\n"
    "\n"
    "00:00:00.000 --> 00:00:01.500\n"
    "Hello, world.\n"
    "\n"
    "00:00:01.500 --> 00:00:03.500\n"
    "<i>Two</i> languages of audio — and subtitles.\n"
)


def make_two_language_clip(path: Path, seconds: int = 4) -> Path:
    """testsrc2 with two sine tones as two audio streams tagged eng and spa."""
    subprocess.run(
        [
            FFMPEG,
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=320x180:rate=25:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:duration={seconds}:sample_rate=48000",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=660:duration={seconds}:sample_rate=48000",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-map",
            "2:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "48k",
            "-metadata:s:a:0",
            "language=eng",
            "-metadata:s:a:1",
            "language=spa",
            str(path),
        ],
        check=True,
    )
    return path


async def upload_sidecar(tc, path: Path, title: str, upload_id: str) -> pb.Upload:
    data = path.read_bytes()
    header = header_for(path, title, upload_id, content_type="text/vtt")
    return (await tc.Upload(stream(pb.UploadRequest(header=header), chunk(0, data)))).upload


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tracks")
    make_two_language_clip(folder / "two-languages.mp4")
    (folder / "english.vtt").write_text(CUES, encoding="utf-8")
    (folder / "bogus.vtt").write_text("1\n00:00:00,000 --> 00:00:01,000\nSRT, not VTT\n")
    return folder


@pytest.fixture(scope="module")
async def finished(tc, tc_worker, sources: Path) -> pb.Job:
    video = await upload(tc, sources / "two-languages.mp4", TITLE, "tracks-clip")
    assert video.state == pb.UPLOAD_STATE_COMPLETED
    subs = await upload_sidecar(tc, sources / "english.vtt", TITLE, "tracks-clip-en")
    assert subs.state == pb.UPLOAD_STATE_COMPLETED and subs.content_type == "text/vtt"
    options = pb.TranscodeOptions(
        renditions=[pb.RenditionSpec(height=180, bitrate_bps=250_000)],
        segment_duration_seconds=2,
        keyframe_interval_seconds=1,
        subtitles=[pb.SubtitleSpec(upload=subs.name, language="en", label="English")],
    )
    job = (
        await tc.CreateJob(
            pb.CreateJobRequest(job=pb.Job(upload=video.name, options=options), job_id="tracks")
        )
    ).job
    job, _ = await wait_job(tc, job.name)
    assert job.state == pb.JOB_STATE_SUCCEEDED, job.error.message
    return job


async def test_hls_lists_both_audio_languages_and_the_subtitles(
    finished: pb.Job, origin: str
) -> None:
    master_url = f"{origin}/{finished.media_asset.hls_manifest_uri}"
    status, body, _ = await get(master_url)
    assert status == 200
    master = m3u8.loads(body.decode(), uri=master_url)
    audio = [m for m in master.media if m.type == "AUDIO"]
    subtitles = [m for m in master.media if m.type == "SUBTITLES"]
    assert [(m.language, m.default, m.group_id) for m in audio] == [
        ("eng", "YES", "aud"),
        ("spa", "NO", "aud"),
    ]
    assert [(m.language, m.name, m.group_id) for m in subtitles] == [("en", "English", "subs")]
    for variant in master.playlists:
        assert variant.stream_info.audio == "aud" and variant.stream_info.subtitles == "subs"
    for media in [*audio, *subtitles]:
        status, text, headers = await get(media.absolute_uri)
        assert status == 200, media.absolute_uri
        playlist = m3u8.loads(text.decode(), uri=media.absolute_uri)
        assert playlist.is_endlist and playlist.segments
        for segment in playlist.segments:
            assert (await get(segment.absolute_uri))[0] == 200, segment.absolute_uri
    # the subtitle playlist's one segment is the sidecar itself, served unchanged as text/vtt
    sub_list = m3u8.loads(
        (await get(subtitles[0].absolute_uri))[1].decode(), uri=subtitles[0].absolute_uri
    )
    assert len(sub_list.segments) == 1
    assert abs(sub_list.segments[0].duration - finished.media_asset.duration_seconds) < 0.05
    status, vtt, headers = await get(sub_list.segments[0].absolute_uri)
    assert status == 200 and headers["Content-Type"].startswith("text/vtt")
    assert vtt.decode("utf-8") == CUES


async def test_dash_has_an_adaptation_set_per_language_and_the_text_track(
    finished: pb.Job, origin: str
) -> None:
    mpd_url = f"{origin}/{finished.media_asset.dash_manifest_uri}"
    mpd = MPEGDASHParser.parse((await get(mpd_url))[1].decode())
    sets = mpd.periods[0].adaptation_sets
    assert [(s.content_type, s.lang) for s in sets] == [
        ("video", None),
        ("audio", "eng"),
        ("audio", "spa"),
        ("text", "en"),
        ("image", None),  # the trick-play sprite sheets
    ]
    assert [s.roles[0].value for s in sets[1:4]] == ["main", "alternate", "subtitle"]
    for adaptation in sets[1:3]:
        template = adaptation.representations[0].segment_templates[0]
        assert (await get(urljoin(mpd_url, template.initialization)))[0] == 200
    text = sets[3]
    assert text.mime_type == "text/vtt"
    vtt_url = urljoin(mpd_url, text.representations[0].base_urls[0].base_url_value)
    status, vtt, headers = await get(vtt_url)
    assert status == 200 and headers["Content-Type"].startswith("text/vtt")
    assert vtt.decode("utf-8") == CUES


async def test_ffmpeg_decodes_each_audio_rendition(finished: pb.Job, origin: str) -> None:
    master_url = f"{origin}/{finished.media_asset.hls_manifest_uri}"
    master = m3u8.loads((await get(master_url))[1].decode(), uri=master_url)
    urls = [m.absolute_uri for m in master.media if m.type == "AUDIO"]
    assert len(urls) == 2

    def decode(url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [FFMPEG, "-hide_banner", "-v", "error", "-i", url, "-map", "0:a", "-f", "null", "-"],
            capture_output=True,
            text=True,
            timeout=60,
        )

    results = await asyncio.gather(*(asyncio.to_thread(decode, u) for u in urls))
    for result in results:
        assert result.returncode == 0 and result.stderr.strip() == "", result.stderr[-2000:]


async def test_ffmpeg_reads_the_cues_through_the_subtitle_playlist(
    finished: pb.Job, origin: str
) -> None:
    master_url = f"{origin}/{finished.media_asset.hls_manifest_uri}"
    master = m3u8.loads((await get(master_url))[1].decode(), uri=master_url)
    [url] = [m.absolute_uri for m in master.media if m.type == "SUBTITLES"]
    result = await asyncio.to_thread(
        subprocess.run,
        [FFMPEG, "-hide_banner", "-v", "error", "-i", url, "-f", "webvtt", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr[-2000:]
    assert "00:01.500 --> 00:03.500" in result.stdout and "Hello, world." in result.stdout


async def test_a_sidecar_that_is_not_webvtt_is_refused(tc, sources: Path) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await upload_sidecar(tc, sources / "bogus.vtt", TITLE, "tracks-bogus")
    d = details_of(err.value)
    assert d.code == grpc.StatusCode.INVALID_ARGUMENT and d.reason == "NOT_WEBVTT"
    assert "WEBVTT" in d.violations["chunk.data"]
    got = (await tc.GetUpload(pb.GetUploadRequest(name="uploads/tracks-bogus"))).upload
    assert got.state == pb.UPLOAD_STATE_FAILED


async def test_job_options_naming_a_bad_sidecar_are_refused(
    tc, finished: pb.Job, sources: Path
) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        await upload_sidecar(tc, sources / "bogus.vtt", TITLE, "tracks-bogus-2")

    async def create(job_id: str, spec: pb.SubtitleSpec) -> grpc.aio.AioRpcError:
        options = pb.TranscodeOptions(subtitles=[spec])
        request = pb.CreateJobRequest(
            job=pb.Job(upload="uploads/tracks-clip", options=options), job_id=job_id
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await tc.CreateJob(request)
        return err.value

    # a video upload given as subtitles
    d = details_of(await create("tracks-bad-1", pb.SubtitleSpec(upload="uploads/tracks-clip")))
    assert d.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "text/vtt" in d.violations["job.options.subtitles[0].upload"]
    # a malformed language tag (checked from the proto rules)
    spec = pb.SubtitleSpec(upload="uploads/tracks-clip-en", language="english!")
    d = details_of(await create("tracks-bad-2", spec))
    assert d.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "job.options.subtitles[0].language" in d.violations
    # a sidecar upload that failed
    d = details_of(await create("tracks-bad-3", pb.SubtitleSpec(upload="uploads/tracks-bogus-2")))
    assert d.code == grpc.StatusCode.FAILED_PRECONDITION and d.preconditions == ["STATE"]
    # a subtitle upload cannot be the job's source
    request = pb.CreateJobRequest(
        job=pb.Job(upload="uploads/tracks-clip-en"), job_id="tracks-bad-4"
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.CreateJob(request)
    assert "job.upload" in details_of(err.value).violations
