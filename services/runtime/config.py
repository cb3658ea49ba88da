"""Settings from the environment, one frozen object per service.

Only `load_*` functions here read `os.environ`; everything else receives settings objects.
Every address, URL and secret comes from here; tests pass their own (free ports).
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from services.runtime import ports

__all__ = [
    "from_env",
    "setting",
    "MIN_PAGE_TOKEN_SECRET_CHARS",
    "RuntimeSettings",
    "env_bool",
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
    processes: int = 1
    """Server processes sharing the gRPC port (`services.runtime.processes`); 1 = this one."""

    @property
    def metrics_host_port(self) -> tuple[str, int]:
        host, _, port = self.metrics_address.rpartition(":")
        return host or "127.0.0.1", int(port)


def load_runtime_settings(service: str, env: Mapping[str, str] | None = None) -> RuntimeSettings:
    """Read `VOD_<SERVICE>_GRPC_ADDRESS`, `VOD_<SERVICE>_METRICS_ADDRESS` (defaults from
    `services.runtime.ports`, the one port table), `VOD_DATABASE_URL`,
    `VOD_NATS_URL`, `VOD_LOG_LEVEL`, `VOD_DRAIN_GRACE_S`, `VOD_OUTBOUND_TIMEOUT_S`,
    `VOD_OUTBOX_RETENTION_S`, `VOD_<SERVICE>_PROCESSES` (1..64)."""
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
        processes=_processes(env, f"VOD_{key}_PROCESSES"),
    )


def _processes(env: Mapping[str, str], key: str) -> int:
    value = env_int(env, key, 1)
    if not 1 <= value <= 64:
        raise ValueError(f"{key} must be between 1 and 64 (one per core is the usual), got {value}")
    return value


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


S = TypeVar("S")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def setting(variable: str, default: Any, *, secret: bool = False) -> Any:
    """A settings field read from the environment variable `variable` by `from_env`, with its
    default written here, once. `secret` keeps the value out of the object's repr."""
    return dataclasses.field(default=default, metadata={"env": variable}, repr=not secret)


def env_bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{key} must be one of 1/true/yes/on or 0/false/no/off, got {raw!r}")


def _read(env: Mapping[str, str], variable: str, kind: Any, default: Any) -> Any:
    if kind is str:
        return env_str(env, variable, default)
    if kind is bool:
        return env_bool(env, variable, default)
    if kind is int:
        return env_int(env, variable, default)
    if kind is float:
        return env_float(env, variable, default)
    if kind is Path:
        raw = env.get(variable, "").strip()
        return Path(raw) if raw else default
    if typing.get_origin(kind) is tuple:
        raw = env.get(variable, "")
        items = tuple(part.strip() for part in raw.split(",") if part.strip())
        return items or default
    raise TypeError(f"no reader for {variable} of type {kind!r}")


def from_env(cls: type[S], env: Mapping[str, str], **given: Any) -> S:
    """An instance of the settings dataclass `cls`: each field declared with `setting(...)` read
    from its variable (by the field's type: str, int, float, bool, Path, tuple[str, ...]; empty =
    the default), each field whose type is a settings dataclass built the same way, `given`
    fields taken as they are, and the rest left at their defaults."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name in given:
            values[field.name] = given[field.name]
        elif "env" in field.metadata:
            values[field.name] = _read(env, field.metadata["env"], hints[field.name], field.default)
        elif dataclasses.is_dataclass(hints.get(field.name)) and _declares_env(hints[field.name]):
            values[field.name] = from_env(hints[field.name], env)
    unknown = set(given) - set(values)
    if unknown:
        raise TypeError(f"{cls.__name__} has no fields {sorted(unknown)}")
    return cls(**values)


def _declares_env(cls: Any) -> bool:
    return any("env" in f.metadata for f in dataclasses.fields(cls))
