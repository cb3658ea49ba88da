"""One transcode, no gRPC and no database: probe → (content keys) → (analyze) → chunked parallel
encode → VMAF → CMAF packaging (+ CENC for DASH and an AES-128 copy for HLS when encrypted) →
HLS/DASH manifests, thumbnails and trick-play sprite → verification. Everything is written into
a local output folder laid out like the published prefixes (`renditions/`, `manifests/`,
`thumbnails/`); the worker uploads and publishes it.

Chunked encoding in the Netflix manner: the source is cut at GOP boundaries into time chunks of a
whole number of GOPs; every chunk is encoded by its own ffmpeg (all rungs from one decode) with a
fixed, closed GOP (`-g`/`-keyint_min` = keyframe interval in frames, no scene-cut keyframes), so
keyframes fall on the same frame numbers in every chunk and every rung; the chunks are joined
with the concat demuxer (stream copy) into one seamless stream per rung. A chunk is a
`ChunkSpec` (frames, fps, GOP, rungs, preset, threads) and `chunk_args` is the one function that
turns it into an ffmpeg command, whether the chunk runs here or on another worker
(`services.transcoding.chunks`, `VOD_TRANSCODE_CHUNKS=distributed`).

Encrypted titles (`TranscodeOptions.encrypt`) get their keys from licensing before any encoding
(one per track class: SD/HD/UHD video by rung height, AUDIO), so a licensing outage fails the
attempt early and cheaply. Packaging writes, per track, CENC segments into `renditions/<track>/`
(DASH) and an AES-128 copy of the clear segments into `renditions/<track>-aes/` (HLS); see
`hls_aes` for the layout and why.

Extra audio sidecars (`TranscodeOptions.audio_tracks`, `AudioSidecar`) are probed before anything
else (a sidecar without an audio stream raises `SidecarError`, which retrying cannot fix); the
first audio stream of each is encoded like the source's audio (AAC stereo 48 kHz, fragmented at
the keyframe interval), padded with silence or cut to the video's duration, and packaged,
encrypted (the AUDIO key) and listed in the manifests like the source's audio streams, after them.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from vod.transcoding.v1 import transcoding_pb2 as pb

from services.transcoding import cmaf, hls_aes, manifests
from services.transcoding.keys import (
    AUDIO,
    ContentKey,
    KeyProvider,
    KeyServiceError,
    video_class,
)
from services.transcoding.ladder import Rung, Trial, bitrate_for_target, plan_ladder
from services.transcoding.media import (
    AudioStream,
    NotAudioError,
    Probe,
    probe,
    probe_audio,
    run_ffmpeg,
    vmaf_many,
)

__all__ = [
    "ChunkEncoder",
    "ChunkProgressFn",
    "ChunkSpec",
    "EncodeConfig",
    "AudioInput",
    "AudioSidecar",
    "Packaged",
    "PipelineError",
    "PipelineResult",
    "Progress",
    "SidecarError",
    "SubtitleSource",
    "VideoInput",
    "chunk_args",
    "encode_chunk",
    "key_classes",
    "package",
    "plan_chunks",
    "run_pipeline",
]

_FMP4 = ["-movflags", "+frag_keyframe+empty_moov+default_base_moof"]
_AUDIO_BITRATE = 128_000


class PipelineError(RuntimeError):
    """The output failed verification (not an ffmpeg crash: those raise FfmpegError)."""


class SidecarError(PipelineError):
    """A sidecar the job names cannot be used (an audio sidecar without an audio stream): the
    same input fails the same way on every attempt, so the job fails at once."""


@dataclass(frozen=True)
class EncodeConfig:
    ffmpeg: str
    parallelism: int = 0
    chunk_seconds: float = 0.0  # 0 = auto; a very large value = one pass
    x264_preset: str = "veryfast"
    vmaf_subsample: int = 5
    vmaf_window_s: float = 4.0
    """Titles longer than `vmaf_whole_below_s` get their rungs' VMAF from evenly spaced windows
    of this length covering about `vmaf_sample_share` of the title (3 to 20 windows): decoding
    every rung and the source again is otherwise a third of the encode's time."""
    vmaf_sample_share: float = 0.25
    vmaf_whole_below_s: float = 30.0
    analysis_seconds: float = 4.0
    """Per-title analysis: CRF trials of each rung on a sample this long from the middle of the
    title, each scored by VMAF (every `vmaf_subsample`-th frame). Measured on a 20 s 1080p
    source: 4 s and two CRFs cost a third of 8 s and three (18.6 s against 55.2 s), and land
    0.5-1 VMAF point above the target instead of within 0.5 of it."""
    trial_crfs: tuple[int, ...] = (24, 32)
    thumbnail_interval_s: float = 2.0

    @property
    def workers(self) -> int:
        return self.parallelism or os.cpu_count() or 1

    def vmaf_windows(self, duration: float) -> list[tuple[float, float]]:
        """(start, length) of the stretches the final VMAF is measured on; [] = the whole."""
        if duration <= self.vmaf_whole_below_s or self.vmaf_window_s <= 0:
            return []
        count = round(duration * self.vmaf_sample_share / self.vmaf_window_s)
        count = max(3, min(20, count))
        segment = duration / count
        length = min(self.vmaf_window_s, segment)
        return [(k * segment + (segment - length) / 2, length) for k in range(count)]


