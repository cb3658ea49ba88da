"""Shared fixtures: real PostgreSQL and NATS from their wheels, started once per session on free
ports under a temporary directory; services started with their production `create_server`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mesh.embedded import EmbeddedNats, EmbeddedPostgres, free_port

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "netflix_titles.csv"


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    data = tmp_path_factory.mktemp("pg") / "data"
    server = EmbeddedPostgres(data, free_port(), fast=True)
    with server:
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
