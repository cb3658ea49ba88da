"""Every `vod` command answers `--help` with an example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mesh.cli import build_parser
from mesh.cli_examples import EXAMPLES, leaf_commands

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = sorted(leaf_commands(build_parser()))


def test_the_table_names_only_real_commands() -> None:
    assert sorted(set(EXAMPLES) - set(COMMANDS)) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_an_example(command: str) -> None:
    text = leaf_commands(build_parser())[command].format_help()
    assert text.startswith(f"usage: vod {command}"), text
    assert "example" in text.lower(), text
    # The example is a command line of this very command.
    assert f"vod {command.split()[0]}" in text.split("xample", 1)[1], text


def test_help_through_the_real_entry_point() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mesh.cli", "recs", "train", "--help"],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'gen' / 'python'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "examples:\n  vod recs train" in run.stdout, run.stdout
