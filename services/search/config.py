"""Search settings, loaded from the environment once in `main()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.runtime import ports
from services.runtime.config import (
    RuntimeSettings,
    env_float,
    env_str,
    load_runtime_settings,
)

__all__ = ["MeiliSettings", "SearchSettings", "load_settings"]


def _list(raw: str, default: tuple[str, ...]) -> tuple[str, ...]:
    items = tuple(part.strip() for part in raw.split(",") if part.strip())
    return items or default


@dataclass(frozen=True)
class MeiliSettings:
    """Meilisearch (used when `url` is set). Attribute names are the engine's document fields."""

    url: str = ""
    api_key: str = ""
    index: str = "titles"
    searchable: tuple[str, ...] = ("title", "cast", "directors", "genres", "synopsis")
    filterable: tuple[str, ...] = (
        "id",
        "type",
        "genre_key",
        "release_year",
        "rating",
        "person_key",
        "country_key",
        "region",
        "next_change",
    )
    sortable: tuple[str, ...] = ("popularity", "release_sort", "available_since")
    ranking_rules: tuple[str, ...] = (
        "words",
        "typo",
        "proximity",
        "attribute",
        "sort",
        "exactness",
        "popularity:desc",
    )
    min_word_size_one_typo: int = 5
    min_word_size_two_typos: int = 9
    synonyms: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("movie", ("film",)),
        ("film", ("movie",)),
        ("series", ("show",)),
        ("show", ("series",)),
        ("scifi", ("sci fi", "science fiction")),
    )
    timeout_s: float = 5.0


@dataclass(frozen=True)
class SearchSettings:
    runtime: RuntimeSettings
    data_dir: Path = Path("var/search")
    catalog_target: str = ports.grpc_address("catalog")
    default_region: str = "US"
    durable: str = "search-indexer"
    maintenance_interval_s: float = 1.0
    meili: MeiliSettings = field(default_factory=MeiliSettings)


def load_settings(env: Mapping[str, str] | None = None) -> SearchSettings:
    """`VOD_SEARCH_DATA_DIR` (default `$VOD_HOME/search`, `./var/search`), `VOD_CATALOG_ADDRESS`,
    `VOD_SEARCH_DEFAULT_REGION`, `VOD_SEARCH_DURABLE`, `VOD_SEARCH_MAINTENANCE_S`, and for
    Meilisearch `VOD_MEILI_URL`, `VOD_MEILI_API_KEY`, `VOD_MEILI_INDEX`,
    `VOD_MEILI_SEARCHABLE`/`_FILTERABLE`/`_SORTABLE`/`_RANKING_RULES` (comma-separated)."""
    env = os.environ if env is None else env
    home = Path(env_str(env, "VOD_HOME", "var"))
    base = MeiliSettings()
    meili = MeiliSettings(
        url=env_str(env, "VOD_MEILI_URL", MeiliSettings.url),
        api_key=env_str(env, "VOD_MEILI_API_KEY", MeiliSettings.api_key),
        index=env_str(env, "VOD_MEILI_INDEX", MeiliSettings.index),
        searchable=_list(env.get("VOD_MEILI_SEARCHABLE", ""), base.searchable),
        filterable=_list(env.get("VOD_MEILI_FILTERABLE", ""), base.filterable),
        sortable=_list(env.get("VOD_MEILI_SORTABLE", ""), base.sortable),
        ranking_rules=_list(env.get("VOD_MEILI_RANKING_RULES", ""), base.ranking_rules),
        timeout_s=env_float(env, "VOD_MEILI_TIMEOUT_S", MeiliSettings.timeout_s),
    )
    return SearchSettings(
        runtime=load_runtime_settings("search", env),
        data_dir=Path(env_str(env, "VOD_SEARCH_DATA_DIR", str(home / "search"))),
        catalog_target=env_str(env, "VOD_CATALOG_ADDRESS", SearchSettings.catalog_target),
        default_region=env_str(env, "VOD_SEARCH_DEFAULT_REGION", SearchSettings.default_region),
        durable=env_str(env, "VOD_SEARCH_DURABLE", SearchSettings.durable),
        maintenance_interval_s=env_float(
            env, "VOD_SEARCH_MAINTENANCE_S", SearchSettings.maintenance_interval_s
        ),
        meili=meili,
    )
