"""Recommendations settings, loaded from the environment once in `main()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.recommendations.model import TrainParams
from services.runtime.config import (
    RuntimeSettings,
    env_int,
    from_env,
    load_runtime_settings,
    setting,
)

__all__ = ["RecsSettings", "load_settings"]


@dataclass(frozen=True)
class RecsSettings:
    runtime: RuntimeSettings
    schema: str = setting("VOD_RECOMMENDATIONS_SCHEMA", "recommendations")
    train_interval_s: float = setting("VOD_RECS_TRAIN_INTERVAL_S", 3600.0)
    """Retrain at least this often..."""
    train_after_events: int = setting("VOD_RECS_TRAIN_AFTER_EVENTS", 5000)
    """... and after this many new events."""
    train_min_interactions: int = setting("VOD_RECS_TRAIN_MIN_INTERACTIONS", 10)
    train_on_start: bool = setting("VOD_RECS_TRAIN_ON_START", True)
    """Train at start-up when there is no stored model."""
    model_poll_s: float = setting("VOD_RECS_MODEL_POLL_S", 5.0)
    """How often to look for models trained elsewhere."""
    realtime_window_s: float = setting("VOD_RECS_REALTIME_WINDOW_S", 900.0)
    """"Recent events" for real-time re-ranking."""
    rate_per_s: float = setting("VOD_RECS_RATE_PER_S", 2.0)
    """Sustained events per profile that count for training."""
    rate_burst: int = setting("VOD_RECS_RATE_BURST", 60)
    train: TrainParams = field(default_factory=TrainParams)


def load_settings(env: Mapping[str, str] | None = None) -> RecsSettings:
    """`VOD_RECOMMENDATIONS_*` plus the shared runtime variables."""
    env = os.environ if env is None else env
    return from_env(
        RecsSettings,
        env,
        runtime=load_runtime_settings("recommendations", env),
        train=TrainParams(
            components=env_int(env, "VOD_RECS_COMPONENTS", TrainParams.components),
            epochs=env_int(env, "VOD_RECS_EPOCHS", TrainParams.epochs),
            threads=env_int(env, "VOD_RECS_TRAIN_THREADS", TrainParams.threads),
        ),
    )
