"""`vod ingest --wait` end to end (the CLI as a subprocess), including resuming an upload an
earlier run left unfinished, the exit code for a rejected file, and subtitle and extra audio
sidecars (`--subtitles`, `--audio`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import m3u8
from vod.transcoding.v1 import transcoding_pb2 as pb

from services.transcoding.cli import upload_id_for
from services.transcoding.server import Running
from tests.transcoding.conftest import worker_env
from tests.transcoding.helpers import make_tone, make_video, sha256_of, upload

ROOT = Path(__file__).resolve().parents[2]


async def run_cli(settings, service: Running, *args: str) -> tuple[int, str, str]:
    env = {
        **worker_env(settings),
        "VOD_GATEWAY_GRPC": f"127.0.0.1:{service.port}",
        "VOD_ORIGIN_PUBLIC_URL": f"http://127.0.0.1:{service.origin_port}",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.transcoding.cli",
        *args,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    return int(proc.returncode or 0), out.decode(), err.decode()


async def test_ingest_resumes_and_waits_for_the_media(
    tc, tc_worker, tc_service: Running, tc_settings, tmp_path: Path
) -> None:
    source = make_video(tmp_path / "cli.mp4", seconds=3, size="426x240")
    upload_id = upload_id_for("titles/cli-film", sha256_of(source))
    partial = await upload(tc, source, "titles/cli-film", upload_id, chunk_size=4096, stop_after=2)
    assert partial.committed_offset == 8192  # an earlier run was interrupted here
    code, out, err = await run_cli(
        tc_settings,
        tc_service,
        "ingest",
        str(source),
        "--title",
        "titles/cli-film",
        "--wait",
        "--ladder",
        "preview",
    )
    assert code == 0, err
    assert "resuming" in err and "at byte 8192" in err
    lines = dict(line.split(None, 1) for line in out.strip().splitlines())
    assert lines["HLS"].endswith("/master.m3u8") and lines["DASH"].endswith("/manifest.mpd")
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(lines["HLS"], timeout=10).read())
    assert m3u8.loads(body.decode()).is_variant
    job = (await tc.GetJob(pb.GetJobRequest(name=f"jobs/{upload_id}"))).job
    assert job.state == pb.JOB_STATE_SUCCEEDED

    code, out, err = await run_cli(
        tc_settings, tc_service, "ingest", str(source), "--title", "titles/cli-film"
    )  # a re-run finds the same upload and job
    assert code == 0 and out.strip() == f"jobs/{upload_id}"


async def test_ingest_exit_codes_for_rejections(
    tc_service: Running, tc_settings, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(5000))
    code, _, err = await run_cli(
        tc_settings, tc_service, "ingest", str(junk), "--title", "titles/junk"
    )
    assert code == 2 and "video container" in err
    code, _, err = await run_cli(
        tc_settings,
        tc_service,
        "ingest",
        str(junk),
        "--title",
        "titles/junk",
        "--address",
        "127.0.0.1:1",
    )
    assert code == 3 and "unreachable" in err


def _flat(text: str) -> str:
    """Console output with the terminal's line wrapping undone."""
    return " ".join(text.split())


async def test_ingest_explains_a_display_name_and_bad_sidecars(
    tc_service: Running, tc_settings, tmp_path: Path
) -> None:
    source = make_video(tmp_path / "film.mp4", seconds=1, size="160x90")
    code, out, err = await run_cli(
        tc_settings, tc_service, "ingest", str(source), "--title", "My Film"
    )
    assert code == 2 and out == ""
    assert (
        "--title expects a title name like titles/my-film, not a display name ('My Film'). "
        "To create a title called 'My Film' and ingest into it, use --new-title 'My Film'"
    ) in _flat(err)

    not_vtt = tmp_path / "subs.vtt"
    not_vtt.write_text("1\n00:00:00,000 --> 00:00:01,000\nan SRT file\n")
    for spec, expected in (
        ("english=x.vtt", "'english' is not a language tag such as en, spa or pt-BR"),
        ("en", "expected LANG=FILE.vtt, e.g. en=movie.en.vtt"),
        (f"en={tmp_path / 'missing.vtt'}", "no such file"),
        (f"en={not_vtt}", "is not WebVTT (no WEBVTT header)"),
    ):
        code, _, err = await run_cli(
            tc_settings,
            tc_service,
            "ingest",
            str(source),
            "--title",
            "titles/film",
            "--subtitles",
            spec,
        )
        assert code == 2, (spec, err)
        assert expected in _flat(err), (spec, err)


