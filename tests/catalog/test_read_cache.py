"""The catalog's read cache (services/catalog/read_cache.py): reads come from memory, and never
from behind a write. Two catalog processes share one database and NATS, as replicas would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import grpc
import pytest
from google.protobuf import field_mask_pb2
from vod.catalog.v1 import catalog_pb2 as pb
from vod.catalog.v1 import catalog_pb2_grpc

from mesh.embedded import EmbeddedNats
from services.catalog.server import running
from services.runtime.server import ServerHandle
from tests.catalog.conftest import catalog_settings
from tests.catalog.test_catalog_api import movie, uid


def _counter(handle: ServerHandle, name: str, label: str) -> float:
    value = handle.metrics.registry.get_sample_value(f"{name}_total", {"result": label})
    if value is None:
        value = handle.metrics.registry.get_sample_value(f"{name}_total", {"reason": label})
    return value or 0.0


def hits(handle: ServerHandle) -> float:
    return _counter(handle, "catalog_title_cache_lookups", "hit")


def misses(handle: ServerHandle) -> float:
    return _counter(handle, "catalog_title_cache_lookups", "miss")


async def until(condition: Callable[[], Awaitable[bool]], timeout_s: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.fixture
async def replicas(
    fresh_database: str, nats_server: EmbeddedNats
) -> AsyncIterator[list[tuple[ServerHandle, catalog_pb2_grpc.CatalogServiceStub]]]:
    async with AsyncExitStack() as stack:
        found = []
        for _ in range(2):
            handle = await stack.enter_async_context(
                running(catalog_settings(fresh_database, nats_server.url), serve_metrics=False)
            )
            channel = await stack.enter_async_context(
                grpc.aio.insecure_channel(f"127.0.0.1:{handle.port}")
            )
            found.append((handle, catalog_pb2_grpc.CatalogServiceStub(channel)))
        yield found


async def _rename(
    stub: catalog_pb2_grpc.CatalogServiceStub, title: pb.Title, display_name: str
) -> pb.Title:
    response = await stub.UpdateTitle(
        pb.UpdateTitleRequest(
            title=pb.Title(name=title.name, display_name=display_name, etag=title.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        )
    )
    return response.title


async def test_reads_come_from_memory_and_never_from_behind_the_callers_write(
    replicas: list[tuple[ServerHandle, catalog_pb2_grpc.CatalogServiceStub]],
) -> None:
    (a, stub), _ = replicas
    created = (await stub.CreateTitle(pb.CreateTitleRequest(title=movie(f"Cached {uid()}")))).title
    first = (await stub.GetTitle(pb.GetTitleRequest(name=created.name))).title
    hits_before, misses_before = hits(a), misses(a)
    for _ in range(5):
        again = (await stub.GetTitle(pb.GetTitleRequest(name=created.name))).title
        assert again == first
    assert (hits(a) - hits_before, misses(a) - misses_before) == (5, 0)

    # Each write is read back at once with its own etag (never the cached older title).
    current = first
    for round_ in range(3):
        updated = await _rename(stub, current, f"Renamed {round_}")
        read = (await stub.GetTitle(pb.GetTitleRequest(name=created.name))).title
        assert (read.etag, read.display_name) == (updated.etag, f"Renamed {round_}")
        batch = await stub.BatchGetTitles(pb.BatchGetTitlesRequest(names=[created.name]))
        assert [t.etag for t in batch.titles] == [updated.etag]
        current = updated
    assert _counter(a, "catalog_title_cache_invalidations", "written") >= 3


async def test_another_replicas_writes_reach_the_cache_through_events(
    replicas: list[tuple[ServerHandle, catalog_pb2_grpc.CatalogServiceStub]],
) -> None:
    (a, stub_a), (_b, stub_b) = replicas
    created = (
        await stub_a.CreateTitle(pb.CreateTitleRequest(title=movie(f"Shared {uid()}")))
    ).title
    await stub_a.GetTitle(pb.GetTitleRequest(name=created.name))
    cached = (await stub_a.GetTitle(pb.GetTitleRequest(name=created.name))).title
    assert hits(a) >= 1

    updated = await _rename(stub_b, cached, "Changed elsewhere")

    async def a_sees_the_update() -> bool:
        read = (await stub_a.GetTitle(pb.GetTitleRequest(name=created.name))).title
        return read.etag == updated.etag and read.display_name == "Changed elsewhere"

    await until(a_sees_the_update)
    assert _counter(a, "catalog_title_cache_invalidations", "updated") >= 1

    await stub_b.DeleteTitle(pb.DeleteTitleRequest(name=created.name, etag=updated.etag))

    async def a_sees_the_removal() -> bool:
        try:
            await stub_a.GetTitle(pb.GetTitleRequest(name=created.name))
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND
            return True
        return False

    await until(a_sees_the_removal)
    assert _counter(a, "catalog_title_cache_invalidations", "removed") >= 1
