"""Accounts settings, loaded from the environment once in `main()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from services.runtime import ports
from services.runtime.config import (
    RuntimeSettings,
    env_float,
    env_int,
    env_str,
    load_runtime_settings,
)

__all__ = ["AccountsSettings", "load_settings"]


@dataclass(frozen=True)
class AccountsSettings:
    runtime: RuntimeSettings
    schema: str = "accounts"
    http_address: str = ports.http_address("jwks")
    """Plain HTTP listener serving `/.well-known/jwks.json` (Envoy's jwt_authn fetches it)."""
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 86400
    signing_key_max_age_s: int = 86400
    """A signing key older than this is replaced by a new one."""
    signing_key_publish_delay_s: int = 120
    """A new key is published in the JWKS this long before it signs anything, so verifiers that
    cache the JWKS (Envoy keeps it 60 s) know it before the first token signed with it arrives."""
    key_check_interval_s: float = 60.0
    """How often the background task reloads the keys and rotates them when due."""
    login_max_failures: int = 5
    login_failure_window_s: int = 300

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
    settings = AccountsSettings(
        runtime=load_runtime_settings("accounts", env),
        schema=env_str(env, "VOD_ACCOUNTS_SCHEMA", AccountsSettings.schema),
        http_address=env_str(env, "VOD_ACCOUNTS_HTTP_ADDRESS", AccountsSettings.http_address),
        access_token_ttl_s=env_int(
            env, "VOD_ACCESS_TOKEN_TTL_S", AccountsSettings.access_token_ttl_s
        ),
        refresh_token_ttl_s=env_int(
            env, "VOD_REFRESH_TOKEN_TTL_S", AccountsSettings.refresh_token_ttl_s
        ),
        signing_key_max_age_s=env_int(
            env, "VOD_SIGNING_KEY_MAX_AGE_S", AccountsSettings.signing_key_max_age_s
        ),
        signing_key_publish_delay_s=env_int(
            env, "VOD_SIGNING_KEY_PUBLISH_DELAY_S", AccountsSettings.signing_key_publish_delay_s
        ),
        key_check_interval_s=env_float(
            env, "VOD_SIGNING_KEY_CHECK_INTERVAL_S", AccountsSettings.key_check_interval_s
        ),
        login_max_failures=env_int(
            env, "VOD_LOGIN_MAX_FAILURES", AccountsSettings.login_max_failures
        ),
        login_failure_window_s=env_int(
            env, "VOD_LOGIN_FAILURE_WINDOW_S", AccountsSettings.login_failure_window_s
        ),
    )
    for name in ("access_token_ttl_s", "refresh_token_ttl_s", "signing_key_max_age_s"):
        if getattr(settings, name) <= 0:
            raise ValueError(f"{name} must be positive")
    return settings
