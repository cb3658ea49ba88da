"""Near-real-time indexing from catalog events, region hiding, restart recovery and re-indexing,
all through the real catalog, NATS and search services."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.search.v1 import search_pb2 as pb
from vod.search.v1 import search_pb2_grpc

from mesh.embedded import free_port
from tests.conftest import ROOT
from tests.search.conftest import eventually, indexed_total

pytestmark = pytest.mark.usefixtures("netflix")


def marker() -> str:
    """A made-up word no title contains, so a test sees only its own titles."""
    return "zq" + uuid.uuid4().hex[:10]


def window(region: str, start: datetime, end: datetime | None = None) -> cpb.AvailabilityWindow:
    w = cpb.AvailabilityWindow(region_code=region)
    w.start_time.FromDatetime(start)
    if end is not None:
        w.end_time.FromDatetime(end)
    return w


def movie(
    name: str, *windows: cpb.AvailabilityWindow, genres: tuple[str, ...] = ("Dramas",)
) -> cpb.Title:
    past = datetime.now(UTC) - timedelta(days=1)
    return cpb.Title(
        type=cpb.TITLE_TYPE_MOVIE,
        display_name=name,
        release_year=2024,
        genres=list(genres),
        availability=list(windows) or [window("US", past)],
    )


async def found(search, query: str, region: str = "US") -> list[str]:
    response = await search.Search(
        pb.SearchRequest(query=query, filter=pb.SearchFilter(region_code=region), page_size=1000)
    )
    return [h.summary.title for h in response.hits]


async def test_created_updated_removed_titles_follow_the_catalog(catalog_stub, search) -> None:
    word = marker()
    created = (
        await catalog_stub.CreateTitle(cpb.CreateTitleRequest(title=movie(f"Night {word}")))
    ).title
    assert await eventually(lambda: _has(search, word, created.name), timeout_s=10)
    renamed = marker()
    await catalog_stub.UpdateTitle(
        cpb.UpdateTitleRequest(title=cpb.Title(name=created.name, display_name=f"Day {renamed}"))
    )
    assert await eventually(lambda: _has(search, renamed, created.name), timeout_s=10)
    assert await found(search, word) == []
    await catalog_stub.DeleteTitle(cpb.DeleteTitleRequest(name=created.name))
    assert await eventually(lambda: _gone(search, renamed), timeout_s=10)


async def _has(search, query: str, name: str) -> bool:
    return await found(search, query) == [name]


async def _gone(search, query: str) -> bool:
    return await found(search, query) == []


async def test_titles_are_hidden_where_no_window_is_open_now(catalog_stub, search) -> None:
    now = datetime.now(UTC)
    word = marker()
    fr_only = (
        await catalog_stub.CreateTitle(
            cpb.CreateTitleRequest(
                title=movie(f"Paris {word}", window("FR", now - timedelta(days=1)))
            )
        )
    ).title
    closed = (
        await catalog_stub.CreateTitle(
            cpb.CreateTitleRequest(
                title=movie(
                    f"Closed {word}", window("US", now - timedelta(days=9), now - timedelta(days=1))
                )
            )
        )
    ).title
    soon = (
        await catalog_stub.CreateTitle(
            cpb.CreateTitleRequest(
                title=movie(f"Soon {word}", window("US", now + timedelta(seconds=3)))
            )
        )
    ).title
    assert await eventually(lambda: _is(search, word, "FR", [fr_only.name]), timeout_s=10)
    # US callers see none of them yet: one is French, one expired, one not open yet
    assert await found(search, word, "US") == []
    suggest = await search.Suggest(pb.SuggestRequest(prefix=word, region_code="US"))
    assert list(suggest.suggestions) == []
    # the upcoming window opens: the title appears without any catalog event
    assert await eventually(lambda: _is(search, word, "US", [soon.name]), timeout_s=15)
    assert closed.name not in await found(search, word, "DE")
    # the caller's region comes from the platform header (the front door it came through)...
    response = await search.Search(pb.SearchRequest(query=word), metadata=(("x-vod-region", "FR"),))
    assert [h.summary.title for h in response.hits] == [fr_only.name]
    # ...and wins over a region the client wrote into the request: a US caller asking for FR
    # titles still gets what is available in the US (the opened one, not the French one).
    spoofed = await search.Search(
        pb.SearchRequest(query=word, filter=pb.SearchFilter(region_code="FR")),
        metadata=(("x-vod-region", "US"),),
    )
    assert [h.summary.title for h in spoofed.hits] == [soon.name]
    suggest = await search.Suggest(
        pb.SuggestRequest(prefix=word, region_code="FR"), metadata=(("x-vod-region", "US"),)
    )
    assert [s.title for s in suggest.suggestions if s.title] == [soon.name]


async def _is(search, query: str, region: str, names: list[str]) -> bool:
    return sorted(await found(search, query, region)) == sorted(names)


@pytest.fixture
def search_subprocess(tmp_path, search_nats, search_catalog):
    """A search service in its own process (so a test can SIGKILL it), with its own data
    directory and durable consumer; start() may be called again after a kill."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'gen' / 'python'}",
        "VOD_SEARCH_GRPC_ADDRESS": f"127.0.0.1:{port}",
        "VOD_SEARCH_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "VOD_NATS_URL": search_nats.url,
        "VOD_CATALOG_ADDRESS": search_catalog,
        "VOD_SEARCH_DATA_DIR": str(tmp_path / "search"),
        "VOD_SEARCH_DURABLE": f"search-crash-{uuid.uuid4().hex[:8]}",
        "VOD_LOG_LEVEL": "WARNING",
    }
    procs: list[subprocess.Popen[bytes]] = []

    class Handle:
        address = f"127.0.0.1:{port}"

        def start(self) -> None:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "services.search"],
                    env=env,
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

        def kill(self) -> None:
            procs[-1].send_signal(signal.SIGKILL)
            procs[-1].wait(10)

    yield Handle()
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)


