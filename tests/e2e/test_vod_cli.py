"""`vod up --detach`, `vod status`, `vod down` as a user runs them, data surviving a restart, and
the account commands (`vod accounts create-user`, `vod login`) through the gateway."""

from __future__ import annotations

import json
import os
import re
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
        "VOD_HTTP_BASE_PORT": str(free_port_block(5)),
        "VOD_EDGE_BASE_PORT": str(free_port_block(2)),
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
        # The demo users are printed with their passwords; the admin is signed in for `vod`.
        passwords = json.loads((home / "secrets" / "demo-users.json").read_text())
        for email, password in passwords.items():
            assert email in up.stdout and password in up.stdout
        assert (home / "credentials.json").stat().st_mode & 0o777 == 0o600
        admin = {"authorization": "Bearer " + _stored_token(home)}
        # Nothing without a token; demo content was seeded and is served over REST.
        assert httpx.get(f"{base}/v1/titles", timeout=10).status_code == 401
        demo = httpx.get(
            f"{base}/v1/titles", params={"pageSize": 100}, headers=admin, timeout=10
        ).json()
        assert sum(1 for t in demo["titles"] if t["externalId"].startswith("demo:")) >= 20
        created = httpx.post(
            f"{base}/v1/titles",
            json={"type": "TITLE_TYPE_MOVIE", "displayName": "Survivor"},
            headers=admin,
            timeout=10,
        ).json()["title"]
        _account_commands(home, env, base)
        second = vod(home, env, "up", "--detach")
        assert second.returncode != 0 and "already running" in second.stdout + second.stderr
        down = vod(home, env, "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert vod(home, env, "status").returncode == 3
        # Data stays under the home directory: the next `vod up` resumes with it.
        up_again = vod(home, env, "up", "--detach", "--no-demo")
        assert up_again.returncode == 0, up_again.stdout + up_again.stderr
        admin = {"authorization": "Bearer " + _stored_token(home)}
        again = httpx.get(f"{base}/v1/{created['name']}", headers=admin, timeout=10)
        assert again.status_code == 200 and again.json()["title"]["displayName"] == "Survivor"
    finally:
        vod(home, env, "down", timeout=90)
    leftovers = subprocess.run(
        ["pgrep", "-f", str(home)], capture_output=True, text=True
    ).stdout.split()
    assert leftovers == [], f"processes left running: {leftovers}"


def _stored_token(home: Path) -> str:
    return str(json.loads((home / "credentials.json").read_text())["access_token"])


def _account_commands(home: Path, env: dict[str, str], base: str) -> None:
    """Sign-up is public; creating an admin needs the admin signed in; `vod login` stores the
    new user's tokens, which the gateway then accepts."""
    target = base.removeprefix("http://")
    viewer_env = {**env, "VOD_PASSWORD": "correct horse battery"}
    made = vod(
        home,
        viewer_env,
        "accounts",
        "create-user",
        "zoe@example.com",
        "--plan",
        "basic",
        "--target",
        target,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    ops = vod(
        home,
        viewer_env,
        "accounts",
        "create-user",
        "ops@example.com",
        "--plan",
        "premium",
        "--admin",
        "--target",
        target,
    )
    assert ops.returncode == 0, ops.stdout + ops.stderr
    creds = home / "zoe-credentials.json"
    login = vod(
        home,
        {**viewer_env, "VOD_CREDENTIALS": str(creds)},
        "login",
        "zoe@example.com",
        "--target",
        target,
    )
    assert login.returncode == 0, login.stdout + login.stderr
    token = json.loads(creds.read_text())["access_token"]
    viewer = {"authorization": f"Bearer {token}"}
    assert httpx.get(f"{base}/v1/titles", headers=viewer, timeout=10).status_code == 200
    # A viewer cannot write the catalog (admin route), and a wrong password is refused.
    denied = httpx.post(
        f"{base}/v1/titles",
        json={"type": "TITLE_TYPE_MOVIE", "displayName": "Nope"},
        headers=viewer,
        timeout=10,
    )
    assert denied.status_code == 403
    wrong = vod(
        home,
        {**env, "VOD_PASSWORD": "not the password", "VOD_CREDENTIALS": str(home / "x.json")},
        "login",
        "zoe@example.com",
        "--target",
        target,
    )
    assert wrong.returncode != 0 and "correct horse" not in wrong.stdout + wrong.stderr
    _ingest_commands(home, env, target, creds, str(created_title(base, home)))


def created_title(base: str, home: Path) -> str:
    admin = {"authorization": "Bearer " + _stored_token(home)}
    made = httpx.post(
        f"{base}/v1/titles",
        json={"type": "TITLE_TYPE_MOVIE", "displayName": "Ingested From The CLI"},
        headers=admin,
        timeout=10,
    )
    assert made.status_code == 200, made.text
    return str(made.json()["title"]["name"])


def _ingest_commands(
    home: Path, env: dict[str, str], target: str, viewer_creds: Path, title: str
) -> None:
    """`vod ingest` through the gateway: the signed-in admin may upload and queue a job; a
    viewer is refused with a hint about signing in as someone allowed."""
    import imageio_ffmpeg

    clip = home / "clip.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
         "testsrc2=size=160x90:rate=10", "-t", "1", "-c:v", "libx264", str(clip)],
        check=True,
        timeout=60,
    )  # fmt: skip
    queued = vod(home, env, "ingest", str(clip), "--title", title, "--address", target)
    assert queued.returncode == 0, queued.stdout + queued.stderr
    assert queued.stdout.strip().splitlines()[-1].startswith("jobs/")
    # A display name where a title name belongs: --new-title creates the title, then ingests.
    created = vod(
        home, env, "ingest", str(clip), "--new-title", "Made By Ingest", "--address", target
    )
    assert created.returncode == 0, created.stdout + created.stderr
    made = re.search(
        r"created (titles/made-by-ingest[a-z0-9-]*) \('Made By Ingest'\)", created.stderr
    )
    assert made is not None, created.stderr
    admin = {"authorization": "Bearer " + _stored_token(home)}
    fetched = httpx.get(f"http://{target}/v1/{made[1]}", headers=admin, timeout=10)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["title"]["displayName"] == "Made By Ingest"
    refused = vod(
        home,
        {**env, "VOD_CREDENTIALS": str(viewer_creds)},
        "ingest",
        str(clip),
        "--title",
        title,
        "--address",
        target,
    )
    assert refused.returncode != 0
    assert "PERMISSION_DENIED" in refused.stdout + refused.stderr
    assert "vod login" in refused.stdout + refused.stderr
