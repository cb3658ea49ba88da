"""Gateway (home feed) settings, loaded from the environment once in `main()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from services.runtime import ports
from services.runtime.config import (
    RuntimeSettings,
    from_env,
    load_runtime_settings,
    setting,
)

__all__ = ["BreakerSettings", "ExperimentsSettings", "HomeSettings", "load_settings"]


@dataclass(frozen=True)
class BreakerSettings:
    failure_threshold: int = setting("VOD_GATEWAY_BREAKER_FAILURES", 5)
    """Consecutive failures (errors or missed deadlines) that open a dependency's circuit."""
    reset_timeout_s: float = setting("VOD_GATEWAY_BREAKER_RESET_S", 5.0)
    """How long an open circuit stays open before one probe call is let through."""


@dataclass(frozen=True)
class ExperimentsSettings:
    address: str = setting("VOD_EXPERIMENTS_ADDRESS", "")
    """ExperimentsService; empty: no experiments, the home keeps its default order."""
    deadline_s: float = setting("VOD_GATEWAY_EXPERIMENTS_DEADLINE_S", 0.1)
    """Deadline of GetAssignments (made in parallel with the row calls, so it adds no latency
    while it is within the rows' deadline)."""
    cache_ttl_s: float = setting("VOD_GATEWAY_ASSIGNMENTS_TTL_S", 30.0)
    """How long a profile's assignments are reused before they are asked for again."""
    cache_size: int = setting("VOD_GATEWAY_ASSIGNMENTS_CACHE_SIZE", 100_000)
    """Most profiles whose assignments are kept."""
    exposure_deadline_s: float = setting("VOD_GATEWAY_EXPOSURE_DEADLINE_S", 2.0)
    """Deadline of RecordExposures, sent after the response (never delays it)."""
    layers: tuple[str, ...] = setting("VOD_GATEWAY_EXPERIMENT_LAYERS", ("home-rows", "artwork"))
    """Layers the home applies (and records exposures for); assignments on others are left to
    their surfaces."""

    @property
    def enabled(self) -> bool:
        return bool(self.address)


@dataclass(frozen=True)
class HomeSettings:
    runtime: RuntimeSettings
    playback_address: str = setting("VOD_PLAYBACK_ADDRESS", ports.grpc_address("playback"))
    recommendations_address: str = setting(
        "VOD_RECOMMENDATIONS_ADDRESS", ports.grpc_address("recommendations")
    )
    search_address: str = setting("VOD_SEARCH_ADDRESS", ports.grpc_address("search"))
    catalog_address: str = setting("VOD_CATALOG_ADDRESS", ports.grpc_address("catalog"))
    row_deadline_s: float = setting("VOD_GATEWAY_ROW_DEADLINE_S", 0.15)
    """Deadline of each row's source call (and of a fallback call)."""
    catalog_deadline_s: float = setting("VOD_GATEWAY_CATALOG_DEADLINE_S", 0.08)
    """Deadline of the BatchGetTitles call that fills in title data and artwork."""
    budget_s: float = setting("VOD_GATEWAY_BUDGET_S", 0.25)
    """The whole GetHome: row calls end early enough to leave `catalog_deadline_s` for the
    catalog, and no call outlives the budget."""
    default_region: str = setting("VOD_GATEWAY_DEFAULT_REGION", "US")
    """Region of internal calls that neither carry a platform region nor ask for one."""
    breaker: BreakerSettings = BreakerSettings()
    reconnect_backoff_max_s: float = setting("VOD_GATEWAY_RECONNECT_BACKOFF_MAX_S", 1.0)
    """Upper bound of gRPC's reconnect backoff, so a dependency that comes back is reached by
    the breaker's next probe rather than minutes later."""
    experiments: ExperimentsSettings = ExperimentsSettings()
    title_cache_ttl_s: float = setting("VOD_GATEWAY_TITLE_CACHE_TTL_S", 60.0)
    """How long a cached catalog title is used (the catalog's events drop it at once when it
    changes; this bounds staleness if one is missed). 0 turns the cache off; it is also off
    without NATS (no events)."""
    title_cache_size: int = setting("VOD_GATEWAY_TITLE_CACHE_SIZE", 50_000)
    shared_rows_ttl_s: float = setting("VOD_GATEWAY_SHARED_ROWS_TTL_S", 5.0)
    """How long trending and new releases (the same for every viewer of a region) are kept and
    shared between requests; concurrent requests share one call. 0 = every home asks search."""


def load_settings(env: Mapping[str, str] | None = None) -> HomeSettings:
    """`VOD_GATEWAY_GRPC_ADDRESS`, `VOD_GATEWAY_METRICS_ADDRESS`
    (defaults in `services.runtime.ports`), `VOD_PLAYBACK_ADDRESS`, `VOD_RECOMMENDATIONS_ADDRESS`,
    `VOD_SEARCH_ADDRESS`, `VOD_CATALOG_ADDRESS`, `VOD_GATEWAY_ROW_DEADLINE_S` (0.15),
    `VOD_GATEWAY_CATALOG_DEADLINE_S` (0.08), `VOD_GATEWAY_BUDGET_S` (0.25),
    `VOD_GATEWAY_DEFAULT_REGION` (US), `VOD_GATEWAY_BREAKER_FAILURES` (5),
    `VOD_GATEWAY_BREAKER_RESET_S` (5.0), `VOD_GATEWAY_RECONNECT_BACKOFF_MAX_S` (1.0);
    experiments: `VOD_EXPERIMENTS_ADDRESS` (unset: no experiments),
    `VOD_GATEWAY_EXPERIMENTS_DEADLINE_S` (0.1), `VOD_GATEWAY_ASSIGNMENTS_TTL_S` (30),
    `VOD_GATEWAY_ASSIGNMENTS_CACHE_SIZE` (100000), `VOD_GATEWAY_EXPOSURE_DEADLINE_S` (2.0),
    `VOD_GATEWAY_EXPERIMENT_LAYERS` (home-rows,artwork); the title cache (with `VOD_NATS_URL`
    only): `VOD_GATEWAY_TITLE_CACHE_TTL_S` (60, 0 = off), `VOD_GATEWAY_TITLE_CACHE_SIZE`
    (50000)."""
    env = os.environ if env is None else env
    settings = from_env(HomeSettings, env, runtime=load_runtime_settings("gateway", env))
    settings = replace(settings, default_region=settings.default_region.upper())
    if not 0 < settings.row_deadline_s <= settings.budget_s:
        raise ValueError("VOD_GATEWAY_ROW_DEADLINE_S must be positive and within the budget")
    if not 0 < settings.catalog_deadline_s < settings.budget_s:
        raise ValueError("VOD_GATEWAY_CATALOG_DEADLINE_S must be positive and below the budget")
    if settings.breaker.failure_threshold < 1:
        raise ValueError("VOD_GATEWAY_BREAKER_FAILURES must be at least 1")
    if settings.experiments.deadline_s <= 0 or settings.experiments.exposure_deadline_s <= 0:
        raise ValueError("the experiments deadlines must be positive")
    if settings.experiments.cache_ttl_s < 0 or settings.experiments.cache_size < 1:
        raise ValueError(
            "VOD_GATEWAY_ASSIGNMENTS_TTL_S must be >= 0 and VOD_GATEWAY_ASSIGNMENTS_CACHE_SIZE >= 1"
        )
    if settings.title_cache_ttl_s < 0 or settings.title_cache_size < 1:
        raise ValueError(
            "VOD_GATEWAY_TITLE_CACHE_TTL_S must be >= 0 and VOD_GATEWAY_TITLE_CACHE_SIZE >= 1"
        )
    return settings
