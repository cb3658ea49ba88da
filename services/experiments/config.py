"""Experiments settings, loaded from the environment once in `main()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from services.runtime.config import (
    RuntimeSettings,
    from_env,
    load_runtime_settings,
    setting,
)

__all__ = ["ExperimentsSettings", "load_settings"]


@dataclass(frozen=True)
class ExperimentsSettings:
    runtime: RuntimeSettings
    schema: str = setting("VOD_EXPERIMENTS_SCHEMA", "experiments")
    holdout_percent: int = setting("VOD_EXPERIMENTS_HOLDOUT_PERCENT", 5)
    """Share of every layer no experiment ever sees (the long-term holdout)."""
    refresh_s: float = setting("VOD_EXPERIMENTS_REFRESH_S", 2.0)
    """How often the in-memory experiments are checked against the database."""


def load_settings(env: Mapping[str, str] | None = None) -> ExperimentsSettings:
    """Reads the runtime variables (`VOD_EXPERIMENTS_GRPC_ADDRESS`, `VOD_DATABASE_URL`,
    `VOD_NATS_URL`, ...) and `VOD_EXPERIMENTS_SCHEMA`, `VOD_EXPERIMENTS_HOLDOUT_PERCENT`,
    `VOD_EXPERIMENTS_REFRESH_S`."""
    env = os.environ if env is None else env
    settings = from_env(ExperimentsSettings, env, runtime=load_runtime_settings("experiments", env))
    if not 0 <= settings.holdout_percent < 100:
        raise ValueError("VOD_EXPERIMENTS_HOLDOUT_PERCENT must be in 0-99")
    return settings
