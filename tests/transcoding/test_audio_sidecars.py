"""Extra audio sidecars (`TranscodeOptions.audio_tracks`): audio/* uploads take the resumable
Upload path without starting a transcode, a job attaches them after the source's own audio as more
HLS AUDIO renditions and DASH audio adaptation sets (label, language), each decodable by ffmpeg at
the video's duration (a short sidecar padded with silence, a long one cut), encrypted with the
source audio's key; bad references are refused with exact codes and field paths, and a sidecar
that turns out to hold no audio fails its job at once."""

from __future__ import annotations

import asyncio
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import grpc
import m3u8
import nats
import pytest
from vod.events.v1 import media_events_pb2 as ev
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.transcoding.deps import open_store
from services.transcoding.store import layout
from tests.support import details_of
from tests.transcoding.helpers import (
    FFMPEG,
    chunk,
    header_for,
    make_tone,
    make_video,
    stream,
    upload,
    wait_job,
)
from tests.transcoding.test_pipeline import get

TITLE = "titles/audio-sidecars"
OTHER_TITLE = "titles/audio-sidecars-other"
MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
SMALL = dict(
    renditions=[pb.RenditionSpec(height=180, bitrate_bps=250_000)],
    segment_duration_seconds=2,
    keyframe_interval_seconds=1,
)


async def upload_as(
    tc, path: Path, title: str, upload_id: str, content_type: str, *, first_only: bool = False
) -> pb.Upload:
    """One Upload stream with the whole file (or, with first_only, its first 4 KiB) as chunks."""
    data = path.read_bytes()
    header = header_for(path, title, upload_id, content_type=content_type)
    size = 4096 if first_only else 64 * 1024
    stop = size if first_only else len(data)
    chunks = [chunk(o, data[o : o + size]) for o in range(0, stop, size)]
    return (await tc.Upload(stream(pb.UploadRequest(header=header), *chunks), timeout=60)).upload