async def test_crash_mid_stream_loses_and_duplicates_nothing(
    catalog_stub, search_subprocess
) -> None:
    """SIGKILL the search process while titles are being created, change more while it is down,
    start it again: every surviving title is indexed exactly once, with its latest name."""
    search_subprocess.start()
    async with grpc.aio.insecure_channel(search_subprocess.address) as channel:
        search = search_pb2_grpc.SearchServiceStub(channel)

        async def ready() -> bool:
            try:
                return await indexed_total(search) > 8000
            except grpc.aio.AioRpcError:
                return False

        assert await eventually(ready, timeout_s=90, interval_s=0.5)
        word = marker()
        count = 120

        async def create(i: int) -> str:
            title = movie(f"Wave {word} {i}")
            return (
                await catalog_stub.CreateTitle(cpb.CreateTitleRequest(title=title), timeout=30)
            ).title.name

        writer = asyncio.ensure_future(asyncio.gather(*(create(i) for i in range(count))))
        assert await eventually(lambda: _at_least(search, word, 1), timeout_s=20, interval_s=0.02)
        search_subprocess.kill()  # while titles are still being created and published
        names = await asyncio.wait_for(writer, 60)
        for name in names[:10]:
            await catalog_stub.DeleteTitle(cpb.DeleteTitleRequest(name=name), timeout=15)
        renamed = marker()
        await catalog_stub.UpdateTitle(
            cpb.UpdateTitleRequest(
                title=cpb.Title(name=names[10], display_name=f"Wave {word} {renamed}")
            ),
            timeout=15,
        )
        search_subprocess.start()

        async def converged() -> bool:
            try:
                return await _is(search, word, "US", names[10:])
            except grpc.aio.AioRpcError:
                return False

        assert await eventually(converged, timeout_s=60, interval_s=0.3)
        hits = await found(search, word)
        assert len(hits) == len(set(hits)) == count - 10
        assert await found(search, renamed) == [names[10]]


async def _at_least(search, query: str, n: int) -> bool:
    return len(await found(search, query)) >= n


async def test_reindex_swaps_in_a_full_index_without_downtime(search) -> None:
    before = await indexed_total(search)
    reindex = asyncio.ensure_future(search.Reindex(pb.ReindexRequest(), timeout=120))
    served = 0
    while not reindex.done():
        response = await search.Search(pb.SearchRequest(query="stranger things", page_size=1))
        assert response.hits[0].summary.display_name == "Stranger Things"
        served += 1
        await asyncio.sleep(0.01)
    report = await reindex
    assert served > 0
    assert report.indexed_count >= before
    assert await indexed_total(search) == before
    response = await search.Search(pb.SearchRequest(query="inceptoin", page_size=1))
    assert response.hits[0].summary.display_name == "Inception"
