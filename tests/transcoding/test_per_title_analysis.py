"""Per-title analysis: every rung's CRF trials come from one ffmpeg per CRF (one decode of the
sample) and one VMAF run per CRF, and must give exactly what the obvious method gives — one
encode and one VMAF run per rung and CRF, computed here on the same sample."""

from __future__ import annotations

import subprocess
from pathlib import Path

from vod.transcoding.v1 import transcoding_pb2 as pb

from services.transcoding.ladder import plan_ladder
from services.transcoding.media import probe, vmaf
from services.transcoding.pipeline import EncodeConfig, _analyze, _scale, _video_args
from tests.transcoding.helpers import FFMPEG, make_video


async def test_batched_trials_equal_one_encode_and_one_vmaf_per_rung(tmp_path: Path) -> None:
    source = make_video(tmp_path / "source.mp4", seconds=3, size="854x480", audio=False)
    info = await probe(FFMPEG, str(source))
    ladder = plan_ladder(info, pb.TranscodeOptions())
    assert [r.height for r in ladder] == [480, 360, 240]
    cfg = EncodeConfig(ffmpeg=FFMPEG, analysis_seconds=2.0)
    work = tmp_path / "work"
    work.mkdir()
    progress: list[str] = []
    chosen, analysis = await _analyze(
        str(source), info, ladder, 93.0, cfg, work, 25.0, lambda p: progress.append(p.message)
    )
    assert progress[-1] == "per-title trials: 2/2 CRFs x 3 rungs"
    sample = work / "analysis-sample.mp4"
    length = 2.0
    for rung in ladder:
        for crf in cfg.trial_crfs:
            out = tmp_path / f"alone-{rung.height}-{crf}.mp4"
            subprocess.run(
                [
                    FFMPEG,
                    "-v",
                    "error",
                    "-y",
                    "-i",
                    str(sample),
                    "-vf",
                    _scale(rung),
                    *_video_args(rung, 10**6, cfg, 1, crf=crf),
                    str(out),
                ],
                check=True,
            )
            score = await vmaf(
                FFMPEG,
                str(out),
                str(sample),
                width=rung.width,
                height=rung.height,
                subsample=cfg.vmaf_subsample,
                threads=1,
            )
            assert analysis[f"{rung.id}.crf{crf}.bitrate"] == int(out.stat().st_size * 8 / length)
            assert abs(analysis[f"{rung.id}.crf{crf}.vmaf"] - score) < 1e-6, (rung.id, crf)
    # The chosen CRF sits between the trials and the bitrate between theirs.
    for rung, picked in zip(ladder, chosen, strict=True):
        low, high = (analysis[f"{rung.id}.crf{c}.bitrate"] for c in (32, 24))
        assert picked.crf is not None and 24 <= picked.crf <= 32
        assert max(64_000, low) <= picked.bitrate <= max(64_000, high)
