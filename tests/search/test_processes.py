"""Search as several processes on one port (`VOD_SEARCH_PROCESSES`): every copy keeps a whole
index of its own, fed by its own durable consumer of the catalog's events, so whichever copy a
connection lands on finds the same titles, old and new."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from pathlib import Path

from vod.catalog.v1 import catalog_pb2 as cpb
from vod.catalog.v1 import catalog_pb2_grpc
from vod.search.v1 import search_pb2 as pb
from vod.search.v1 import search_pb2_grpc

from mesh.embedded import EmbeddedNats
from services.runtime.clients import wait_serving
from tests.catalog.test_catalog_api import movie
from tests.supervised import stub_on_each_child, supervised, until


async def _names(stub: search_pb2_grpc.SearchServiceStub, word: str) -> list[str]:
    response = await stub.Search(pb.SearchRequest(query=word, page_size=10))
    return [hit.summary.title for hit in response.hits]


async def test_every_copy_holds_the_whole_index_and_follows_the_catalog(
    search_nats: EmbeddedNats,
    search_catalog: str,
    catalog_stub: catalog_pb2_grpc.CatalogServiceStub,
    tmp_path: Path,
) -> None:
    before, after = f"zephyrine{uuid.uuid4().hex[:6]}", f"quillion{uuid.uuid4().hex[:6]}"
    old = (await catalog_stub.CreateTitle(cpb.CreateTitleRequest(title=movie(before)))).title
    env = {
        "VOD_NATS_URL": search_nats.url,
        "VOD_CATALOG_ADDRESS": search_catalog,
        "VOD_SEARCH_DATA_DIR": str(tmp_path / "index"),
        "VOD_SEARCH_DURABLE": f"search-copies-{uuid.uuid4().hex[:8]}",
    }
    with supervised("services.search", "search", env, tmp_path / "search.log") as service:
        await wait_serving(service.address, alive=lambda: service.process.poll() is None)
        await until(lambda: len(service.children()) == 2)
        async with AsyncExitStack() as stack:
            copies = await stub_on_each_child(
                stack,
                service,
                search_pb2_grpc.SearchServiceStub,
                lambda stub: stub.Search(pb.SearchRequest(query=before, page_size=1)),
            )
            assert len(copies) == 2
            new = (await catalog_stub.CreateTitle(cpb.CreateTitleRequest(title=movie(after)))).title
            for stub in copies.values():

                async def found(stub: search_pb2_grpc.SearchServiceStub = stub) -> bool:
                    return await _names(stub, before) == [old.name] and await _names(
                        stub, after
                    ) == [new.name]

                await until(found, timeout_s=120)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("index")) == [
        "index-p0",
        "index-p1",
    ]
