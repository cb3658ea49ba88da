"""Licensing settings, loaded from the environment once in `main()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.licensing.envelope import MasterKeyRing, parse_master_keys
from services.runtime import ports
from services.runtime.config import (
    RuntimeSettings,
    env_str,
    from_env,
    load_runtime_settings,
    setting,
)

__all__ = ["LicensingSettings", "load_settings"]


@dataclass(frozen=True)
class LicensingSettings:
    runtime: RuntimeSettings
    master_keys: MasterKeyRing = field(repr=False)
    """`VOD_LICENSING_MASTER_KEYS`: `id:base64url-32-bytes`, comma-separated, first = current."""
    playback_secret: bytes = field(repr=False)
    """`VOD_PLAYBACK_SECRET`: verifies session tokens (shared with playback)."""
    packager_secret: bytes = field(repr=False)
    """`VOD_PACKAGER_SECRET`: the `x-vod-packager` metadata the internal key RPCs require."""
    schema: str = setting("VOD_LICENSING_SCHEMA", "licensing")
    playback_address: str = setting("VOD_PLAYBACK_ADDRESS", ports.grpc_address("playback"))
    catalog_address: str = setting("VOD_CATALOG_ADDRESS", ports.grpc_address("catalog"))
    accounts_address: str = setting("VOD_ACCOUNTS_ADDRESS", ports.grpc_address("accounts"))
    max_licenses_per_session: int = setting("VOD_LICENSING_MAX_LICENSES_PER_SESSION", 32)
    cache_ttl_s: float = setting("VOD_LICENSING_CACHE_TTL_S", 5.0)
    """How long availability and device answers are reused (never past the session's expiry;
    the session itself is asked every time)."""


def load_settings(env: Mapping[str, str] | None = None) -> LicensingSettings:
    env = os.environ if env is None else env
    master = env_str(env, "VOD_LICENSING_MASTER_KEYS", "")
    playback_secret = env_str(env, "VOD_PLAYBACK_SECRET", "")
    packager_secret = env_str(env, "VOD_PACKAGER_SECRET", "")
    if not master or not playback_secret or not packager_secret:
        raise SystemExit(
            "VOD_LICENSING_MASTER_KEYS, VOD_PLAYBACK_SECRET and VOD_PACKAGER_SECRET must be set "
            "(the launcher generates them)"
        )
    try:
        ring = parse_master_keys(master)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    return from_env(
        LicensingSettings,
        env,
        runtime=load_runtime_settings("licensing", env),
        master_keys=ring,
        playback_secret=playback_secret.encode(),
        packager_secret=packager_secret.encode(),
    )