@dataclass
class Progress:
    stage: int
    percent: float
    fps: float = 0.0
    eta_s: float | None = None
    message: str = ""


ReportFn = Callable[[Progress], None]


@dataclass(frozen=True)
class SubtitleSource:
    """A WebVTT sidecar to publish as is (already checked to be WebVTT)."""

    data: bytes
    language: str = "und"
    label: str = ""


@dataclass(frozen=True)
class AudioSidecar:
    """An extra audio track from an audio/* upload (`TranscodeOptions.audio_tracks`)."""

    path: str  # a local file or URL ffmpeg reads
    language: str = "und"
    label: str = ""
    upload: str = ""  # "uploads/{upload}", for error messages


@dataclass
class PipelineResult:
    probe: Probe
    renditions: list[pb.Rendition]
    duration: float
    encrypted: bool
    key_ids: list[str]
    ladder: list[Rung]
    analysis: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


# -- encoder arguments --------------------------------------------------------------------------


def _video_args(
    rung: Rung, gop: int, cfg: EncodeConfig, threads: int, crf: float | None = None
) -> list[str]:
    return _codec_args(rung, gop, cfg.x264_preset, threads, crf)


def _codec_args(
    rung: Rung, gop: int, preset: str, threads: int, crf: float | None = None
) -> list[str]:
    if crf is not None:  # analysis trials: pure constant quality
        rate = ["-crf", str(crf)]
    elif rung.crf is not None:  # per-title: capped CRF aimed at the VMAF target
        rate = [
            "-crf",
            str(rung.crf),
            "-maxrate",
            str(int(rung.bitrate * 1.5)),
            "-bufsize",
            str(int(rung.bitrate * 2)),
        ]
    else:  # fixed ladder: capped VBR at the table's bitrate
        rate = [
            "-b:v",
            str(rung.bitrate),
            "-maxrate",
            str(int(rung.bitrate * 1.5)),
            "-bufsize",
            str(int(rung.bitrate * 2)),
        ]
    if rung.codec == pb.VIDEO_CODEC_H265:
        return [
            "-c:v",
            "libx265",
            "-preset",
            preset,
            *rate,
            "-tag:v",
            "hvc1",
            "-x265-params",
            f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:log-level=error:pools={threads}",
        ]
    if rung.codec == pb.VIDEO_CODEC_AV1:
        return [
            "-c:v",
            "libsvtav1",
            "-preset",
            "10",
            *rate,
            "-g",
            str(gop),
            "-svtav1-params",
            "scd=0",
        ]
    return [
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-profile:v",
        "high",
        *rate,
        "-g",
        str(gop),
        "-keyint_min",
        str(gop),
        "-sc_threshold",
        "0",
        "-x264-params",
        "open-gop=0:scenecut=0",
        "-threads",
        str(threads),
    ]


def _scale(rung: Rung) -> str:
    return f"scale={rung.width}:{rung.height}:flags=bicubic,setsar=1,format=yuv420p"


# -- stages ---------------------------------------------------------------------------------------


