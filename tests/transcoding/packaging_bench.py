"""Packaging time with encryption against clear packaging of the same renditions.

    .venv/bin/python -m tests.transcoding.packaging_bench --seconds 60 --height 1080

Encodes a test source once into a ladder of joined fragmented MP4s plus an AAC track (what the
pipeline's encode stage hands to packaging), then times `pipeline.package()` on them clear
(CMAF split + manifests) and encrypted (CENC remux + split for DASH, AES-128 copy of the clear
segments for HLS + manifests), best of `rounds`, with local keys (fetching keys from licensing is
one round trip before encoding and is not part of packaging). Prints JSON; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

from vod.licensing.v1 import licensing_pb2 as lpb

from services.transcoding.keys import ContentKey, video_class
from services.transcoding.ladder import Rung, width_for
from services.transcoding.media import ffmpeg_exe, probe
from services.transcoding.pipeline import AudioInput, EncodeConfig, VideoInput, package

FFMPEG = ffmpeg_exe()
_FMP4 = ["-movflags", "+frag_keyframe+empty_moov+default_base_moof"]


def _run(args: list[str]) -> None:
    subprocess.run([FFMPEG, "-v", "error", "-y", *args], check=True)


async def measure_packaging(
    source: Path,
    work: Path,
    *,
    heights: tuple[int, ...] = (800, 360),
    rounds: int = 3,
    parallelism: int = 2,
    gop_s: float = 2.0,
    segment_s: float = 2.0,
) -> dict[str, float]:
    """Best-of-`rounds` seconds of `package()` clear and encrypted, and their ratio."""
    info = await probe(FFMPEG, str(source))
    fps = round(min(info.fps, 60.0), 3)
    gop = str(max(1, round(fps * gop_s)))
    inputs = work / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    videos = []
    for height in heights:
        rung = Rung(height, width_for(height, info), 1_000_000)
        path = inputs / f"{rung.id}.mp4"
        _run(
            ["-i", str(source), "-an", "-vf", f"scale={rung.width}:{rung.height}"]
            + ["-c:v", "libx264", "-preset", "ultrafast", "-g", gop, "-keyint_min", gop]
            + ["-sc_threshold", "0", *_FMP4, "-f", "mp4", str(path)]
        )
        videos.append(VideoInput(rung, path))
    audios = []
    if info.audio:
        path = inputs / "audio.mp4"
        _run(
            ["-i", str(source), "-vn", "-c:a", "aac", "-ar", "48000", "-ac", "2"]
            + ["-movflags", "+empty_moov+default_base_moof"]
            + ["-frag_duration", str(int(gop_s * 1_000_000)), "-f", "mp4", str(path)]
        )
        audios.append(AudioInput(info.audio[0], path))
    classes = {video_class(h) for h in heights} | {lpb.TRACK_TYPE_AUDIO}
    keys = {
        t: ContentKey(secrets.token_hex(16), t, secrets.token_bytes(16), secrets.token_bytes(16))
        for t in classes
    }
    cfg = EncodeConfig(ffmpeg=FFMPEG, parallelism=parallelism)
    duration = info.duration
    best: dict[str, float] = {}
    for index in range(rounds):
        for label, chosen in (("clear", None), ("encrypted", keys)):
            started = time.perf_counter()
            await package(
                cfg,
                media="bench",
                videos=videos,
                audios=audios,
                keys=chosen,
                out=work / f"out-{label}-{index}",
                work=work / f"work-{label}-{index}",
                segment_s=segment_s,
                keyframe_s=gop_s,
                fps=fps,
                duration=duration,
            )
            elapsed = time.perf_counter() - started
            best[label] = min(best.get(label, elapsed), elapsed)
    size = sum(p.stat().st_size for p in inputs.iterdir())
    return {
        "source_s": round(duration, 2),
        "rungs": len(videos),
        "input_mb": round(size / 1e6, 2),
        "clear_s": round(best["clear"], 4),
        "encrypted_s": round(best["encrypted"], 4),
        "ratio": round(best["encrypted"] / best["clear"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--height", type=int, default=1080, help="source height (16:9)")
    parser.add_argument("--rungs", default="1080,720,360")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallelism", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="packaging-bench-") as folder:
        root = Path(folder)
        source = root / "source.mp4"
        width = args.height * 16 // 9 // 2 * 2
        _run(
            ["-f", "lavfi", "-i", f"testsrc2=size={width}x{args.height}:rate=25"]
            + ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
            + ["-t", str(args.seconds), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18"]
            + ["-c:a", "aac", "-pix_fmt", "yuv420p", str(source)]
        )
        heights = tuple(int(h) for h in args.rungs.split(",") if int(h) <= args.height)
        report = asyncio.run(
            measure_packaging(
                source, root, heights=heights, rounds=args.rounds, parallelism=args.parallelism
            )
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
