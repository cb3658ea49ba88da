"""Search settings, loaded from the environment once in `main()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.runtime import ports
from services.runtime.config import (
    RuntimeSettings,
    env_str,
    from_env,
    load_runtime_settings,
    setting,
)
from services.runtime.processes import child_suffix

__all__ = ["MeiliSettings", "SearchSettings", "load_settings"]


@dataclass(frozen=True)
class MeiliSettings:
    """Meilisearch (used when `url` is set). Attribute names are the engine's document fields."""

    url: str = setting("VOD_MEILI_URL", "")
    api_key: str = setting("VOD_MEILI_API_KEY", "", secret=True)
    index: str = setting("VOD_MEILI_INDEX", "titles")
    searchable: tuple[str, ...] = setting(
        "VOD_MEILI_SEARCHABLE", ("title", "cast", "directors", "genres", "synopsis")
    )
    filterable: tuple[str, ...] = setting(
        "VOD_MEILI_FILTERABLE",
        (
            "id",
            "type",
            "genre_key",
            "release_year",
            "rating",
            "person_key",
            "country_key",
            "region",
            "next_change",
        ),
    )
    sortable: tuple[str, ...] = setting(
        "VOD_MEILI_SORTABLE", ("popularity", "release_sort", "available_since")
    )
    ranking_rules: tuple[str, ...] = setting(
        "VOD_MEILI_RANKING_RULES",
        (
            "words",
            "typo",
            "proximity",
            "attribute",
            "sort",
            "exactness",
            "popularity:desc",
        ),
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
    timeout_s: float = setting("VOD_MEILI_TIMEOUT_S", 5.0)


@dataclass(frozen=True)
class SearchSettings:
    runtime: RuntimeSettings
    data_dir: Path = Path("var/search")
    """`VOD_SEARCH_DATA_DIR` (default `$VOD_HOME/search`)."""
    catalog_target: str = setting("VOD_CATALOG_ADDRESS", ports.grpc_address("catalog"))
    default_region: str = setting("VOD_SEARCH_DEFAULT_REGION", "US")
    durable: str = setting("VOD_SEARCH_DURABLE", "search-indexer")
    maintenance_interval_s: float = setting("VOD_SEARCH_MAINTENANCE_S", 1.0)
    meili: MeiliSettings = field(default_factory=MeiliSettings)


def load_settings(env: Mapping[str, str] | None = None) -> SearchSettings:
    """`VOD_SEARCH_DATA_DIR` (default `$VOD_HOME/search`, `./var/search`), `VOD_CATALOG_ADDRESS`,
    `VOD_SEARCH_DEFAULT_REGION`, `VOD_SEARCH_DURABLE`, `VOD_SEARCH_MAINTENANCE_S` (the data
    directory and durable get a per-copy suffix under `VOD_SEARCH_PROCESSES`), and for
    Meilisearch `VOD_MEILI_URL`, `VOD_MEILI_API_KEY`, `VOD_MEILI_INDEX`,
    `VOD_MEILI_SEARCHABLE`/`_FILTERABLE`/`_SORTABLE`/`_RANKING_RULES` (comma-separated)."""
    env = os.environ if env is None else env
    home = Path(env_str(env, "VOD_HOME", "var"))
    return from_env(
        SearchSettings,
        env,
        runtime=load_runtime_settings("search", env),
        # Each supervised copy (VOD_SEARCH_PROCESSES) keeps a whole index of its own, fed by
        # its own durable consumer: "<dir>-p1", "search-indexer-p1".
        data_dir=Path(env_str(env, "VOD_SEARCH_DATA_DIR", str(home / "search")) + child_suffix()),
        durable=env_str(env, "VOD_SEARCH_DURABLE", "search-indexer") + child_suffix(),
    )