def decode(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """ffmpeg reads `url`'s audio to the end (info level: the stream line and the final time=)."""
    return subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-i", url, "-map", "0:a", *extra, "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def decoded_seconds(stderr: str) -> float:
    h, m, s = re.findall(r"time=(\d+):(\d+):(\d+(?:\.\d+)?)", stderr)[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("audio-sidecars")
    make_video(folder / "film.mp4", seconds=3, size="320x180")
    # shorter than the video (padded), AAC in M4A
    make_tone(folder / "fr.m4a", seconds=2, frequency=660, codec=["-c:a", "aac", "-b:a", "64k"])
    # longer than the video (cut), PCM in WAV
    make_tone(folder / "de.wav", seconds=5, frequency=880, codec=["-c:a", "pcm_s16le"])
    make_video(folder / "silent.mp4", seconds=2, size="160x90", audio=False)
    (folder / "notes.txt").write_text("these are not audio samples, just some text\n" * 10)
    return folder


@pytest.fixture(scope="module")
async def uploads(tc, sources: Path) -> dict[str, pb.Upload]:
    found = {
        "fr": await upload_as(tc, sources / "fr.m4a", TITLE, "aud-side-fr", "audio/mp4"),
        "de": await upload_as(tc, sources / "de.wav", TITLE, "aud-side-de", "audio/wav"),
        "video": await upload(tc, sources / "film.mp4", TITLE, "aud-side-film"),
    }
    for item in found.values():
        assert item.state == pb.UPLOAD_STATE_COMPLETED, item
    return found


@pytest.fixture(scope="module")
async def finished(tc, tc_worker, uploads: dict[str, pb.Upload]) -> pb.Job:
    options = pb.TranscodeOptions(
        **SMALL,
        audio_tracks=[
            pb.AudioSpec(upload=uploads["fr"].name, language="fr", label="Français (doublage)"),
            pb.AudioSpec(upload=uploads["de"].name, language="de"),
        ],
    )
    request = pb.CreateJobRequest(
        job=pb.Job(upload=uploads["video"].name, options=options), job_id="aud-side"
    )
    job = (await tc.CreateJob(request, timeout=10)).job
    job, _ = await wait_job(tc, job.name)
    assert job.state == pb.JOB_STATE_SUCCEEDED, job.error.message
    return job


async def master_of(job: pb.Job, origin: str) -> m3u8.M3U8:
    url = f"{origin}/{job.media_asset.hls_manifest_uri}"
    status, body, _ = await get(url)
    assert status == 200
    return m3u8.loads(body.decode(), uri=url)


async def mpd_of(job: pb.Job, origin: str) -> ET.Element:
    status, body, _ = await get(f"{origin}/{job.media_asset.dash_manifest_uri}")
    assert status == 200
    return ET.fromstring(body)


async def test_sidecar_uploads_complete_without_announcing_a_new_source(
    uploads: dict[str, pb.Upload], nats_server
) -> None:
    assert (uploads["fr"].content_type, uploads["de"].content_type) == ("audio/mp4", "audio/wav")
    nc = await nats.connect(nats_server.url)
    try:
        sub = await nc.jetstream().pull_subscribe("vod.media.upload_completed", stream="VOD_MEDIA")
        names: list[str] = []
        # the video was uploaded after both sidecars: once its event is in, theirs would be too
        for _ in range(30):
            try:
                msgs = await sub.fetch(100, timeout=1)
            except (TimeoutError, nats.errors.TimeoutError):
                msgs = []
            names += [ev.UploadCompleted.FromString(m.data).upload.name for m in msgs]
            if uploads["video"].name in names:
                break
        assert uploads["video"].name in names
        assert uploads["fr"].name not in names and uploads["de"].name not in names
    finally:
        await nc.close()


async def test_hls_master_lists_the_sidecars_in_the_audio_group(
    finished: pb.Job, origin: str
) -> None:
    master = await master_of(finished, origin)
    audio = [m for m in master.media if m.type == "AUDIO"]
    assert [(m.language, m.name, m.default, m.group_id) for m in audio] == [
        ("und", "und-0", "YES", "aud"),  # the source's own audio comes first
        ("fr", "Français (doublage)", "NO", "aud"),
        ("de", "de-2", "NO", "aud"),
    ]
    assert [m.uri for m in audio] == ["audio-0-und.m3u8", "audio-x0-fr.m3u8", "audio-x1-de.m3u8"]
    for variant in master.playlists:
        assert variant.stream_info.audio == "aud"
    for media in audio:
        status, text, _ = await get(media.absolute_uri)
        assert status == 200
        playlist = m3u8.loads(text.decode(), uri=media.absolute_uri)
        assert playlist.is_endlist and len(playlist.segments) == 2  # 3 s in 2 s segments
        total = sum(s.duration for s in playlist.segments)
        assert abs(total - finished.media_asset.duration_seconds) < 0.1, total


async def test_dash_has_an_audio_adaptation_set_per_sidecar(finished: pb.Job, origin: str) -> None:
    root = await mpd_of(finished, origin)
    sets = [
        a
        for a in root.iterfind("d:Period/d:AdaptationSet", MPD_NS)
        if a.get("contentType") == "audio"
    ]
    assert [a.get("lang") for a in sets] == ["und", "fr", "de"]
    assert [[r.get("value") for r in a.iterfind("d:Role", MPD_NS)] for a in sets] == [
        ["main"],
        ["alternate"],
        ["alternate"],
    ]
    assert [[lab.text for lab in a.iterfind("d:Label", MPD_NS)] for a in sets] == [
        [],
        ["Français (doublage)"],
        [],
    ]
    for adaptation in sets:
        [representation] = adaptation.iterfind("d:Representation", MPD_NS)
        assert representation.get("codecs") == "mp4a.40.2"
        assert representation.get("audioSamplingRate") == "48000"


async def test_ffmpeg_decodes_each_sidecar_at_the_video_duration(
    finished: pb.Job, origin: str
) -> None:
    master = await master_of(finished, origin)
    urls = {m.language: m.absolute_uri for m in master.media if m.type == "AUDIO"}
    duration = finished.media_asset.duration_seconds
    assert duration == pytest.approx(3.0, abs=0.05)
    results = dict(
        zip(
            ("fr", "de"),
            await asyncio.gather(
                asyncio.to_thread(decode, urls["fr"]), asyncio.to_thread(decode, urls["de"])
            ),
            strict=True,
        )
    )
    for language, result in results.items():
        assert result.returncode == 0, result.stderr[-2000:]
        assert re.search(r"Audio: aac \(LC\).*48000 Hz, stereo", result.stderr), result.stderr
        # the 2 s French track was padded, the 5 s German one cut, both to the video's 3 s
        assert abs(decoded_seconds(result.stderr) - duration) < 0.1, (language, result.stderr)

    # the French tone is there for its 2 s, then the padding is digital silence
    def volume(url: str, window: str) -> str:
        result = decode(url, "-af", f"atrim={window},volumedetect")
        assert result.returncode == 0, result.stderr[-2000:]
        return re.findall(r"max_volume: (\S+) dB", result.stderr)[-1]

    loud, quiet = await asyncio.gather(
        asyncio.to_thread(volume, urls["fr"], "end=1.5"),
        asyncio.to_thread(volume, urls["fr"], "start=2.3"),
    )
    assert float(loud) > -20 and quiet == "-91.0", (loud, quiet)


async def test_encrypted_sidecars_share_the_source_audio_key(
    tc, tc_worker, uploads: dict[str, pb.Upload], origin: str
) -> None:
    options = pb.TranscodeOptions(
        **SMALL,
        encrypt=True,
        audio_tracks=[pb.AudioSpec(upload=uploads["fr"].name, language="fr", label="Français")],
    )
    request = pb.CreateJobRequest(
        job=pb.Job(upload=uploads["video"].name, options=options), job_id="aud-side-enc"
    )
    job, _ = await wait_job(tc, (await tc.CreateJob(request, timeout=10)).job.name)
    assert job.state == pb.JOB_STATE_SUCCEEDED, job.error.message
    root = await mpd_of(job, origin)
    kids = {}
    for adaptation in root.iterfind("d:Period/d:AdaptationSet", MPD_NS):
        if adaptation.get("contentType") != "audio":
            continue
        [cenc] = [
            c
            for c in adaptation.iterfind("d:Representation/d:ContentProtection", MPD_NS)
            if c.get("value") == "cenc"
        ]
        kids[adaptation.get("lang")] = cenc.get("{urn:mpeg:cenc:2013}default_KID")
    assert set(kids) == {"und", "fr"} and kids["und"] == kids["fr"]
    assert kids["fr"].replace("-", "") in job.media_asset.key_ids
    # HLS: the sidecar's AES-128 copy carries the same key id as the source audio's
    master = await master_of(job, origin)
    audio = {m.language: m for m in master.media if m.type == "AUDIO"}
    assert audio["fr"].uri == "audio-x0-fr-aes.m3u8" and audio["fr"].name == "Français"
    texts = [(await get(audio[lang].absolute_uri))[1].decode() for lang in ("und", "fr")]
    keys = [re.search(r'#EXT-X-KEY:METHOD=AES-128,URI="([^"]+)"', t) for t in texts]
    assert keys[0] and keys[1] and keys[0].group(1) == keys[1].group(1)


async def create_error(tc, job_id: str, *specs: pb.AudioSpec, source: str) -> grpc.aio.AioRpcError:
    options = pb.TranscodeOptions(**SMALL, audio_tracks=list(specs))
    request = pb.CreateJobRequest(job=pb.Job(upload=source, options=options), job_id=job_id)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tc.CreateJob(request, timeout=10)
    return err.value


async def test_bad_audio_track_references_are_refused(
    tc, uploads: dict[str, pb.Upload], sources: Path
) -> None:
    video, fr = uploads["video"].name, uploads["fr"].name
    path = "job.options.audio_tracks[0].upload"

    d = details_of(
        await create_error(tc, "aud-bad-1", pb.AudioSpec(upload="uploads/nope"), source=video)
    )
    assert (d.code, d.reason, d.resource_name) == (
        grpc.StatusCode.NOT_FOUND,
        "UPLOAD_NOT_FOUND",
        "uploads/nope",
    )

    d = details_of(await create_error(tc, "aud-bad-2", pb.AudioSpec(upload=video), source=video))
    assert d.code == grpc.StatusCode.INVALID_ARGUMENT and list(d.violations) == [path]
    assert d.violations[path] == (
        f"{video} is a video/mp4 upload; an audio sidecar must be uploaded with an audio/* "
        "content type"
    )

    other = await upload_as(tc, sources / "fr.m4a", OTHER_TITLE, "aud-side-other", "audio/mp4")
    d = details_of(
        await create_error(tc, "aud-bad-3", pb.AudioSpec(upload=other.name), source=video)
    )
    assert d.code == grpc.StatusCode.INVALID_ARGUMENT
    assert d.violations == {path: f"{other.name} belongs to {OTHER_TITLE}, not {TITLE}"}

    partial = await upload_as(
        tc, sources / "de.wav", TITLE, "aud-side-partial", "audio/wav", first_only=True
    )
    assert partial.state == pb.UPLOAD_STATE_UPLOADING and partial.committed_offset == 4096
    d = details_of(
        await create_error(tc, "aud-bad-4", pb.AudioSpec(upload=partial.name), source=video)
    )
    assert (d.code, d.reason, d.preconditions) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "UPLOAD_NOT_COMPLETED",
        ["STATE"],
    )

    twice = (
        pb.AudioSpec(upload=fr, language="fr", label="Dub"),
        pb.AudioSpec(upload=uploads["de"].name, language="FR", label="Dub"),
    )
    d = details_of(await create_error(tc, "aud-bad-5", *twice, source=video))
    assert d.code == grpc.StatusCode.INVALID_ARGUMENT
    assert list(d.violations) == ["job.options.audio_tracks[1].language"]
    assert (
        "audio_tracks[0] already has language 'fr' and label 'Dub'"
        in d.violations["job.options.audio_tracks[1].language"]
    )

    d = details_of(
        await create_error(
            tc, "aud-bad-6", pb.AudioSpec(upload=fr, language="french!"), source=video
        )
    )
    assert d.code == grpc.StatusCode.INVALID_ARGUMENT
    assert list(d.violations) == ["job.options.audio_tracks[0].language"]

    d = details_of(await create_error(tc, "aud-bad-7", source=fr))  # a sidecar as the source
    assert d.code == grpc.StatusCode.INVALID_ARGUMENT and list(d.violations) == ["job.upload"]
    assert "audio sidecar" in d.violations["job.upload"]


async def test_uploads_that_are_not_audio_are_refused(tc, sources: Path) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:  # a video without any audio stream
        await upload_as(tc, sources / "silent.mp4", TITLE, "aud-side-silent", "audio/mp4")
    d = details_of(err.value)
    assert (d.code, d.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "NOT_AUDIO")
    assert d.violations == {"chunk.data": "the file has no audio stream"}
    got = (await tc.GetUpload(pb.GetUploadRequest(name="uploads/aud-side-silent"))).upload
    assert got.state == pb.UPLOAD_STATE_FAILED

    with pytest.raises(grpc.aio.AioRpcError) as err:  # not an audio container at all
        await upload_as(tc, sources / "notes.txt", TITLE, "aud-side-text", "audio/mpeg")
    d = details_of(err.value)
    assert (d.code, d.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "UNSUPPORTED_CONTAINER")
    assert d.violations == {"chunk.data": "not a supported audio container"}


async def test_a_sidecar_without_audio_fails_its_job_at_once(
    tc, tc_worker, tc_settings, uploads: dict[str, pb.Upload], sources: Path
) -> None:
    sidecar = await upload_as(tc, sources / "fr.m4a", TITLE, "aud-side-replaced", "audio/mp4")
    assert sidecar.state == pb.UPLOAD_STATE_COMPLETED
    # The stored object is replaced behind the service's back by a file without audio (a store
    # restored from the wrong backup, say): only the worker can find out.
    store = open_store(tc_settings)
    key = layout.source(TITLE.removeprefix("titles/"), "aud-side-replaced", "fr.m4a")
    assert Path(store.reader_url(key)).is_file()
    store.put_file(key, sources / "silent.mp4")
    options = pb.TranscodeOptions(
        **SMALL, audio_tracks=[pb.AudioSpec(upload=sidecar.name, language="fr")]
    )
    request = pb.CreateJobRequest(
        job=pb.Job(upload=uploads["video"].name, options=options), job_id="aud-side-noaudio"
    )
    job, _ = await wait_job(tc, (await tc.CreateJob(request, timeout=10)).job.name)
    assert job.state == pb.JOB_STATE_FAILED
    assert job.attempt_count == 1  # not retried: the same file fails the same way
    assert job.error.message == (
        "audio sidecar uploads/aud-side-replaced (options.audio_tracks[0]) cannot be used: "
        "the file has no audio stream"
    )
    info = [d for d in job.error.details if d.type_url.endswith("ErrorInfo")]
    assert info and b"AUDIO_SIDECAR_UNUSABLE" in info[0].value