async def test_ingest_attaches_subtitle_sidecars(
    tc, tc_worker, tc_service: Running, tc_settings, tmp_path: Path
) -> None:
    source = make_video(tmp_path / "subbed.mp4", seconds=2, size="320x180")
    english = tmp_path / "subbed.en.vtt"
    english.write_text("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there\n")
    spanish = tmp_path / "subbed.es.txt"  # any file name: the content is what counts
    spanish.write_text("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHola\n")
    code, out, err = await run_cli(
        tc_settings,
        tc_service,
        "ingest",
        str(source),
        "--title",
        "titles/subbed",
        "--subtitles",
        f"en:English (CC)={english}",
        "--subtitles",
        f"es={spanish}",
        "--wait",
        "--ladder",
        "preview",
    )
    assert code == 0, err
    lines = dict(line.split(None, 1) for line in out.strip().splitlines())
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(lines["HLS"], timeout=10).read())
    master = m3u8.loads(body.decode())
    subs = [(m.language, m.name) for m in master.media if m.type == "SUBTITLES"]
    assert subs == [("en", "English (CC)"), ("es", "es")]
    job = (
        await tc.GetJob(
            pb.GetJobRequest(name=f"jobs/{upload_id_for('titles/subbed', sha256_of(source))}")
        )
    ).job
    assert [(s.language, s.label) for s in job.options.subtitles] == [
        ("en", "English (CC)"),
        ("es", ""),
    ]


async def test_ingest_refuses_bad_audio_sidecars_before_uploading(
    tc_service: Running, tc_settings, tmp_path: Path
) -> None:
    source = make_video(tmp_path / "film.mp4", seconds=1, size="160x90")
    text = tmp_path / "dub.m4a"
    text.write_text("not audio at all, only words\n" * 4)
    for spec, expected in (
        ("french=x.m4a", "'french' is not a language tag such as en, spa or pt-BR"),
        ("fr", "expected LANG=FILE, e.g. fr=movie.fr.m4a"),
        (f"fr={tmp_path / 'missing.m4a'}", "no such file"),
        (f"fr={text}", "is not an audio file (MP4/M4A, MP3, AAC, WAV, FLAC, Ogg or Matroska)"),
        (f'fr:The "Dub"={text}', "the label cannot hold quotes, backslashes, <, > or &"),
    ):
        code, out, err = await run_cli(
            tc_settings,
            tc_service,
            "ingest",
            str(source),
            "--title",
            "titles/film",
            "--audio",
            spec,
        )
        assert code == 2 and out == "", (spec, err)
        assert expected in _flat(err), (spec, err)


async def test_ingest_attaches_audio_sidecars(
    tc, tc_worker, tc_service: Running, tc_settings, tmp_path: Path
) -> None:
    source = make_video(tmp_path / "dubbed.mp4", seconds=2, size="320x180")
    french = make_tone(
        tmp_path / "dubbed.fr.m4a",
        seconds=2,
        frequency=550,
        codec=["-c:a", "aac", "-b:a", "64k"],
        sample_rate=48000,
    )
    commentary = make_tone(
        tmp_path / "commentary.bin",
        seconds=1,
        frequency=550,
        codec=["-c:a", "flac", "-f", "flac"],
        sample_rate=48000,
    )
    code, out, err = await run_cli(
        tc_settings,
        tc_service,
        "ingest",
        str(source),
        "--title",
        "titles/dubbed",
        "--audio",
        f"fr:Français={french}",
        "--audio",  # any file name: the content tells the type
        f"en={commentary}",
        "--wait",
        "--ladder",
        "preview",
    )
    assert code == 0, err
    assert "uploaded audio" in err
    lines = dict(line.split(None, 1) for line in out.strip().splitlines())
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(lines["HLS"], timeout=10).read())
    master = m3u8.loads(body.decode())
    audio = [(m.language, m.name) for m in master.media if m.type == "AUDIO"]
    assert audio == [("und", "und-0"), ("fr", "Français"), ("en", "en-2")]
    job = (
        await tc.GetJob(
            pb.GetJobRequest(name=f"jobs/{upload_id_for('titles/dubbed', sha256_of(source))}")
        )
    ).job
    assert [(a.language, a.label) for a in job.options.audio_tracks] == [
        ("fr", "Français"),
        ("en", ""),
    ]
    types = []
    for track in job.options.audio_tracks:
        sidecar = (await tc.GetUpload(pb.GetUploadRequest(name=track.upload))).upload
        assert sidecar.state == pb.UPLOAD_STATE_COMPLETED and sidecar.title == "titles/dubbed"
        types.append(sidecar.content_type)
    assert types == ["audio/mp4", "audio/flac"]
