"""Async SQLAlchemy engines and Alembic migrations, one Postgres schema per service.

Each service owns a schema (`catalog`, `playback`, ...) in a shared or separate database and
never reads another's tables. Connections default to that schema through `search_path`, and the
Alembic version table lives in it too, so services migrate independently.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

__all__ = ["async_url", "create_service_engine", "migrate", "read_only", "session_factory"]


def async_url(url: str) -> str:
    """`postgresql://...` (libpq style) → the psycopg 3 SQLAlchemy dialect URL."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('@')[-1]!r}; expected postgresql://...")


def create_service_engine(url: str, schema: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine whose connections use `schema` first on the search path."""
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs a round trip per checkout. A connection Postgres dropped fails
        # one statement, SQLAlchemy invalidates the pool, and the next checkout reconnects.
        pool_pre_ping=False,
        pool_recycle=600,
        connect_args={"options": f"-c search_path={schema},public"},
    )


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same pool in autocommit mode, for single-statement reads: no BEGIN and no ROLLBACK
    when the connection goes back to the pool, so a read costs one round trip."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def session_factory(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    return async_sessionmaker(engine, expire_on_commit=False)


def migrate(url: str, schema: str, migrations_dir: Path, revision: str = "head") -> None:
    """Create the service's schema if needed and upgrade it to `revision` (blocking)."""
    sync_engine = create_engine(async_url(url))
    try:
        with sync_engine.connect() as lock:
            # Processes of one service (replicas, supervised siblings) start together: one
            # migrates at a time, the others then find the schema at head.
            key = lock.execute(text("SELECT hashtext(:k)"), {"k": f"vod-migrate:{schema}"}).scalar()
            lock.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            lock.commit()
            try:
                with sync_engine.begin() as conn:
                    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                config = Config()
                config.set_main_option("script_location", str(migrations_dir))
                config.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
                config.attributes["schema"] = schema
                command.upgrade(config, revision)
            finally:
                lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                lock.commit()
    finally:
        sync_engine.dispose()
