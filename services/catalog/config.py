"""Catalog settings, loaded from the environment once in `main()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from services.runtime.config import RuntimeSettings, env_str, load_runtime_settings

__all__ = ["CatalogSettings", "load_settings"]


@dataclass(frozen=True)
class CatalogSettings:
    runtime: RuntimeSettings
    schema: str = "catalog"


def load_settings(env: Mapping[str, str] | None = None) -> CatalogSettings:
    env = os.environ if env is None else env
    return CatalogSettings(
        runtime=load_runtime_settings("catalog", env),
        schema=env_str(env, "VOD_CATALOG_SCHEMA", CatalogSettings.schema),
    )
