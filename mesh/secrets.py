"""Per-deployment secrets of the local mesh, generated on the first `vod up` into
`<VOD_HOME>/secrets/` (directory 0700, files 0600) and reused afterwards, so tokens and signed
URLs stay valid across restarts. Nothing here is ever logged."""

from __future__ import annotations

import json
import os
import secrets as _random
from pathlib import Path

__all__ = ["load_or_create_json", "load_or_create_secret", "secrets_dir"]


def secrets_dir(home: Path) -> Path:
    """`<home>/secrets`, created owner-only (0700)."""
    folder = home / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    tmp.replace(path)


def load_or_create_secret(home: Path, name: str, nbytes: int = 32) -> str:
    """The secret called `name` (URL-safe text of `nbytes` random bytes), created if missing."""
    path = secrets_dir(home) / name
    if path.is_file():
        value = path.read_text().strip()
        if value:
            return value
    value = _random.token_urlsafe(nbytes)
    _write_private(path, value + "\n")
    return value


def load_or_create_json(home: Path, name: str, make: dict[str, str]) -> dict[str, str]:
    """A small JSON document of secrets (e.g. demo passwords), created from `make` if missing."""
    path = secrets_dir(home) / f"{name}.json"
    if path.is_file():
        try:
            value = json.loads(path.read_text())
            if isinstance(value, dict):
                return {str(k): str(v) for k, v in value.items()}
        except json.JSONDecodeError:
            pass
    _write_private(path, json.dumps(make, indent=2) + "\n")
    return dict(make)
