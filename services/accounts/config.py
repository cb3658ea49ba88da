"""Accounts settings, loaded from the environment once in `main()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from services.runtime import ports
from services.runtime.config import (
    RuntimeSettings,
    from_env,
    load_runtime_settings,
    setting,
)

__all__ = ["AccountsSettings", "load_settings"]


@dataclass(frozen=True)
class AccountsSettings:
    runtime: RuntimeSettings
    schema: str = setting("VOD_ACCOUNTS_SCHEMA", "accounts")
    http_address: str = setting("VOD_ACCOUNTS_HTTP_ADDRESS", ports.http_address("jwks"))
    """Plain HTTP listener serving `/.well-known/jwks.json` (Envoy's jwt_authn fetches it)."""
    access_token_ttl_s: int = setting("VOD_ACCESS_TOKEN_TTL_S", 900)
    refresh_token_ttl_s: int = setting("VOD_REFRESH_TOKEN_TTL_S", 30 * 86400)
    signing_key_max_age_s: int = setting("VOD_SIGNING_KEY_MAX_AGE_S", 86400)
    """A signing key older than this is replaced by a new one."""
    signing_key_publish_delay_s: int = setting("VOD_SIGNING_KEY_PUBLISH_DELAY_S", 120)
    """A new key is published in the JWKS this long before it signs anything, so verifiers that
    cache the JWKS (Envoy keeps it 60 s) know it before the first token signed with it arrives."""
    key_check_interval_s: float = setting("VOD_SIGNING_KEY_CHECK_INTERVAL_S", 60.0)
    """How often the background task reloads the keys and rotates them when due."""
    login_max_failures: int = setting("VOD_LOGIN_MAX_FAILURES", 5)
    login_failure_window_s: int = setting("VOD_LOGIN_FAILURE_WINDOW_S", 300)

    @property
    def http_host_port(self) -> tuple[str, int]:
        host, _, port = self.http_address.rpartition(":")
        return host or "127.0.0.1", int(port)


def load_settings(env: Mapping[str, str] | None = None) -> AccountsSettings:
    """Reads the runtime variables (`VOD_ACCOUNTS_GRPC_ADDRESS`, `VOD_DATABASE_URL`, ...) and
    `VOD_ACCOUNTS_SCHEMA`, `VOD_ACCOUNTS_HTTP_ADDRESS`, `VOD_ACCESS_TOKEN_TTL_S`,
    `VOD_REFRESH_TOKEN_TTL_S`, `VOD_SIGNING_KEY_MAX_AGE_S`, `VOD_SIGNING_KEY_PUBLISH_DELAY_S`,
    `VOD_SIGNING_KEY_CHECK_INTERVAL_S`, `VOD_LOGIN_MAX_FAILURES`, `VOD_LOGIN_FAILURE_WINDOW_S`."""
    env = os.environ if env is None else env
    settings = from_env(AccountsSettings, env, runtime=load_runtime_settings("accounts", env))
    for name in ("access_token_ttl_s", "refresh_token_ttl_s", "signing_key_max_age_s"):
        if getattr(settings, name) <= 0:
            raise ValueError(f"{name} must be positive")
    return settings
