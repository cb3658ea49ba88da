"""Recommendations settings, loaded from the environment once in `main()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.recommendations.model import TrainParams
from services.runtime.config import (
    RuntimeSettings,
    env_float,
    env_int,
    env_str,
    load_runtime_settings,
)

__all__ = ["RecsSettings", "load_settings"]


@dataclass(frozen=True)
class RecsSettings:
    runtime: RuntimeSettings
    schema: str = "recommendations"
    train_interval_s: float = 3600.0  # retrain at least this often
    train_after_events: int = 5000  # ... and after this many new events
    train_min_interactions: int = 10
    train_on_start: bool = True  # train at start-up when there is no stored model
    model_poll_s: float = 5.0  # how often to look for models trained elsewhere
    realtime_window_s: float = 900.0  # "recent events" for real-time re-ranking
    rate_per_s: float = 2.0  # sustained events per profile that count for training
    rate_burst: int = 60
    train: TrainParams = field(default_factory=TrainParams)


def load_settings(env: Mapping[str, str] | None = None) -> RecsSettings:
    """`VOD_RECOMMENDATIONS_*` plus the shared runtime variables."""
    env = os.environ if env is None else env
    return RecsSettings(
        runtime=load_runtime_settings("recommendations", env),
        schema=env_str(env, "VOD_RECOMMENDATIONS_SCHEMA", RecsSettings.schema),
        train_interval_s=env_float(env, "VOD_RECS_TRAIN_INTERVAL_S", RecsSettings.train_interval_s),
        train_after_events=env_int(
            env, "VOD_RECS_TRAIN_AFTER_EVENTS", RecsSettings.train_after_events
        ),
        train_min_interactions=env_int(
            env, "VOD_RECS_TRAIN_MIN_INTERACTIONS", RecsSettings.train_min_interactions
        ),
        train_on_start=env_str(env, "VOD_RECS_TRAIN_ON_START", "1") not in ("0", "false", "no"),
        model_poll_s=env_float(env, "VOD_RECS_MODEL_POLL_S", RecsSettings.model_poll_s),
        realtime_window_s=env_float(
            env, "VOD_RECS_REALTIME_WINDOW_S", RecsSettings.realtime_window_s
        ),
        rate_per_s=env_float(env, "VOD_RECS_RATE_PER_S", RecsSettings.rate_per_s),
        rate_burst=env_int(env, "VOD_RECS_RATE_BURST", RecsSettings.rate_burst),
        train=TrainParams(
            components=env_int(env, "VOD_RECS_COMPONENTS", 32),
            epochs=env_int(env, "VOD_RECS_EPOCHS", 20),
            threads=env_int(env, "VOD_RECS_TRAIN_THREADS", 1),
        ),
    )
