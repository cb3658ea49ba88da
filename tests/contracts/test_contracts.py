"""The contracts are the product's spine: lint-clean, generated code fresh, no breaking change
against the previous commit. Uses the buf CLI from the buf-bin wheel, offline."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def buf() -> str:
    candidate = Path(ROOT / ".venv" / "bin" / "buf")
    return str(candidate) if candidate.exists() else shutil.which("buf") or "buf"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([buf(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_buf_lint_passes() -> None:
    result = run("lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    result = run("generate", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    fresh, committed = tmp_path / "gen" / "python", ROOT / "gen" / "python"
    fresh_files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
    committed_files = {
        p.relative_to(committed)
        for p in committed.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert fresh_files == committed_files, "gen/python is stale: run scripts/gen and commit"
    stale = [
        str(p)
        for p in sorted(fresh_files)
        if not filecmp.cmp(fresh / p, committed / p, shallow=False)
    ]
    assert not stale, f"gen/python is stale ({stale[:5]}): run scripts/gen and commit"


def test_envoy_descriptor_set_is_fresh(tmp_path: Path) -> None:
    out = tmp_path / "vod.binpb"
    result = run("build", "--as-file-descriptor-set", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (ROOT / "gen" / "descriptor" / "vod.binpb").read_bytes(), (
        "gen/descriptor/vod.binpb is stale: run scripts/gen and commit"
    )


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("ref", ["HEAD", "HEAD~1"])
def test_no_breaking_change_against_previous_commits(ref: str) -> None:
    """The working tree against HEAD (uncommitted edits) and against HEAD~1 (the last commit)."""
    if _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        pytest.fail(f"{ref} is not in this clone; CI needs a full clone to check breaking changes")
    has_protos = _git("cat-file", "-e", f"{ref}:buf.yaml").returncode == 0
    if not has_protos:
        return  # nothing to break before the contracts existed
    result = run("breaking", "--against", f".git#ref={ref}")
    assert result.returncode == 0, result.stdout + result.stderr


def test_breaking_check_detects_a_removed_field(tmp_path: Path) -> None:
    """The check above can fail: a copy of the workspace with a field removed is reported."""
    for name in ("buf.yaml",):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "proto", tmp_path / "proto")
    shutil.copytree(ROOT / "third_party", tmp_path / "third_party")
    catalog = tmp_path / "proto" / "vod" / "catalog" / "v1" / "catalog.proto"
    text = catalog.read_text()
    assert "string synopsis = 6" in text
    catalog.write_text(
        text.replace("  string synopsis = 6 [(vod.common.v1.rules).max_len = 5000];\n", "")
    )
    result = run("breaking", "--against", str(ROOT), cwd=tmp_path)
    assert result.returncode != 0
    assert "synopsis" in result.stdout + result.stderr
