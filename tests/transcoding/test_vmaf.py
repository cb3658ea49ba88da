"""Measuring each rung's VMAF: every rung against one decode of the source gives exactly the
scores of one ffmpeg run per rung, and a long title's sampled windows stay close to the whole."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from services.transcoding.media import vmaf, vmaf_many
from services.transcoding.pipeline import EncodeConfig
from tests.transcoding.helpers import FFMPEG, make_video


def _encode(source: Path, out: Path, height: int, crf: int) -> tuple[str, int, int]:
    width = height * 16 // 9 // 2 * 2
    subprocess.run(
        [
            FFMPEG,
            "-v",
            "error",
            "-y",
            "-i",
            str(source),
            "-vf",
            f"scale={width}:{height}",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            str(crf),
            "-an",
            str(out),
        ],
        check=True,
    )
    return str(out), width, height


@pytest.fixture(scope="module")
def rungs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, int, int]]]:
    root = tmp_path_factory.mktemp("vmaf")
    source = make_video(root / "source.mp4", seconds=16, size="640x360", audio=False)
    return source, [
        _encode(source, root / "288.mp4", 288, 36),  # visibly worse
        _encode(source, root / "216.mp4", 216, 26),
    ]


async def test_one_decode_of_the_source_scores_like_one_run_per_rung(
    rungs: tuple[Path, list[tuple[str, int, int]]], tmp_path: Path
) -> None:
    source, encoded = rungs
    each = [
        await vmaf(FFMPEG, path, str(source), width=w, height=h, subsample=3)
        for path, w, h in encoded
    ]
    together = await vmaf_many(FFMPEG, str(source), encoded, subsample=3, work=tmp_path)
    assert together == each
    assert each[0] < each[1]  # the rungs really differ, so a swapped pairing would show


async def test_windows_sample_the_title_and_stay_close_to_the_whole(
    rungs: tuple[Path, list[tuple[str, int, int]]], tmp_path: Path
) -> None:
    source, encoded = rungs
    whole = await vmaf_many(FFMPEG, str(source), encoded, subsample=1, work=tmp_path / "a")
    cfg = EncodeConfig(FFMPEG, vmaf_window_s=2.0, vmaf_whole_below_s=10.0)
    windows = cfg.vmaf_windows(16.0)
    assert [(round(a, 3), b) for a, b in windows] == [(1.667, 2.0), (7.0, 2.0), (12.333, 2.0)]
    sampled = await vmaf_many(
        FFMPEG, str(source), encoded, subsample=1, work=tmp_path / "b", windows=windows
    )
    assert sampled != whole  # a different set of frames ...
    for s, w in zip(sampled, whole, strict=True):
        assert abs(s - w) < 3.0  # ... telling the same story


def test_window_plan() -> None:
    cfg = EncodeConfig(FFMPEG)
    assert cfg.vmaf_windows(30.0) == []  # short titles: every frame
    plan = cfg.vmaf_windows(60.0)
    assert [(round(a, 3), b) for a, b in plan] == [
        (5.5, 4.0),
        (20.5, 4.0),
        (35.5, 4.0),
        (50.5, 4.0),
    ]
    assert len(cfg.vmaf_windows(7200.0)) == 20
    assert len(cfg.vmaf_windows(40.0)) == 3
