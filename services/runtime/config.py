"""Settings from the environment, one frozen object per service.

Only `load_*` functions here read `os.environ`; everything else receives settings objects.
Every address, URL and secret comes from here; tests pass their own (free ports).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from services.runtime import ports

__all__ = [
    "MIN_PAGE_TOKEN_SECRET_CHARS",
    "RuntimeSettings",
    "env_float",
    "env_int",
    "env_str",
    "load_page_token_secret",
    "load_runtime_settings",
]

MIN_PAGE_TOKEN_SECRET_CHARS = 32
"""Shortest accepted `VOD_PAGE_TOKEN_SECRET` (the launcher generates 43 URL-safe characters)."""


def env_str(env: Mapping[str, str], key: str, default: str) -> str:
    value = env.get(key, "").strip()
    return value or default


def env_int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{key} must be an integer, got {raw!r}") from exc


def env_float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{key} must be a number, got {raw!r}") from exc


@dataclass(frozen=True)
class RuntimeSettings:
    """What every service process needs, whatever its domain."""

    service: str
    grpc_address: str = ports.grpc_address("catalog")
    metrics_address: str = ports.metrics_address("catalog")
    database_url: str = ""
    nats_url: str = ""
    log_level: str = "INFO"
    drain_grace_s: float = 5.0
    outbound_timeout_s: float = 5.0
    outbox_retention_s: float = 3600.0
    """How long published outbox rows are kept before the relay prunes them."""

    @property
    def metrics_host_port(self) -> tuple[str, int]:
        host, _, port = self.metrics_address.rpartition(":")
        return host or "127.0.0.1", int(port)


def load_runtime_settings(service: str, env: Mapping[str, str] | None = None) -> RuntimeSettings:
    """Read `VOD_<SERVICE>_GRPC_ADDRESS`, `VOD_<SERVICE>_METRICS_ADDRESS` (defaults from
    `services.runtime.ports`, the one port table), `VOD_DATABASE_URL`,
    `VOD_NATS_URL`, `VOD_LOG_LEVEL`, `VOD_DRAIN_GRACE_S`, `VOD_OUTBOUND_TIMEOUT_S`,
    `VOD_OUTBOX_RETENTION_S`."""
    env = os.environ if env is None else env
    key = service.upper()
    return RuntimeSettings(
        service=service,
        grpc_address=env_str(env, f"VOD_{key}_GRPC_ADDRESS", ports.grpc_address(service)),
        metrics_address=env_str(env, f"VOD_{key}_METRICS_ADDRESS", ports.metrics_address(service)),
        database_url=env_str(env, "VOD_DATABASE_URL", ""),
        nats_url=env_str(env, "VOD_NATS_URL", ""),
        log_level=env_str(env, "VOD_LOG_LEVEL", "INFO"),
        drain_grace_s=env_float(env, "VOD_DRAIN_GRACE_S", 5.0),
        outbound_timeout_s=env_float(env, "VOD_OUTBOUND_TIMEOUT_S", 5.0),
        outbox_retention_s=env_float(env, "VOD_OUTBOX_RETENTION_S", 3600.0),
    )


def load_page_token_secret(env: Mapping[str, str] | None = None) -> bytes | None:
    """`VOD_PAGE_TOKEN_SECRET`: the per-deployment HMAC key of page tokens (the same value in
    every service and replica, so a token survives restarts and load balancing), or None when
    unset (development: `services.runtime.page_tokens` then draws a per-process key). A value
    shorter than `MIN_PAGE_TOKEN_SECRET_CHARS` is refused rather than used."""
    env = os.environ if env is None else env
    raw = env.get("VOD_PAGE_TOKEN_SECRET", "").strip()
    if not raw:
        return None
    if len(raw) < MIN_PAGE_TOKEN_SECRET_CHARS:
        raise ValueError(
            f"VOD_PAGE_TOKEN_SECRET must be at least {MIN_PAGE_TOKEN_SECRET_CHARS} characters "
            f"(got {len(raw)}); generate one with `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`"
        )
    return raw.encode()
