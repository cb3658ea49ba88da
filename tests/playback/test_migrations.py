"""Migration 0002 (sessions.plan) upgrades a database that 0001 created before the column
existed, and is a no-op where 0001 already created it (0001 builds from the current table)."""

from __future__ import annotations

import asyncio

import psycopg

from mesh.embedded import EmbeddedPostgres
from services.playback.server import MIGRATIONS
from services.runtime.db import migrate


def _columns(url: str, schema: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name, column_default FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'sessions' AND column_name = 'plan'",
            (schema,),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


async def test_0002_adds_the_plan_column_to_a_0001_database(postgres: EmbeddedPostgres) -> None:
    url = postgres.create_database("playback_migration_tests")
    schema = "playback_0002"
    await asyncio.to_thread(migrate, url, schema, MIGRATIONS)
    assert _columns(url, schema) == [("plan", "''::text")]
    # What a database migrated by 0001 alone looks like: no plan column, at revision 0001.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'ALTER TABLE "{schema}".sessions DROP COLUMN plan')
        conn.execute(f"UPDATE \"{schema}\".alembic_version SET version_num = '0001'")
    assert _columns(url, schema) == []
    await asyncio.to_thread(migrate, url, schema, MIGRATIONS)
    assert _columns(url, schema) == [("plan", "''::text")]
    with psycopg.connect(url) as conn:
        (version,) = conn.execute(f'SELECT version_num FROM "{schema}".alembic_version').fetchone()
    assert version == "0002"
