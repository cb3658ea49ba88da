"""Catalog fixtures: the real catalog server (migrations, outbox relay, NATS) on a free port."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import grpc
import pytest
from vod.catalog.v1 import catalog_pb2_grpc

from mesh.embedded import EmbeddedNats, free_port
from services.catalog.config import CatalogSettings
from services.catalog.server import running
from services.runtime.config import RuntimeSettings


def catalog_settings(database_url: str, nats_url: str) -> CatalogSettings:
    return CatalogSettings(
        runtime=RuntimeSettings(
            service="catalog",
            grpc_address="127.0.0.1:0",
            metrics_address=f"127.0.0.1:{free_port()}",
            database_url=database_url,
            nats_url=nats_url,
            drain_grace_s=0.5,
        )
    )


@pytest.fixture(scope="session")
async def catalog_server(session_database: str, nats_server: EmbeddedNats) -> AsyncIterator[str]:
    """Address of one catalog server shared by the read/write tests of a session."""
    settings = catalog_settings(session_database, nats_server.url)
    async with running(settings) as handle:
        yield f"127.0.0.1:{handle.port}"


@pytest.fixture(scope="session")
async def catalog(catalog_server: str) -> AsyncIterator[catalog_pb2_grpc.CatalogServiceStub]:
    async with grpc.aio.insecure_channel(catalog_server) as channel:
        yield catalog_pb2_grpc.CatalogServiceStub(channel)


__all__ = ["catalog_settings", "dataclasses"]