async def _analyze(
    source: str,
    info: Probe,
    ladder: list[Rung],
    target: float,
    cfg: EncodeConfig,
    work: Path,
    fps: float,
    report: ReportFn,
) -> tuple[list[Rung], dict[str, float]]:
    """Per-title bitrates: CRF trials on a sample, VMAF each, interpolate to the target."""
    length = min(info.duration, cfg.analysis_seconds)
    start = max(0.0, info.duration / 2 - length / 2)
    sample = work / "analysis-sample.mp4"
    await run_ffmpeg(
        cfg.ffmpeg,
        [
            "-ss",
            f"{start:.3f}",
            "-i",
            source,
            "-t",
            f"{length:.3f}",
            "-an",
            "-vf",
            f"fps={fps}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-qp",
            "0",
            str(sample),
        ],
    )
    # One ffmpeg per CRF encodes every rung from one decode of the sample, and one more scores
    # them all from one decode of it (vmaf_many): the same encodes and scores as a process per
    # rung (x264 on one thread each, the same filters), without decoding the lossless 1080p
    # sample twice per rung and CRF (25.8 s -> 15.1 s for the 5 rungs of a 1080p source).
    sem = asyncio.Semaphore(cfg.workers)
    done = 0
    total = len(cfg.trial_crfs)
    analysis: dict[str, float] = {}

    async def trials_at(crf: int) -> list[Trial]:
        nonlocal done
        outs = [work / f"trial-{i}-{rung.height}-{crf}.mp4" for i, rung in enumerate(ladder)]
        split = "".join(f"[s{i}]" for i in range(len(ladder)))
        graph = f"[0:v]split={len(ladder)}{split};" + ";".join(
            f"[s{i}]{_scale(r)}[o{i}]" for i, r in enumerate(ladder)
        )
        args = ["-i", str(sample), "-filter_complex", graph]
        for i, rung in enumerate(ladder):
            args += ["-map", f"[o{i}]", *_video_args(rung, 10**6, cfg, 1, crf=crf), str(outs[i])]
        async with sem:
            await run_ffmpeg(cfg.ffmpeg, args)
            scores = await vmaf_many(
                cfg.ffmpeg,
                str(sample),
                [(str(o), r.width, r.height) for o, r in zip(outs, ladder, strict=True)],
                subsample=cfg.vmaf_subsample,
                threads=1,
                work=work / f"trial-vmaf-{crf}",
            )
        done += 1
        report(
            Progress(
                pb.JOB_STAGE_ANALYZING,
                2 + 13 * done / total,
                message=f"per-title trials: {done}/{total} CRFs x {len(ladder)} rungs",
            )
        )
        return [
            Trial(crf, int(o.stat().st_size * 8 / length), score)
            for o, score in zip(outs, scores, strict=True)
        ]

    per_crf = await asyncio.gather(*(trials_at(crf) for crf in cfg.trial_crfs))
    chosen = []
    for i, rung in enumerate(ladder):
        trials = [batch[i] for batch in per_crf]
        bitrate, expected, crf = bitrate_for_target(trials, target)
        bitrate = max(64_000, bitrate)
        analysis[f"{rung.id}.crf"] = crf
        analysis[f"{rung.id}.bitrate"] = bitrate
        analysis[f"{rung.id}.expected_vmaf"] = expected
        for t in trials:
            analysis[f"{rung.id}.crf{t.crf}.vmaf"] = t.vmaf
            analysis[f"{rung.id}.crf{t.crf}.bitrate"] = t.bitrate
        chosen.append(Rung(rung.height, rung.width, bitrate, rung.codec, crf))
    return chosen, analysis


@dataclass(frozen=True)
class ChunkSpec:
    """One time chunk of the video: everything that decides its encoded bytes (the same spec
    encodes to the same bytes wherever it runs, given the same ffmpeg build). `threads` is fixed
    by the plan, never by the process that runs the chunk or by how many chunks it runs."""

    index: int
    first_frame: int
    frames: int
    fps: float
    gop: int
    rungs: tuple[Rung, ...]
    preset: str
    threads: int

    def output(self, folder: Path, rung: Rung) -> Path:
        return folder / f"chunk-{self.index:04d}-{rung.id}.ts"


ChunkProgressFn = Callable[[int, int], None]
"""(chunk index, frames of it encoded so far, every rung counted once)."""

ChunkEncoder = Callable[[str, Sequence[ChunkSpec], Path, ChunkProgressFn], Awaitable[None]]
"""Encodes every chunk of a plan so that `spec.output(work, rung)` exists for each (source,
specs, work, progress); the default runs them here (`_local_chunks`), `services.transcoding.
chunks` spreads them over the workers."""


