"""Shared fixtures: real PostgreSQL and NATS from their wheels, started once per session on free
ports under a temporary directory; services started with their production `create_server`."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mesh.embedded import EmbeddedNats, EmbeddedPostgres, free_port

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "netflix_titles.csv"


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory outside pytest's tmp dir, removed afterwards. Anything holding a
    Postgres data directory goes here: pytest resets /tmp/pytest-of-<user> to 0700 whenever a
    session starts, which would lock out the unprivileged user Postgres runs as under root."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    with (
        scratch_dir("vodtest-pg-") as root,
        EmbeddedPostgres(root / "data", free_port(), fast=True) as server,
    ):
        yield server


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    data = tmp_path_factory.mktemp("nats")
    server = EmbeddedNats(data / "js", free_port(), monitor_port=free_port())
    with server:
        yield server


@pytest.fixture
def fresh_database(postgres: EmbeddedPostgres) -> str:
    """A new, empty database for one test (isolation without restarting Postgres)."""
    return postgres.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def session_database(postgres: EmbeddedPostgres) -> str:
    return postgres.create_database("shared_tests")


@pytest.fixture
async def anyio_backend() -> AsyncIterator[str]:
    yield "asyncio"
