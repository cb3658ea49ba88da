"""Every service's Alembic migrations build the schema its SQLAlchemy models describe.

The migrations spell their tables out instead of importing `schema.py`, so nothing keeps the two
in step but this test: each service's migrations run on a fresh database with the same helper
the services use at start-up, and Alembic's autogenerate compares the result with the models
(tables, columns, types, nullability, server defaults, keys, indexes). A model edited without a
migration, or a migration that drifts from the model, fails here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import gateway.qoe.schema
import services.accounts.schema
import services.catalog.schema
import services.experiments.schema
import services.licensing.schema
import services.playback.schema
import services.recommendations.schema
import services.transcoding.schema
from mesh.embedded import EmbeddedPostgres
from services.runtime.db import async_url, migrate

# Postgres schema -> the module holding its models (`metadata`); migrations sit beside it.
SERVICES: dict[str, ModuleType] = {
    "accounts": services.accounts.schema,
    "catalog": services.catalog.schema,
    "experiments": services.experiments.schema,
    "licensing": services.licensing.schema,
    "playback": services.playback.schema,
    "recommendations": services.recommendations.schema,
    "transcoding": services.transcoding.schema,
    "qoe": gateway.qoe.schema,
}

# What the migrations create and the models do not declare: nothing (every index, partial and
# GIN ones included, and every service's outbox are declared in the models).
NOT_IN_MODELS: dict[str, set[tuple[str, str, str]]] = {schema: set() for schema in SERVICES}


@pytest.fixture(scope="module")
def migrated(postgres: EmbeddedPostgres) -> Iterator[dict[str, sa.Engine]]:
    """Per service, an engine on a fresh database migrated to head, its schema first on the
    search path (as the services connect), so the models' unqualified tables map onto it."""
    engines: dict[str, sa.Engine] = {}
    try:
        for schema, module in SERVICES.items():
            url = postgres.create_database(f"m_{schema}_{uuid.uuid4().hex[:8]}")
            migrate(url, schema, Path(module.__file__ or "").parent / "migrations")
            engines[schema] = sa.create_engine(
                async_url(url),
                poolclass=sa.NullPool,
                connect_args={"options": f"-c search_path={schema},public"},
            )
        yield engines
    finally:
        for engine in engines.values():
            engine.dispose()


def _include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # Only the service's own schema, which is the connection's default (reported as None).
    return type_ != "schema" or name is None


def _name(item: Any) -> str:
    """An index's or constraint's name, or its columns when it has none."""
    return item.name or ",".join(column.name for column in item.columns)


def _shown(value: Any) -> str:
    """A type, nullability or server default as readable text."""
    if isinstance(value, sa.DefaultClause):
        value = value.arg
    if isinstance(value, sa.TextClause):
        return repr(value.text)
    return repr(value)


def _diff(engine: sa.Engine, schema: str, metadata: sa.MetaData) -> list[tuple[str, str, str]]:
    """Autogenerate's differences from the migrated database to `metadata`, one tuple per change:
    (operation, table, the index/column/table concerned), sorted."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "include_name": _include_name,
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        # The models' unqualified tables are compared with the service's schema, not `public`.
        assert connection.dialect.default_schema_name == schema
        raw = compare_metadata(context, metadata)
    changes: list[tuple[str, str, str]] = []
    for entry in raw:
        # Column-level changes come as a list of tuples, one per changed attribute.
        for change in entry if isinstance(entry, list) else [entry]:
            op = change[0]
            if op in ("add_table", "remove_table"):
                changes.append((op, change[1].name, change[1].name))
            elif op in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
                changes.append((op, change[1].table.name, _name(change[1])))
            elif op in ("add_fk", "remove_fk"):
                changes.append((op, change[1].parent.name, _name(change[1])))
            elif op in ("add_column", "remove_column"):
                changes.append((op, change[2], change[3].name))
            elif op.startswith("modify_"):
                # (op, schema, table, column, info, database's, model's)
                was, now = _shown(change[5]), _shown(change[6])
                changes.append((op, change[2], f"{change[3]}: {was} -> {now}"))
            else:
                changes.append((op, "", repr(change[1:])))
    return sorted(changes)


@pytest.mark.parametrize("schema", list(SERVICES))
def test_migrated_schema_matches_models(migrated: dict[str, sa.Engine], schema: str) -> None:
    with migrated[schema].connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
    # The database was really migrated: every model table and Alembic's version table exist.
    assert tables >= set(SERVICES[schema].metadata.tables) | {"alembic_version"}
    assert _diff(migrated[schema], schema, SERVICES[schema].metadata) == sorted(
        NOT_IN_MODELS[schema]
    )


def test_a_model_change_without_a_migration_is_caught(migrated: dict[str, sa.Engine]) -> None:
    copy = sa.MetaData()
    for table in services.catalog.schema.metadata.tables.values():
        table.to_metadata(copy)
    assert _diff(migrated["catalog"], "catalog", copy) == sorted(NOT_IN_MODELS["catalog"])

    copy.tables["titles"].append_column(sa.Column("tagline", sa.Text, nullable=True))
    copy.tables["people"].c.name_key.type = sa.String(64)
    assert _diff(migrated["catalog"], "catalog", copy) == sorted(
        NOT_IN_MODELS["catalog"]
        | {
            ("add_column", "titles", "tagline"),
            ("modify_type", "people", "name_key: TEXT() -> String(length=64)"),
        }
    )
