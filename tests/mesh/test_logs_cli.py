"""`vod logs`: readable lines, merged by time, filtered, followed through rotation."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from mesh.logs_cli import format_line

ROOT = Path(__file__).resolve().parents[2]
ENV = {"PYTHONPATH": f"{ROOT}:{ROOT / 'gen' / 'python'}", "PATH": "/usr/bin:/bin"}


def _record(stamp: str, event: str, request_id: str = "", **extra: object) -> str:
    fields: dict[str, object] = {"event": event, "level": "info", "timestamp": stamp, **extra}
    if request_id:
        fields["request_id"] = request_id
    return json.dumps(fields)


def _home(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "catalog.log").write_text(
        _record("2026-11-29T10:00:01.000000Z", "rpc", "req-1", method="GetTitle", code="OK")
        + "\n"
        + _record("2026-11-29T10:00:03.000000Z", "rpc", "req-3", method="ListTitles", code="OK")
        + "\n"
    )
    (logs / "gateway.log").write_text(
        _record("2026-11-29T10:00:02.000000Z", "home.served", "req-2", rows=5) + "\n"
    )
    (logs / "postgres.log").write_text("LOG:  database system is ready\n")
    return tmp_path


def _vod(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mesh.cli", "--home", str(home), "logs", *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_format_line_puts_ids_last_and_keeps_plain_lines() -> None:
    line = _record("2026-11-29T10:00:01.123456Z", "rpc", "req-1", method="GetTitle", code="OK")
    assert format_line("catalog", line, 8) == (
        "10:00:01.123 catalog  INFO  rpc method=GetTitle code=OK request_id=req-1"
    )
    assert format_line("nats", "[1] Server is ready", 4) == "             nats [1] Server is ready"
    no_time = format_line("x", '{"event": "e", "text": "two words"}', 1)
    assert no_time == " " * 12 + " x " + " " * 5 + ' e text="two words"'


def test_all_components_merged_by_time(tmp_path: Path) -> None:
    run = _vod(_home(tmp_path))
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "             postgres LOG:  database system is ready",
        "10:00:01.000 catalog  INFO  rpc method=GetTitle code=OK request_id=req-1",
        "10:00:02.000 gateway  INFO  home.served rows=5 request_id=req-2",
        "10:00:03.000 catalog  INFO  rpc method=ListTitles code=OK request_id=req-3",
    ]


def test_one_component_grep_and_json(tmp_path: Path) -> None:
    home = _home(tmp_path)
    run = _vod(home, "catalog", "--grep", "req-3", "--json")
    assert run.returncode == 0, run.stderr
    assert [json.loads(line)["request_id"] for line in run.stdout.splitlines()] == ["req-3"]
    unknown = _vod(home, "catalgo")
    assert unknown.returncode == 2
    assert "no component 'catalgo'" in unknown.stdout
    assert "known: catalog, gateway, postgres" in unknown.stdout


def test_no_logs_says_what_to_do(tmp_path: Path) -> None:
    run = _vod(tmp_path)
    assert run.returncode == 1
    assert "start the mesh with `vod up` first" in run.stdout


def test_follow_prints_new_lines_and_survives_rotation(tmp_path: Path) -> None:
    home = _home(tmp_path)
    catalog = home / "logs" / "catalog.log"
    follower = subprocess.Popen(
        [sys.executable, "-m", "mesh.cli", "--home", str(home), "logs", "catalog", "-f", "-n", "0"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert follower.stdout is not None
    threading.Thread(target=lambda: [lines.put(x) for x in follower.stdout], daemon=True).start()

    def next_line(timeout: float = 20.0) -> str:
        return lines.get(timeout=timeout).rstrip("\n")

    def append_until_seen(path: Path, record: str, request_id: str) -> str:
        # The follower may not have opened the file yet when we first write: append again
        # until the line shows up (each attempt is a distinct line we can recognise).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with path.open("a") as out:
                out.write(record + "\n")
            try:
                line = next_line(timeout=1.0)
            except queue.Empty:
                continue
            if request_id in line:
                return line
        raise AssertionError(f"{request_id} never followed")

    try:
        first = append_until_seen(
            catalog, _record("2026-11-29T10:00:04.000000Z", "rpc", "req-4"), "req-4"
        )
        assert first == "10:00:04.000 catalog INFO  rpc request_id=req-4"
        catalog.rename(catalog.with_suffix(".log.1"))  # rotation: a new file with the same name
        catalog.write_text("")
        rotated = append_until_seen(
            catalog, _record("2026-11-29T10:00:05.000000Z", "rpc", "req-5"), "req-5"
        )
        assert rotated == "10:00:05.000 catalog INFO  rpc request_id=req-5"
    finally:
        follower.terminate()
        follower.wait(timeout=10)
