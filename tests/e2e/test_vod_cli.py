"""`vod up --detach`, `vod status`, `vod down` as a user runs them, and data surviving a restart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from mesh.embedded import free_port, free_port_block
from tests.conftest import scratch_dir

ROOT = Path(__file__).resolve().parents[2]


def vod(
    home: Path, env: dict[str, str], *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mesh.cli", "--home", str(home), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_up_status_down_and_resume() -> None:
    with scratch_dir("vodtest-cli-") as root:
        _up_status_down_and_resume(root / "var")


def _up_status_down_and_resume(home: Path) -> None:
    gateway = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "gen" / "python")]),
        "VOD_GATEWAY_PORT": str(gateway),
        "VOD_ADMIN_PORT": str(free_port()),
        "VOD_SERVICE_BASE_PORT": str(free_port_block(10)),
        "VOD_METRICS_BASE_PORT": str(free_port_block(10)),
        "VOD_HTTP_BASE_PORT": str(free_port_block(4)),
        "VOD_POSTGRES_PORT": str(free_port()),
        "VOD_NATS_PORT": str(free_port()),
        "VOD_NATS_MONITOR_PORT": str(free_port()),
        "COLUMNS": "200",
    }
    env.pop("VOD_DATABASE_URL", None)
    env.pop("VOD_NATS_URL", None)
    base = f"http://127.0.0.1:{gateway}"
    try:
        up = vod(home, env, "up", "--detach")
        assert up.returncode == 0, up.stdout + up.stderr
        assert base in up.stdout and "catalog" in up.stdout
        status = vod(home, env, "status")
        assert status.returncode == 0, status.stdout
        assert "SERVING" in status.stdout
        # Demo content was seeded and is served over REST.
        demo = httpx.get(f"{base}/v1/titles", params={"pageSize": 100}, timeout=10).json()
        assert sum(1 for t in demo["titles"] if t["externalId"].startswith("demo:")) >= 20
        created = httpx.post(
            f"{base}/v1/titles",
            json={"type": "TITLE_TYPE_MOVIE", "displayName": "Survivor"},
            timeout=10,
        ).json()["title"]
        second = vod(home, env, "up", "--detach")
        assert second.returncode != 0 and "already running" in second.stdout + second.stderr
        down = vod(home, env, "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert vod(home, env, "status").returncode == 3
        # Data stays under the home directory: the next `vod up` resumes with it.
        up_again = vod(home, env, "up", "--detach", "--no-demo")
        assert up_again.returncode == 0, up_again.stdout + up_again.stderr
        again = httpx.get(f"{base}/v1/{created['name']}", timeout=10)
        assert again.status_code == 200 and again.json()["title"]["displayName"] == "Survivor"
    finally:
        vod(home, env, "down", timeout=90)
    leftovers = subprocess.run(
        ["pgrep", "-f", str(home)], capture_output=True, text=True
    ).stdout.split()
    assert leftovers == [], f"processes left running: {leftovers}"
