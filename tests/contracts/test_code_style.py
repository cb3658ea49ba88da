"""The house style is checked, not hoped for: ruff lint (E, F, I, B, PIE, UP), ruff format and
mypy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUFF = [sys.executable, "-m", "ruff"]


def test_ruff_lint_is_clean() -> None:
    result = subprocess.run([*RUFF, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]


def test_ruff_format_is_applied() -> None:
    result = subprocess.run(
        [*RUFF, "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, "run `.venv/bin/ruff format .`:\n" + result.stdout[-4000:]


def test_mypy_finds_no_type_errors() -> None:
    """The types are checked too (pyproject.toml's [tool.mypy]) over the services, the mesh
    tooling and the gateway: a method named `list` shadowing the built-in in an annotation, a
    protocol an engine no longer satisfies, a keyword passed by `**dict` to the wrong parameter
    all fail here."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "services", "mesh", "gateway"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout
