"""Catalog settings, loaded from the environment once in `main()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from services.runtime.config import RuntimeSettings, from_env, load_runtime_settings, setting

__all__ = ["CatalogSettings", "load_settings"]


@dataclass(frozen=True)
class CatalogSettings:
    runtime: RuntimeSettings
    schema: str = setting("VOD_CATALOG_SCHEMA", "catalog")
    cache_ttl_s: float = setting("VOD_CATALOG_CACHE_TTL_S", 60.0)
    """How long a title may be answered from memory at most (writes and events drop it sooner;
    see services/catalog/read_cache.py). 0 turns the cache off; it is off without NATS too."""
    cache_size: int = setting("VOD_CATALOG_CACHE_SIZE", 50_000)
    """Titles kept at most (least recently read go first)."""


def load_settings(env: Mapping[str, str] | None = None) -> CatalogSettings:
    env = os.environ if env is None else env
    return from_env(CatalogSettings, env, runtime=load_runtime_settings("catalog", env))
