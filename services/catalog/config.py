"""Catalog settings, loaded from the environment once in `main()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from services.runtime.config import (
    RuntimeSettings,
    env_float,
    env_int,
    env_str,
    load_runtime_settings,
)

__all__ = ["CatalogSettings", "load_settings"]


@dataclass(frozen=True)
class CatalogSettings:
    runtime: RuntimeSettings
    schema: str = "catalog"
    cache_ttl_s: float = 60.0
    """`VOD_CATALOG_CACHE_TTL_S`: how long a title may be answered from memory at most (writes
    and events drop it sooner; see services/catalog/read_cache.py). 0 turns the cache off; it is
    off without NATS too."""
    cache_size: int = 50_000
    """`VOD_CATALOG_CACHE_SIZE`: titles kept at most (least recently read go first)."""


def load_settings(env: Mapping[str, str] | None = None) -> CatalogSettings:
    env = os.environ if env is None else env
    return CatalogSettings(
        runtime=load_runtime_settings("catalog", env),
        schema=env_str(env, "VOD_CATALOG_SCHEMA", CatalogSettings.schema),
        cache_ttl_s=env_float(env, "VOD_CATALOG_CACHE_TTL_S", CatalogSettings.cache_ttl_s),
        cache_size=env_int(env, "VOD_CATALOG_CACHE_SIZE", CatalogSettings.cache_size),
    )
