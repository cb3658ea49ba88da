"""FFmpeg as a library of async calls: probing, encoding with progress, VMAF.

The embedded FFmpeg (`imageio_ffmpeg.get_ffmpeg_exe()`) ships without ffprobe, so probing parses
`ffmpeg -i` output (and decodes the stream with `-f null` when the container has no duration).
Every child ffmpeg dies with its parent (PR_SET_PDEATHSIG through `setpriv`), so a worker killed with SIGKILL leaves
no encoder running.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "AudioProbe",
    "AudioStream",
    "FfmpegError",
    "NotAudioError",
    "NotVideoError",
    "Probe",
    "ffmpeg_exe",
    "probe",
    "probe_audio",
    "run_ffmpeg",
    "vmaf",
]


class FfmpegError(RuntimeError):
    """ffmpeg exited non-zero; `tail` is the end of its stderr (what the job error shows)."""

    def __init__(self, args: Sequence[str], returncode: int, tail: str) -> None:
        self.returncode = returncode
        self.tail = tail
        super().__init__(f"ffmpeg exited with {returncode}: {tail.strip()[-600:]}")


class NotVideoError(ValueError):
    """The input is not a readable container with a video stream."""


class NotAudioError(ValueError):
    """The input is not a readable container with an audio stream (an audio sidecar)."""


@dataclass(frozen=True)
class AudioStream:
    index: int  # audio stream index (0:a:N)
    codec: str
    sample_rate: int
    channels: int
    language: str = "und"


@dataclass(frozen=True)
class Probe:
    format_name: str
    duration: float
    width: int
    height: int
    fps: float
    video_codec: str
    audio: tuple[AudioStream, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, object]:
        return {
            "format": self.format_name,
            "duration": self.duration,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "video_codec": self.video_codec,
            "audio": [a.__dict__ for a in self.audio],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Probe:
        """The inverse of `to_json` (a probe stored with a job)."""
        audio = tuple(AudioStream(**a) for a in doc.get("audio", []))
        return cls(
            str(doc["format"]),
            float(doc["duration"]),
            int(doc["width"]),
            int(doc["height"]),
            float(doc["fps"]),
            str(doc["video_codec"]),
            audio,
        )


@dataclass(frozen=True)
class AudioProbe:
    """What an audio sidecar holds: its container, duration and audio streams (at least one)."""

    format_name: str
    duration: float
    audio: tuple[AudioStream, ...]


def ffmpeg_exe(configured: str = "") -> str:
    if configured:
        return configured
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


# `setpriv --pdeathsig KILL` (util-linux) sets PR_SET_PDEATHSIG and execs ffmpeg: done in the
# child without running Python between fork and exec (a preexec_fn is unsafe in a process with
# gRPC's threads). Without setpriv, children are only killed on cancellation.
_SETPRIV = shutil.which("setpriv")
_LAUNCH = [_SETPRIV, "--pdeathsig", "KILL"] if _SETPRIV else []


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_INPUT = re.compile(r"Input #0, ([^,]+(?:,[^,\s]+)*), from")
_STREAM = re.compile(
    r"Stream #0:(\d+)(?:\[0x[0-9a-f]+\])?(?:\((\w+)\))?: (Video|Audio|Subtitle|Data): (.*)"
)
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
_FPS = re.compile(r"([\d.]+) fps")
_TBR = re.compile(r"([\d.]+)k? tbr")
_RATE = re.compile(r"(\d+) Hz")
_TIME = re.compile(r"time=(\d+):(\d+):(\d+(?:\.\d+)?)")


def _seconds(h: str, m: str, s: str) -> float:
    return int(h) * 3600 + int(m) * 60 + float(s)


async def _capture(args: Sequence[str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *_LAUNCH,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await proc.communicate()
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    return int(proc.returncode or 0), err.decode("utf-8", "replace")


def _audio_streams(text: str) -> list[AudioStream]:
    audio: list[AudioStream] = []
    for m in _STREAM.finditer(text):
        if m.group(3) != "Audio":
            continue
        desc, lang = m.group(4), m.group(2) or "und"
        rate = _RATE.search(desc)
        channels = 1 if " mono" in desc else 6 if "5.1" in desc else 2
        audio.append(
            AudioStream(
                len(audio),
                desc.split()[0].rstrip(","),
                int(rate.group(1)) if rate else 48000,
                channels,
                lang,
            )
        )
    return audio


async def probe_audio(ffmpeg: str, url: str) -> AudioProbe:
    """Container, duration and audio streams of an audio sidecar (path or http URL). Raises
    NotAudioError when FFmpeg cannot read it or it has no audio stream (a video stream, cover art
    and the like are ignored)."""
    _, text = await _capture([ffmpeg, "-hide_banner", "-nostdin", "-i", url])
    if "Invalid data found" in text or "Input #0" not in text:
        raise NotAudioError("not a media file FFmpeg can read (unknown or damaged container)")
    audio = _audio_streams(text)
    if not audio:
        raise NotAudioError("the file has no audio stream")
    fmt = _INPUT.search(text)
    duration_match = _DURATION.search(text)
    duration = _seconds(*duration_match.groups()) if duration_match else 0.0
    if duration <= 0:  # raw streams (ADTS AAC, some MP3s) have no container duration
        _, out = await _capture(
            [ffmpeg, "-hide_banner", "-nostdin", "-i", url, "-map", "0:a:0", "-f", "null", "-"]
        )
        times = _TIME.findall(out)
        duration = _seconds(*times[-1]) if times else 0.0
    if duration <= 0:
        raise NotAudioError("the audio stream has no readable samples")
    return AudioProbe(fmt.group(1) if fmt else "unknown", duration, tuple(audio))


async def probe(ffmpeg: str, url: str) -> Probe:
    """Streams, duration, resolution and frame rate of a media file (path or http URL)."""
    _, text = await _capture([ffmpeg, "-hide_banner", "-nostdin", "-i", url])
    if "Invalid data found" in text or "Input #0" not in text:
        raise NotVideoError("not a media file FFmpeg can read (unknown or damaged container)")
    fmt = _INPUT.search(text)
    video = None
    audio = _audio_streams(text)
    for m in _STREAM.finditer(text):
        kind, desc = m.group(3), m.group(4)
        codec = desc.split()[0].rstrip(",")
        if kind == "Video" and video is None and "attached pic" not in desc:
            size = _SIZE.search(desc)
            fps = _FPS.search(desc) or _TBR.search(desc)
            if size:
                video = (
                    codec,
                    int(size.group(1)),
                    int(size.group(2)),
                    float(fps.group(1)) if fps else 0.0,
                )
    if video is None:
        raise NotVideoError("the file has no video stream")
    duration_match = _DURATION.search(text)
    duration = _seconds(*duration_match.groups()) if duration_match else 0.0
    if duration <= 0:  # raw streams have no container duration: decode to find it
        _, out = await _capture(
            [ffmpeg, "-hide_banner", "-nostdin", "-i", url, "-map", "0:v:0", "-f", "null", "-"]
        )
        times = _TIME.findall(out)
        duration = _seconds(*times[-1]) if times else 0.0
    if duration <= 0 or video[3] <= 0:
        raise NotVideoError("the video stream has no readable frames")
    return Probe(
        fmt.group(1) if fmt else "unknown",
        duration,
        video[1],
        video[2],
        video[3],
        video[0],
        tuple(audio),
    )


ProgressFn = Callable[[dict[str, str]], None]


async def run_ffmpeg(
    ffmpeg: str,
    args: Sequence[str],
    *,
    on_progress: ProgressFn | None = None,
) -> None:
    """Run ffmpeg to completion; `on_progress` gets each `-progress` block (frame, fps, out_time_us).
    Raises FfmpegError with the stderr tail. Cancelling the task kills ffmpeg."""
    full = [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-y",
        "-v",
        "error",
        "-progress",
        "pipe:1",
        "-nostats",
        *args,
    ]
    proc = await asyncio.create_subprocess_exec(
        *_LAUNCH,
        *full,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    tail: deque[str] = deque(maxlen=40)

    async def read_err() -> None:
        assert proc.stderr is not None
        async for line in proc.stderr:
            tail.append(line.decode("utf-8", "replace").rstrip())

    async def read_out() -> None:
        assert proc.stdout is not None
        block: dict[str, str] = {}
        async for raw in proc.stdout:
            key, _, value = raw.decode("utf-8", "replace").strip().partition("=")
            block[key] = value
            if key == "progress":
                if on_progress is not None:
                    on_progress(block)
                block = {}

    try:
        await asyncio.gather(read_err(), read_out())
        code = await proc.wait()
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    if code != 0:
        raise FfmpegError(full, code, "\n".join(tail))


_VMAF = re.compile(r"VMAF score: ([\d.]+)")


async def vmaf(
    ffmpeg: str,
    distorted: str,
    reference: str,
    *,
    width: int,
    height: int,
    subsample: int = 5,
    threads: int = 0,
) -> float:
    """Mean VMAF of `distorted` against `reference`, both scaled to width x height (bicubic)."""
    graph = (
        f"[0:v]scale={width}:{height}:flags=bicubic,setpts=PTS-STARTPTS[d];"
        f"[1:v]scale={width}:{height}:flags=bicubic,setpts=PTS-STARTPTS[r];"
        f"[d][r]libvmaf=n_subsample={max(1, subsample)}:n_threads={max(1, threads or os.cpu_count() or 1)}"
    )
    code, text = await _capture(
        [
            ffmpeg,
            "-hide_banner",
            "-nostdin",
            "-i",
            distorted,
            "-i",
            reference,
            "-lavfi",
            graph,
            "-f",
            "null",
            "-",
        ]
    )
    match = _VMAF.search(text)
    if code != 0 or match is None:
        raise FfmpegError(["vmaf"], code, text[-2000:])
    return float(match.group(1))


async def vmaf_many(
    ffmpeg: str,
    reference: str,
    distorted: Sequence[tuple[str, int, int]],
    *,
    subsample: int = 5,
    threads: int = 0,
    work: Path,
    windows: Sequence[tuple[float, float]] = (),
) -> list[float]:
    """Mean VMAF of each (path, width, height) in `distorted` against `reference`, in one ffmpeg
    process per window: the reference is decoded once and split to every size, where `vmaf` per
    rendition would decode it once per rendition. Every `subsample`-th frame is scored (libvmaf's
    n_subsample; frames are not dropped before it, since VMAF's motion feature reads the frame
    before). Without `windows`, the same scores as `vmaf` for each rendition on its own
    (tests/transcoding check it). `windows` ((start, length) in seconds, equal lengths) scores
    only those stretches, every input seeked to the same instant so the frames stay paired, and
    averages them: decoding is most of the cost, so a long title is measured on samples."""
    if not distorted:
        return []
    work.mkdir(parents=True, exist_ok=True)
    spans: Sequence[tuple[float, float] | None] = list(windows) or [None]
    per_window = [
        await _vmaf_window(ffmpeg, reference, distorted, subsample, threads, work / f"w{k}", span)
        for k, span in enumerate(spans)
    ]
    return [sum(scores) / len(scores) for scores in zip(*per_window, strict=True)]


async def _vmaf_window(
    ffmpeg: str,
    reference: str,
    distorted: Sequence[tuple[str, int, int]],
    subsample: int,
    threads: int,
    work: Path,
    span: tuple[float, float] | None,
) -> list[float]:
    work.mkdir(parents=True, exist_ok=True)
    count = len(distorted)
    threads = max(1, threads or os.cpu_count() or 1)
    logs = [work / f"vmaf-{i}.json" for i in range(count)]
    seek = [] if span is None else ["-ss", f"{span[0]:.3f}", "-t", f"{span[1]:.3f}"]
    parts = [f"[0:v]setpts=PTS-STARTPTS,split={count}" + "".join(f"[ref{i}]" for i in range(count))]
    for i, (_, width, height) in enumerate(distorted):
        parts.append(f"[ref{i}]scale={width}:{height}:flags=bicubic[r{i}]")
        parts.append(f"[{i + 1}:v]setpts=PTS-STARTPTS,scale={width}:{height}:flags=bicubic[d{i}]")
        parts.append(
            f"[d{i}][r{i}]libvmaf=n_subsample={max(1, subsample)}:n_threads={threads}"
            f":log_fmt=json:log_path={logs[i]}[v{i}]"
        )
    args = [ffmpeg, "-hide_banner", "-nostdin", *seek, "-i", reference]
    for path, _, _ in distorted:
        args += [*seek, "-i", path]
    args += ["-filter_complex", ";".join(parts)]
    for i in range(count):
        args += ["-map", f"[v{i}]", "-f", "null", "-"]
    code, text = await _capture(args)
    if code != 0:
        raise FfmpegError(["vmaf"], code, text[-2000:])
    scores = []
    for log in logs:
        try:
            pooled = json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise FfmpegError(["vmaf"], code, f"no VMAF in {log.name}: {exc}") from exc
        scores.append(float(pooled))
    return scores
