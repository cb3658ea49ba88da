"""The ABR ladder: which rungs a title gets (never upscaled) and at what bitrates.

Presets are fixed tables; PER_TITLE measures the title instead (Netflix's per-title encoding):
for each rung, a sample of the source is encoded at a few CRF values, each trial's VMAF against the
source and its bitrate are measured, and the rung's bitrate is interpolated to reach the VMAF
target. Easy content (cartoons, test patterns) gets far lower bitrates than the fixed table;
hard content gets more.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vod.transcoding.v1 import transcoding_pb2 as pb

from services.transcoding.media import Probe

__all__ = ["Rung", "STANDARD_BITRATES", "Trial", "bitrate_for_target", "plan_ladder", "width_for"]

HEIGHTS = (240, 360, 480, 720, 1080, 1440, 2160)
STANDARD_BITRATES = {
    240: 400_000,
    360: 800_000,
    480: 1_400_000,
    720: 2_800_000,
    1080: 5_000_000,
    1440: 9_000_000,
    2160: 16_000_000,
}
PREVIEW_BITRATES = {240: 300_000, 360: 600_000, 480: 1_000_000}


@dataclass(frozen=True)
class Rung:
    height: int
    width: int
    bitrate: int  # 0 = to be chosen from the VMAF target
    codec: int = pb.VIDEO_CODEC_H264
    crf: float | None = None  # per-title: capped CRF (bitrate is then the cap's basis)

    @property
    def id(self) -> str:
        codec = {pb.VIDEO_CODEC_H265: "h265", pb.VIDEO_CODEC_AV1: "av1"}.get(self.codec, "h264")
        return f"{self.height}p-{codec}"


def width_for(height: int, probe: Probe) -> int:
    return max(2, int(round(probe.width * height / probe.height / 2)) * 2)


def _even(value: int) -> int:
    return max(2, value - value % 2)


def plan_ladder(probe: Probe, options: pb.TranscodeOptions) -> list[Rung]:
    """Rungs highest first; none above the source's height."""
    codec = options.codec or pb.VIDEO_CODEC_H264
    source_h = _even(probe.height)
    if options.renditions:
        rungs = [
            Rung(
                _even(r.height),
                width_for(_even(r.height), probe),
                r.bitrate_bps,
                r.codec or pb.VIDEO_CODEC_H264,
            )
            for r in options.renditions
            if r.height <= probe.height
        ]
        if not rungs:  # every rung was above the source: encode at the source's own height
            rungs = [Rung(source_h, width_for(source_h, probe), 0, codec)]
        return sorted(set(rungs), key=lambda r: -r.height)
    preset = options.ladder or pb.LADDER_PRESET_STANDARD
    table = PREVIEW_BITRATES if preset == pb.LADDER_PRESET_PREVIEW else STANDARD_BITRATES
    cap = {pb.LADDER_PRESET_PREVIEW: 480, pb.LADDER_PRESET_STANDARD: 1080}.get(preset, 2160)
    if preset == pb.LADDER_PRESET_STANDARD and probe.height >= 2160:
        cap = 2160  # 4K when the source is
    heights = [h for h in HEIGHTS if h <= min(cap, probe.height)]
    top = min(source_h, cap)
    if not heights or (top > heights[-1] * 1.1 and top not in HEIGHTS):
        heights.append(top)  # the source's own height when it sits between table rungs
    per_title = preset == pb.LADDER_PRESET_PER_TITLE
    rungs = []
    for h in heights:
        nearest = min(table, key=lambda k: abs(k - h))
        bitrate = 0 if per_title else int(table[nearest] * (h * h) / (nearest * nearest))
        rungs.append(Rung(h, width_for(h, probe), bitrate, codec))
    return sorted(rungs, key=lambda r: -r.height)


@dataclass(frozen=True)
class Trial:
    crf: int
    bitrate: int
    vmaf: float


def bitrate_for_target(trials: Sequence[Trial], target: float) -> tuple[int, float, float]:
    """Interpolate (bitrate, expected VMAF, CRF) reaching `target` from CRF trials; bitrate is
    interpolated in log space (rate-quality curves are close to log-linear), CRF linearly."""
    points = sorted(trials, key=lambda t: t.bitrate)
    if not points:
        raise ValueError("no trials")
    if target <= points[0].vmaf:
        return points[0].bitrate, points[0].vmaf, float(points[0].crf)
    if target >= points[-1].vmaf:  # out of reach: the best trial
        return points[-1].bitrate, points[-1].vmaf, float(points[-1].crf)
    for low, high in zip(points, points[1:], strict=False):
        if low.vmaf <= target <= high.vmaf:
            if high.vmaf - low.vmaf < 1e-6:
                return high.bitrate, high.vmaf, float(high.crf)
            frac = (target - low.vmaf) / (high.vmaf - low.vmaf)
            log_rate = math.log(low.bitrate) + frac * (
                math.log(high.bitrate) - math.log(low.bitrate)
            )
            crf = low.crf + frac * (high.crf - low.crf)
            return int(math.exp(log_rate)), target, round(crf, 2)
    return points[-1].bitrate, points[-1].vmaf, float(points[-1].crf)