def plan_chunks(
    ladder: Sequence[Rung], fps: float, gop: int, total_frames: int, cfg: EncodeConfig
) -> list[ChunkSpec]:
    """Cut `total_frames` into chunks of a whole number of GOPs."""
    total_gops = max(1, math.ceil(total_frames / gop))
    if cfg.chunk_seconds > 0:
        chunk_gops = max(1, round(cfg.chunk_seconds * fps / gop))
    else:  # about two chunks per encoder process, at least one GOP, at most ~30 s
        chunk_gops = max(
            1, min(math.ceil(total_gops / (2 * cfg.workers)), max(1, round(30 * fps / gop)))
        )
    chunk_frames = chunk_gops * gop
    starts = list(range(0, total_frames, chunk_frames))
    threads = max(1, (os.cpu_count() or 1) // min(cfg.workers, len(starts)))
    return [
        ChunkSpec(
            index,
            first,
            min(chunk_frames, total_frames - first),
            fps,
            gop,
            tuple(ladder),
            cfg.x264_preset,
            threads,
        )
        for index, first in enumerate(starts)
    ]


def chunk_args(spec: ChunkSpec, source: str, folder: Path) -> list[str]:
    """The ffmpeg arguments encoding one chunk into `folder`: the only place they are built, for
    the local and the distributed path alike."""
    ladder = spec.rungs
    split = "".join(f"[s{i}]" for i in range(len(ladder)))
    graph = f"[0:v]fps={spec.fps},split={len(ladder)}{split};" + ";".join(
        f"[s{i}]{_scale(r)}[o{i}]" for i, r in enumerate(ladder)
    )
    args = ["-ss", f"{spec.first_frame / spec.fps:.6f}", "-i", source, "-filter_complex", graph]
    for i, rung in enumerate(ladder):
        args += [
            "-map",
            f"[o{i}]",
            "-an",
            *_codec_args(rung, spec.gop, spec.preset, spec.threads),
            "-frames:v",
            str(spec.frames),
            "-muxdelay",
            "0",
            "-muxpreload",
            "0",
            "-f",
            "mpegts",
            str(spec.output(folder, rung)),
        ]
    return args


async def encode_chunk(
    ffmpeg: str,
    spec: ChunkSpec,
    source: str,
    folder: Path,
    on_frames: Callable[[int], None] | None = None,
) -> list[Path]:
    """Encode one chunk (all its rungs from one decode) into `folder`; its output files."""
    folder.mkdir(parents=True, exist_ok=True)

    def progress(block: dict[str, str]) -> None:
        if on_frames is None:
            return
        try:
            on_frames(int(block.get("frame", "0")))
        except ValueError:
            return

    await run_ffmpeg(ffmpeg, chunk_args(spec, source, folder), on_progress=progress)
    return [spec.output(folder, rung) for rung in spec.rungs]


def _local_chunks(cfg: EncodeConfig) -> ChunkEncoder:
    """Every chunk in this process, `cfg.workers` ffmpeg processes at a time."""

    async def run(
        source: str, specs: Sequence[ChunkSpec], work: Path, progress: ChunkProgressFn
    ) -> None:
        sem = asyncio.Semaphore(cfg.workers)

        async def one(spec: ChunkSpec) -> None:
            async with sem:
                await encode_chunk(
                    cfg.ffmpeg, spec, source, work, lambda n: progress(spec.index, n)
                )

        await asyncio.gather(*(one(spec) for spec in specs))

    return run


async def _encode_chunks(
    source: str,
    ladder: list[Rung],
    fps: float,
    gop: int,
    total_frames: int,
    cfg: EncodeConfig,
    work: Path,
    report: ReportFn,
    encoder: ChunkEncoder | None = None,
) -> dict[str, list[Path]]:
    specs = plan_chunks(ladder, fps, gop, total_frames, cfg)
    frames_done: dict[int, int] = {}
    began = time.monotonic()
    work_total = total_frames * len(ladder)
    where = "" if encoder is None else " (distributed)"

    def on_progress(index: int, frames: int) -> None:
        frames_done[index] = frames * len(ladder)
        done = sum(frames_done.values())
        elapsed = max(time.monotonic() - began, 1e-3)
        rate = done / elapsed
        eta = (work_total - done) / rate if rate > 0 else None
        report(
            Progress(
                pb.JOB_STAGE_ENCODING,
                15 + 60 * min(1.0, done / max(work_total, 1)),
                fps=rate / len(ladder),
                eta_s=eta,
                message=f"encoding {len(ladder)} rungs in {len(specs)} chunks{where}",
            )
        )

    await (encoder or _local_chunks(cfg))(source, specs, work, on_progress)
    return {rung.id: [spec.output(work, rung) for spec in specs] for rung in ladder}


async def _join(cfg: EncodeConfig, chunks: list[Path], out: Path) -> None:
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{c}'\n" for c in chunks))
    await run_ffmpeg(
        cfg.ffmpeg,
        [
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-c",
            "copy",
            *_FMP4,
            "-f",
            "mp4",
            str(out),
        ],
    )


def _cenc(key: ContentKey) -> list[str]:
    """ffmpeg mp4 muxer options for CENC `cenc` (AES-CTR). The key is on ffmpeg's command line
    (the muxer has no other way in); it is never logged (FfmpegError keeps only stderr)."""
    return [
        "-encryption_scheme",
        "cenc-aes-ctr",
        "-encryption_key",
        key.key.hex(),
        "-encryption_kid",
        key.key_id,
    ]


async def _thumbnails(
    source: str, info: Probe, cfg: EncodeConfig, out: Path, media: str, track_dir: Path
) -> manifests.SpriteSheet:
    """Poster, trick-play sprite sheets and their WebVTT index into `out` (the thumbnails
    folder); the sheets are also published as the `thumbs` track of the renditions (`track_dir`)
    so the DASH manifest's image adaptation set reaches them through the edges like segments."""
    out.mkdir(parents=True, exist_ok=True)
    at = min(info.duration * 0.1, max(0.0, info.duration - 0.5))
    await run_ffmpeg(
        cfg.ffmpeg,
        [
            "-ss",
            f"{at:.3f}",
            "-i",
            source,
            "-frames:v",
            "1",
            "-vf",
            "scale=-2:360",
            "-q:v",
            "3",
            str(out / "poster.jpg"),
        ],
    )
    interval = cfg.thumbnail_interval_s
    tw = 160
    th = max(2, int(round(tw * info.height / info.width / 2)) * 2)
    cols = rows = 5
    count = max(1, math.ceil(info.duration / interval))
    await run_ffmpeg(
        cfg.ffmpeg,
        [
            "-i",
            source,
            "-vf",
            f"fps=1/{interval},scale={tw}:{th},tile={cols}x{rows}",
            "-q:v",
            "4",
            "-fps_mode",
            "passthrough",
            str(out / "sprite-%03d.jpg"),
        ],
    )
    lines = ["WEBVTT", ""]
    for i in range(count):
        start, end = i * interval, min((i + 1) * interval, info.duration)
        sheet, cell = divmod(i, cols * rows)
        y, x = divmod(cell, cols)
        lines += [
            f"{_vtt(start)} --> {_vtt(end)}",
            f"sprite-{sheet + 1:03d}.jpg#xywh={x * tw},{y * th},{tw},{th}",
            "",
        ]
    (out / "sprite.vtt").write_text("\n".join(lines))
    sheets = sorted(out.glob("sprite-*.jpg"))
    track_dir.mkdir(parents=True, exist_ok=True)
    for sheet_path in sheets:
        shutil.copyfile(sheet_path, track_dir / sheet_path.name)
    return manifests.SpriteSheet(
        uri_template=f"../../renditions/{media}/{track_dir.name}/sprite-$Number%03d$.jpg",
        tile_width=tw,
        tile_height=th,
        columns=cols,
        rows=rows,
        interval_s=interval,
        sheets=len(sheets),
    )


def _vtt(seconds: float) -> str:
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


def _verify(
    videos: Sequence[manifests.Track],
    audios: Sequence[manifests.Track],
    duration: float,
    gop_s: float,
) -> None:
    if not videos:
        raise PipelineError("no video rendition was produced")
    reference = [round(s.start, 3) for s in videos[0].split.segments]
    for track in videos:
        segs = track.split.segments
        if not segs:
            raise PipelineError(f"{track.id}: no segments")
        bad = [s.number for s in segs if not s.starts_with_key]
        if bad:
            raise PipelineError(f"{track.id}: segments {bad} do not start with a keyframe")
        if [round(s.start, 3) for s in segs] != reference:
            raise PipelineError(f"{track.id}: segment boundaries differ from {videos[0].id}")
        if abs(track.split.duration - duration) > gop_s:
            raise PipelineError(
                f"{track.id}: duration {track.split.duration:.3f}s, source {duration:.3f}s"
            )
    for track in audios:
        if not track.split.segments or abs(track.split.duration - duration) > 1.0:
            raise PipelineError(f"{track.id}: audio duration {track.split.duration:.3f}s")


def _verify_copies(dash: Sequence[manifests.Track], hls: Sequence[manifests.Track]) -> None:
    """The HLS AES-128 copy of each track has the CENC track's segments, boundary for boundary."""
    for cenc, aes in zip(dash, hls, strict=True):
        if not cenc.split.encrypted or aes.split.encrypted:
            raise PipelineError(f"{cenc.id}: the DASH track is not CENC or the HLS copy is")
        if [(s.start_ticks, s.duration_ticks) for s in cenc.split.segments] != [
            (s.start_ticks, s.duration_ticks) for s in aes.split.segments
        ]:
            raise PipelineError(f"{aes.id}: segments differ from the CENC track {cenc.id}")


# -- packaging ------------------------------------------------------------------------------------


def key_classes(ladder: Sequence[Rung], audio: bool) -> list[int]:
    """The licensing track types an encrypted title of this ladder needs, in ladder order."""
    classes = [video_class(r.height) for r in ladder]
    return list(dict.fromkeys([*classes, *([AUDIO] if audio else [])]))


@dataclass(frozen=True)
class VideoInput:
    rung: Rung
    path: Path  # the joined fragmented MP4 of the rung


@dataclass(frozen=True)
class AudioInput:
    stream: AudioStream
    path: Path  # the fragmented MP4 of the audio track
    label: str = ""  # the name players show; "" = none given
    sidecar: int | None = None  # index in TranscodeOptions.audio_tracks; None = a source stream

    @property
    def id(self) -> str:
        if self.sidecar is not None:
            return f"audio-x{self.sidecar}-{self.stream.language.lower()}"
        return f"audio-{self.stream.index}-{self.stream.language}"


@dataclass
class Packaged:
    """What packaging wrote: the DASH tracks (clear or CENC) and the HLS tracks (the same tracks
    when clear, the AES-128 copies when encrypted)."""

    videos: list[manifests.Track]
    audios: list[manifests.Track]
    hls_videos: list[manifests.Track]
    hls_audios: list[manifests.Track]
    key_ids: dict[str, str] = field(default_factory=dict)  # track id -> KID


async def package(
    cfg: EncodeConfig,
    *,
    media: str,
    videos: Sequence[VideoInput],
    audios: Sequence[AudioInput],
    keys: Mapping[int, ContentKey] | None,
    out: Path,
    work: Path,
    segment_s: float,
    keyframe_s: float,
    fps: float,
    duration: float,
    subtitles: Sequence[SubtitleSource] = (),
    thumbnails: manifests.SpriteSheet | None = None,
) -> Packaged:
    """CMAF segments of every track into `out/renditions/`, manifests into `out/manifests/`.
    Clear (`keys` None): one set of segments for HLS and DASH. Encrypted: CENC segments in
    `<track>/` for DASH, an AES-128 copy of the clear segments in `<track>-aes/` for HLS."""
    work.mkdir(parents=True, exist_ok=True)
    renditions = out / "renditions"
    base = f"../../renditions/{media}/"
    sem = asyncio.Semaphore(cfg.workers)

    def key_of(track_type: int) -> ContentKey:
        assert keys is not None
        return keys[track_type]

    async def cenc(track_id: str, clear: Path, key: ContentKey, fragmenting: list[str]) -> Path:
        packaged = work / f"{track_id}.enc.mp4"
        async with sem:
            await run_ffmpeg(
                cfg.ffmpeg,
                [
                    "-i",
                    str(clear),
                    "-c",
                    "copy",
                    *fragmenting,
                    *_cenc(key),
                    "-f",
                    "mp4",
                    str(packaged),
                ],
            )
        return packaged

    async def aes_copy(track_id: str, clear: Path, key: ContentKey) -> cmaf.SplitResult:
        folder = renditions / f"{track_id}{hls_aes.AES_SUFFIX}"
        encrypt = hls_aes.encryptor(key.key, key.iv)
        return await asyncio.to_thread(cmaf.split, clear, folder, segment_s, encrypt)

    async def one(
        track_id: str, clear: Path, key: ContentKey | None, fragmenting: list[str]
    ) -> tuple[cmaf.SplitResult, cmaf.SplitResult | None]:
        if key is None:
            return await asyncio.to_thread(
                cmaf.split, clear, renditions / track_id, segment_s
            ), None
        encrypted, aes = await asyncio.gather(
            cenc(track_id, clear, key, fragmenting), aes_copy(track_id, clear, key)
        )
        dash = await asyncio.to_thread(cmaf.split, encrypted, renditions / track_id, segment_s)
        return dash, aes

    audio_fragmenting = [
        "-movflags",
        "+empty_moov+default_base_moof",
        "-frag_duration",
        str(int(keyframe_s * 1_000_000)),
    ]
    video_keys = [key_of(video_class(v.rung.height)) if keys else None for v in videos]
    audio_key = key_of(AUDIO) if keys and audios else None
    results = await asyncio.gather(
        *(one(v.rung.id, v.path, k, _FMP4) for v, k in zip(videos, video_keys, strict=True)),
        *(one(a.id, a.path, audio_key, audio_fragmenting) for a in audios),
    )
    video_results, audio_results = results[: len(videos)], results[len(videos) :]

    packaged = Packaged([], [], [], [])
    for video, key, (dash, aes) in zip(videos, video_keys, video_results, strict=True):
        rung = video.rung
        track = manifests.Track(
            rung.id,
            "video",
            dash,
            f"{base}{rung.id}/",
            rung.width,
            rung.height,
            fps,
            protection=manifests.ContentProtection(key.key_id) if key else None,
        )
        packaged.videos.append(track)
        if key is None or aes is None:
            packaged.hls_videos.append(track)
            continue
        packaged.key_ids[rung.id] = key.key_id
        aes_id = f"{rung.id}{hls_aes.AES_SUFFIX}"
        packaged.hls_videos.append(
            replace(
                track,
                id=aes_id,
                split=aes,
                segments_uri=f"{base}{aes_id}/",
                protection=None,
                hls_key=manifests.HlsKey(key.key_id, key.iv.hex()),
            )
        )
    for audio, (dash, aes) in zip(audios, audio_results, strict=True):
        track = manifests.Track(
            audio.id,
            "audio",
            dash,
            f"{base}{audio.id}/",
            language=audio.stream.language,
            channels=2,
            sample_rate=48000,
            label=audio.label,
            protection=manifests.ContentProtection(audio_key.key_id) if audio_key else None,
        )
        packaged.audios.append(track)
        if audio_key is None or aes is None:
            packaged.hls_audios.append(track)
            continue
        packaged.key_ids[audio.id] = audio_key.key_id
        aes_id = f"{audio.id}{hls_aes.AES_SUFFIX}"
        packaged.hls_audios.append(
            replace(
                track,
                id=aes_id,
                split=aes,
                segments_uri=f"{base}{aes_id}/",
                protection=None,
                hls_key=manifests.HlsKey(audio_key.key_id, audio_key.iv.hex()),
            )
        )
    _verify(packaged.videos, packaged.audios, duration, keyframe_s)
    if keys:
        _verify(packaged.hls_videos, packaged.hls_audios, duration, keyframe_s)
        _verify_copies(
            [*packaged.videos, *packaged.audios], [*packaged.hls_videos, *packaged.hls_audios]
        )

    texts: list[manifests.Subtitle] = []
    for index, sidecar in enumerate(subtitles):  # never encrypted: text, published as is
        language = sidecar.language or "und"
        track_id = f"sub-{index}-{language.lower()}"
        folder = renditions / track_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "subtitles.vtt").write_bytes(sidecar.data)
        texts.append(
            manifests.Subtitle(
                track_id,
                f"{base}{track_id}/subtitles.vtt",
                language,
                sidecar.label,
                duration,
                len(sidecar.data),
            )
        )
    manifest_dir = out / "manifests"
    manifest_dir.mkdir(parents=True, exist_ok=True)
    for track in [*packaged.hls_videos, *packaged.hls_audios]:
        (manifest_dir / f"{track.id}.m3u8").write_text(manifests.hls_media(track))
    for text in texts:
        (manifest_dir / f"{text.id}.m3u8").write_text(manifests.hls_subtitle(text))
    if thumbnails is not None and thumbnails.sheets > 0:
        (manifest_dir / manifests.THUMBS_PLAYLIST).write_text(
            manifests.hls_thumbnails(thumbnails, duration)
        )
    (manifest_dir / "master.m3u8").write_text(
        manifests.hls_master(packaged.hls_videos, packaged.hls_audios, texts, thumbnails)
    )
    (manifest_dir / "manifest.mpd").write_text(
        manifests.mpd(
            packaged.videos, packaged.audios, duration, segment_s, texts, thumbnails=thumbnails
        )
    )
    return packaged


