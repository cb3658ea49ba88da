"""Search fixtures: a catalog (own database) loaded once with the netflix dataset through its API,
and the real search service following that catalog's events over NATS, on free ports."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from vod.catalog.v1 import catalog_pb2_grpc
from vod.search.v1 import search_pb2 as pb
from vod.search.v1 import search_pb2_grpc

from mesh.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from services.catalog.importer import ImportReport, import_csv
from services.catalog.server import running as catalog_running
from services.runtime.config import RuntimeSettings
from services.runtime.server import ServerHandle
from services.search.config import SearchSettings
from services.search.server import running as search_running
from tests.catalog.conftest import catalog_settings
from tests.conftest import DATASET


def search_settings(
    data_dir: Path, nats_url: str, catalog_target: str, *, durable: str, port: int = 0
) -> SearchSettings:
    return SearchSettings(
        runtime=RuntimeSettings(
            service="search",
            grpc_address=f"127.0.0.1:{port}",
            metrics_address=f"127.0.0.1:{free_port()}",
            nats_url=nats_url,
            drain_grace_s=0.5,
        ),
        data_dir=data_dir,
        catalog_target=catalog_target,
        durable=durable,
        maintenance_interval_s=0.5,
    )


@dataclass
class SearchProcess:
    """One search service that a test can stop and start again (same port, data and consumer)."""

    settings: SearchSettings
    handle: ServerHandle | None = None
    _cm: AbstractAsyncContextManager[ServerHandle] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return self.settings.runtime.grpc_address

    async def start(self) -> None:
        self._cm = search_running(self.settings, serve_metrics=False)
        self.handle = await self._cm.__aenter__()

    async def stop(self) -> None:
        if self._cm is not None:
            cm, self._cm = self._cm, None
            await cm.__aexit__(None, None, None)


@pytest.fixture(scope="session")
def search_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """NATS of its own: the catalog streams of other suites (the full-dataset import publishes
    8,807 events) would otherwise sit in front of this suite's events."""
    data = tmp_path_factory.mktemp("search-nats")
    with EmbeddedNats(data / "js", free_port(), monitor_port=free_port()) as server:
        yield server


@pytest.fixture(scope="session")
async def search_catalog(
    postgres: EmbeddedPostgres, search_nats: EmbeddedNats
) -> AsyncIterator[str]:
    """Address of a catalog with its own database, feeding the shared NATS."""
    database = postgres.create_database(f"search_catalog_{uuid.uuid4().hex[:6]}")
    async with catalog_running(
        catalog_settings(database, search_nats.url), serve_metrics=False
    ) as handle:
        yield f"127.0.0.1:{handle.port}"


@pytest.fixture(scope="session")
async def catalog_stub(search_catalog: str) -> AsyncIterator[catalog_pb2_grpc.CatalogServiceStub]:
    async with grpc.aio.insecure_channel(search_catalog) as channel:
        yield catalog_pb2_grpc.CatalogServiceStub(channel)


@pytest.fixture(scope="session")
async def search_process(
    tmp_path_factory: pytest.TempPathFactory, search_nats: EmbeddedNats, search_catalog: str
) -> AsyncIterator[SearchProcess]:
    settings = search_settings(
        tmp_path_factory.mktemp("search"),
        search_nats.url,
        search_catalog,
        durable=f"search-test-{uuid.uuid4().hex[:8]}",
        port=free_port(),
    )
    process = SearchProcess(settings)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


@pytest.fixture(scope="session")
async def search(search_process: SearchProcess) -> AsyncIterator[search_pb2_grpc.SearchServiceStub]:
    async with grpc.aio.insecure_channel(search_process.address) as channel:
        yield search_pb2_grpc.SearchServiceStub(channel)


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout_s: float = 20.0, interval_s: float = 0.1
) -> bool:
    """Poll `check` until it holds or the time is up (no timing is asserted, only the outcome)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        if await check():
            return True
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(interval_s)


async def indexed_total(stub: search_pb2_grpc.SearchServiceStub, region: str = "US") -> int:
    response = await stub.Search(
        pb.SearchRequest(filter=pb.SearchFilter(region_code=region), page_size=1)
    )
    return response.total_size


@pytest.fixture(scope="session")
async def netflix(
    catalog_stub: catalog_pb2_grpc.CatalogServiceStub, search: search_pb2_grpc.SearchServiceStub
) -> ImportReport:
    """The 8,807 netflix titles, created through the catalog API and indexed by search."""
    report = await import_csv(catalog_stub, DATASET, concurrency=32)
    assert report.created + report.skipped > 8000, report.failed[:5]
    expected = report.created + report.skipped

    async def caught_up() -> bool:
        return await indexed_total(search) >= expected

    assert await eventually(caught_up, timeout_s=120, interval_s=0.5), await indexed_total(search)
    return report
