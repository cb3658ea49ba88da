"""`vod config`: every setting with its source, secrets masked, nothing created."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mesh.config_cli import Setting, collect, mask

ROOT = Path(__file__).resolve().parents[2]


def _find(settings: list[Setting], component: str, name: str) -> Setting:
    matches = [s for s in settings if s.component == component and s.name == name]
    assert len(matches) == 1, (component, name, matches)
    return matches[0]


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {"VOD_HOME": str(home), "PATH": "/usr/bin:/bin", **extra}


def test_sources_default_environment_launcher_and_file(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "playback_secret").write_text("a-playback-secret-of-some-length\n")
    settings = collect(_env(tmp_path, VOD_GATEWAY_PORT="9999", VOD_GATEWAY_ROW_DEADLINE_S="0.2"))

    assert _find(settings, "vod up", "gateway_port") == Setting(
        "vod up", "gateway_port", "9999", "env VOD_GATEWAY_PORT"
    )
    assert _find(settings, "vod up", "admin_port") == Setting(
        "vod up", "admin_port", "9901", "default"
    )
    assert _find(settings, "gateway", "row_deadline_s") == Setting(
        "gateway", "row_deadline_s", "0.2", "env VOD_GATEWAY_ROW_DEADLINE_S"
    )
    # The launcher hands every service its neighbours' addresses and the database URL.
    assert _find(settings, "gateway", "catalog_address") == Setting(
        "gateway", "catalog_address", "127.0.0.1:50051", "vod up VOD_CATALOG_ADDRESS"
    )
    assert _find(settings, "catalog", "runtime.database_url") == Setting(
        "catalog",
        "runtime.database_url",
        "postgresql://127.0.0.1:5433/vod",
        "vod up VOD_DATABASE_URL",
    )
    # A secret from the data directory: its source is the file, its value never printed.
    playback = _find(settings, "playback", "playback_secret")
    assert playback.source == f"file {secrets / 'playback_secret'}"
    assert playback.value == "****** (32 chars)"
    # A secret not created yet is reported as such, and `vod config` does not create it.
    keys = _find(settings, "licensing", "master_keys.keys")
    assert keys.source.endswith("licensing_master_keys (generated on first vod up)")
    assert sorted(p.name for p in secrets.iterdir()) == ["playback_secret"]


def test_no_secret_text_is_ever_printed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = collect(
        _env(
            home,
            VOD_S3_SECRET_KEY="hunter2hunter2",
            VOD_DATABASE_URL="postgresql://vod:pw-in-url@db.internal:5432/vod",
        )
    )
    s3 = _find(settings, "transcoding", "s3.secret_key")
    assert s3 == Setting(
        "transcoding", "s3.secret_key", "****** (14 chars)", "env VOD_S3_SECRET_KEY"
    )
    url = _find(settings, "catalog", "runtime.database_url")
    assert url == Setting(
        "catalog",
        "runtime.database_url",
        "postgresql://vod:******@db.internal:5432/vod",
        "env VOD_DATABASE_URL",
    )
    text = json.dumps([s.value for s in settings])
    assert "hunter2" not in text
    assert "pw-in-url" not in text
    assert not home.exists()  # nothing created: no data directory, no secrets folder


def test_mask() -> None:
    assert mask("edge_secret", "abcdef") == "****** (6 chars)"
    assert mask("origin_url", "http://u:p@h/x") == "http://u:******@h/x"
    assert mask("origin_url", "http://h:8070/x") == "http://h:8070/x"
    assert mask("password", "") == ""


def test_the_cli_prints_one_component_as_json(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mesh.cli", "--home", str(tmp_path), "config", "search", "--json"],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'gen' / 'python'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert {r["component"] for r in rows} == {"search"}
    grpc = next(r for r in rows if r["name"] == "runtime.grpc_address")
    assert grpc == {
        "component": "search",
        "name": "runtime.grpc_address",
        "value": "127.0.0.1:50057",
        "source": "vod up VOD_SEARCH_GRPC_ADDRESS",
    }


def test_the_cli_names_the_components_when_one_is_unknown(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mesh.cli", "--home", str(tmp_path), "config", "catalgo"],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'gen' / 'python'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "no component 'catalgo'; known:" in run.stdout
    assert "catalog" in run.stdout.split("known:")[1]