# -- the pipeline ---------------------------------------------------------------------------------


async def run_pipeline(
    source: str,
    options: pb.TranscodeOptions,
    *,
    media: str,
    cfg: EncodeConfig,
    work: Path,
    out: Path,
    report: ReportFn,
    key_provider: KeyProvider | None = None,
    info: Probe | None = None,
    subtitles: Sequence[SubtitleSource] = (),
    audio_sidecars: Sequence[AudioSidecar] = (),
    chunk_encoder: ChunkEncoder | None = None,
) -> PipelineResult:
    """Transcode `source` into `out` (renditions/, manifests/, thumbnails/); `media` is the asset
    id used in the relative manifest URLs. `chunk_encoder` runs the chunk encodes (default: here,
    in parallel ffmpeg processes; `services.transcoding.chunks` spreads them over workers).
    Raises SidecarError when an audio sidecar has no audio stream."""
    timings: dict[str, float] = {}
    mark = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    report(Progress(pb.JOB_STAGE_PROBING, 0, message="probing the source"))
    info = info or await probe(cfg.ffmpeg, source)
    extra: list[AudioStream] = []  # the stream used of each audio sidecar, with its language
    for index, sidecar in enumerate(audio_sidecars):
        try:
            found = await probe_audio(cfg.ffmpeg, sidecar.path)
        except NotAudioError as exc:
            raise SidecarError(
                f"audio sidecar {sidecar.upload or index} (options.audio_tracks[{index}]) "
                f"cannot be used: {exc}"
            ) from exc
        extra.append(replace(found.audio[0], language=sidecar.language or "und"))
    segment_s = options.segment_duration_seconds or 6
    keyframe_s = options.keyframe_interval_seconds or 2
    if segment_s % keyframe_s:
        raise PipelineError("the keyframe interval must divide the segment duration")
    fps = min(info.fps, 60.0)
    fps = round(fps, 3)
    gop = max(1, round(fps * keyframe_s))
    total_frames = max(1, int(math.floor(info.duration * fps + 1e-6)))
    duration = total_frames / fps
    timings["probe"] = time.monotonic() - mark

    ladder = plan_ladder(info, options)
    keys: dict[int, ContentKey] | None = None
    if options.encrypt:  # before any encoding: no keys, no point encoding
        if key_provider is None:
            raise KeyServiceError(
                "encryption was requested but this worker has no key provider "
                "(set VOD_PACKAGER_SECRET and VOD_LICENSING_ADDRESS)"
            )
        mark = time.monotonic()
        has_audio = bool(info.audio or extra)
        keys = dict(await key_provider.content_keys(media, key_classes(ladder, has_audio)))
        timings["keys"] = time.monotonic() - mark
    analysis: dict[str, float] = {}
    target = float(options.vmaf_target or 93)
    if any(r.bitrate == 0 for r in ladder):
        mark = time.monotonic()
        report(Progress(pb.JOB_STAGE_ANALYZING, 2, message="measuring complexity (per-title)"))
        ladder, analysis = await _analyze(source, info, ladder, target, cfg, work, fps, report)
        timings["analyze"] = time.monotonic() - mark

    mark = time.monotonic()
    report(Progress(pb.JOB_STAGE_ENCODING, 15, message=f"encoding {len(ladder)} rungs"))
    chunks = await _encode_chunks(
        source, ladder, fps, gop, total_frames, cfg, work, report, chunk_encoder
    )
    audio_jobs = []
    audio_inputs: list[AudioInput] = []
    tracks: list[tuple[str, AudioStream, AudioInput, list[str]]] = [
        (source, s, AudioInput(s, work / f"audio-{s.index}.mp4"), []) for s in info.audio
    ]
    for index, (sidecar, stream) in enumerate(zip(audio_sidecars, extra, strict=True)):
        clear = work / f"audio-sidecar-{index}.mp4"
        # padded with silence when shorter than the video; `-t` below cuts it when longer
        pad = ["-af", "apad"]
        tracks.append((sidecar.path, stream, AudioInput(stream, clear, sidecar.label, index), pad))
    for path, stream, audio_input, filters in tracks:
        clear = audio_input.path
        audio_inputs.append(audio_input)
        audio_jobs.append(
            run_ffmpeg(
                cfg.ffmpeg,
                [
                    "-i",
                    path,
                    "-map",
                    f"0:a:{stream.index}",
                    "-vn",
                    *filters,
                    "-c:a",
                    "aac",
                    "-b:a",
                    str(_AUDIO_BITRATE),
                    "-ac",
                    "2",
                    "-ar",
                    "48000",
                    "-t",
                    f"{duration:.6f}",
                    "-movflags",
                    "+empty_moov+default_base_moof",
                    "-frag_duration",
                    str(int(keyframe_s * 1_000_000)),
                    "-f",
                    "mp4",
                    str(clear),
                ],
            )
        )
    await asyncio.gather(*audio_jobs)
    joined: dict[str, Path] = {}
    for rung in ladder:
        joined[rung.id] = work / f"{rung.id}.mp4"
        await _join(cfg, chunks[rung.id], joined[rung.id])
    timings["encode"] = time.monotonic() - mark

    mark = time.monotonic()
    report(
        Progress(
            pb.JOB_STAGE_MEASURING_QUALITY,
            75,
            message=f"VMAF of {len(ladder)} rungs against the source",
        )
    )
    measured = await vmaf_many(
        cfg.ffmpeg,
        source,
        [(str(joined[rung.id]), rung.width, rung.height) for rung in ladder],
        subsample=cfg.vmaf_subsample,
        work=work / "vmaf",
        windows=cfg.vmaf_windows(duration),
    )
    scores = {rung.id: score for rung, score in zip(ladder, measured, strict=True)}
    timings["vmaf"] = time.monotonic() - mark

    mark = time.monotonic()
    # Poster and sprite tiles (at most 360p and 160 px wide) come from the smallest rung of at
    # least 360p when there is one: decoding it costs a fraction of decoding the source.
    small = [rung for rung in ladder if rung.height >= 360]
    picture_source = str(joined[min(small, key=lambda r: r.height).id]) if small else source
    sprite = await _thumbnails(
        picture_source, info, cfg, out / "thumbnails", media, out / "renditions" / "thumbs"
    )
    timings["thumbnails"] = time.monotonic() - mark
    report(
        Progress(
            pb.JOB_STAGE_PACKAGING,
            88,
            message="packaging CMAF, HLS and DASH" + (" (CENC + AES-128)" if keys else ""),
        )
    )
    mark = time.monotonic()
    packaged = await package(
        cfg,
        media=media,
        videos=[VideoInput(rung, joined[rung.id]) for rung in ladder],
        audios=audio_inputs,
        keys=keys,
        out=out,
        work=work / "package",
        segment_s=segment_s,
        keyframe_s=keyframe_s,
        fps=fps,
        duration=duration,
        subtitles=subtitles,
        thumbnails=sprite,
    )
    timings["package"] = time.monotonic() - mark

    videos, audios = packaged.videos, packaged.audios
    audio_codec = audios[0].split.codec if audios else ""
    audio_avg = audios[0].average_bps if audios else 0
    renditions = [
        pb.Rendition(
            id=track.id,
            width=track.width,
            height=track.height,
            frame_rate=fps,
            bitrate_bps=track.average_bps + audio_avg,
            peak_bitrate_bps=track.peak_bps + (audios[0].peak_bps if audios else 0),
            video_codec=rung.codec,
            codecs=",".join(c for c in (track.split.codec, audio_codec) if c),
            vmaf=round(scores[rung.id], 3),
            segment_count=len(track.split.segments),
            encrypted=keys is not None,
            key_id=packaged.key_ids.get(track.id, ""),
        )
        for track, rung in zip(videos, ladder, strict=True)
    ]
    return PipelineResult(
        info,
        renditions,
        duration,
        keys is not None,
        list(dict.fromkeys(packaged.key_ids.values())),
        ladder,
        analysis,
        timings,
    )
