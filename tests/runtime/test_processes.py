"""Several processes per service on one port (services/runtime/processes.py), with the catalog as
the service: the kernel spreads connections over the children, a write answered by one child is
never read back older from its sibling, metrics are summed over the children by the supervisor, a
killed child is replaced, and SIGTERM drains them all."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import psutil
import pytest
from google.protobuf import field_mask_pb2
from prometheus_client import CollectorRegistry, Counter
from vod.catalog.v1 import catalog_pb2 as pb
from vod.catalog.v1 import catalog_pb2_grpc

from mesh.embedded import EmbeddedNats, free_port
from services.runtime.clients import wait_serving
from services.runtime.processes import SiblingVersions
from services.runtime.title_cache import TitleCache
from tests.catalog.test_catalog_api import movie, uid
from tests.supervised import Supervised, stub_on_each_child, supervised, until

ROOT = Path(__file__).resolve().parents[2]
_OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]
"""Channels of one process share connections unless told not to (gRPC's global subchannel pool)."""


# -- the shared write counters, in one process --------------------------------------------------


def test_a_bump_in_one_row_changes_the_stamp_every_sibling_reads(tmp_path: Path) -> None:
    path = tmp_path / "versions.bin"
    SiblingVersions.create(path, 2)
    first, second = SiblingVersions(path, 2, 0), SiblingVersions(path, 2, 1)
    before = second.stamp("titles/a")
    first.bump("titles/a")
    assert (first.stamp("titles/a"), second.stamp("titles/a")) == (before + 1, before + 1)
    second.bump("titles/a")
    assert first.stamp("titles/a") == before + 2
    with pytest.raises(ValueError, match="outside"):
        SiblingVersions(path, 2, 2)


def _cache(siblings: SiblingVersions) -> TitleCache:
    registry = CollectorRegistry()
    return TitleCache(
        60.0,
        100,
        Counter("t_lookups", "", ["result"], registry=registry),
        Counter("t_invalidations", "", ["reason"], registry=registry),
        siblings=siblings,
    )


def test_a_cached_title_is_not_served_after_a_siblings_write(tmp_path: Path) -> None:
    path = tmp_path / "versions.bin"
    SiblingVersions.create(path, 2)
    reader, writer = _cache(SiblingVersions(path, 2, 0)), _cache(SiblingVersions(path, 2, 1))
    name = "titles/x"
    stamps = reader.stamps([name])
    reader.put_many([pb.Title(name=name, etag="v1")], reader.generation, stamps)
    assert list(reader.get_many([name])[0]) == [name]
    writer.drop(name, "written")  # the sibling committed a write of it
    assert reader.get_many([name]) == ({}, [name])
    # A fetch that began before the write cannot be stored as current either.
    reader.put_many([pb.Title(name=name, etag="v1")], reader.generation, stamps)
    assert reader.get_many([name]) == ({}, [name])
    # Without a stamp from before its fetch, a title is not stored at all.
    reader.put_many([pb.Title(name=name, etag="v2")], reader.generation)
    assert reader.get_many([name]) == ({}, [name])
    reader.put_many([pb.Title(name=name, etag="v2")], reader.generation, reader.stamps([name]))
    assert reader.get_many([name])[0][name].etag == "v2"
    # Events and this process's own drops do not bump the shared counters.
    stamp = reader.stamps([name])
    reader.drop(name, "updated")
    assert reader.stamps([name]) == stamp


# -- a supervised catalog ----------------------------------------------------------------------


@pytest.fixture
def catalog(fresh_database: str, nats_server: EmbeddedNats, tmp_path: Path) -> Iterator[Supervised]:
    env = {"VOD_DATABASE_URL": fresh_database, "VOD_NATS_URL": nats_server.url}
    with supervised("services.catalog", "catalog", env, tmp_path / "catalog.log") as service:
        yield service


async def test_children_share_the_port_and_never_serve_older_than_a_siblings_write(
    catalog: Supervised,
) -> None:
    supervised = catalog
    await wait_serving(supervised.address, alive=lambda: supervised.process.poll() is None)
    await until(lambda: len(supervised.children()) == 2)
    async with AsyncExitStack() as stack:
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(supervised.address))
        writer = catalog_pb2_grpc.CatalogServiceStub(channel)
        title = (await writer.CreateTitle(pb.CreateTitleRequest(title=movie(f"Two {uid()}")))).title
        on = await stub_on_each_child(
            stack,
            supervised,
            catalog_pb2_grpc.CatalogServiceStub,
            lambda stub: stub.GetTitle(pb.GetTitleRequest(name=title.name)),
        )
        (first_pid, first), (second_pid, second) = sorted(on.items())
        assert first_pid != second_pid
        baseline = supervised.handled("GetTitle")

        # Both children cache the title; then each writes it in turn and the other reads it
        # back at once: the etag is the write's, never the cached older one.
        calls = 0
        for stub in (first, second, first, second):
            await stub.GetTitle(pb.GetTitleRequest(name=title.name))
            calls += 1
        current = title
        for round_ in range(20):
            author, reader = (first, second) if round_ % 2 == 0 else (second, first)
            current = (
                await author.UpdateTitle(
                    pb.UpdateTitleRequest(
                        title=pb.Title(
                            name=title.name, display_name=f"Round {round_}", etag=current.etag
                        ),
                        update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
                    )
                )
            ).title
            read = (await reader.GetTitle(pb.GetTitleRequest(name=title.name))).title
            calls += 1
            assert (read.etag, read.display_name) == (current.etag, f"Round {round_}")

        # The supervisor's /metrics is the sum over both children, exactly.
        assert supervised.handled("GetTitle") == baseline + calls

        # A killed child is replaced; its counts stay in the sum; the service keeps answering.
        os.kill(second_pid, signal.SIGKILL)
        await until(
            lambda: second_pid not in supervised.children() and len(supervised.children()) == 2
        )
        await wait_serving(supervised.address)
        fresh = await stack.enter_async_context(grpc.aio.insecure_channel(supervised.address))
        again = await catalog_pb2_grpc.CatalogServiceStub(fresh).GetTitle(
            pb.GetTitleRequest(name=title.name)
        )
        assert again.title.etag == current.etag
        assert supervised.handled("GetTitle") == baseline + calls + 1

    # SIGTERM drains every child and the supervisor exits 0.
    children = supervised.children()
    supervised.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(supervised.process.wait, 30) == 0
    assert not [pid for pid in children if psutil.pid_exists(pid)]
    log = supervised.log.read_text()
    assert '"event": "processes.child_exited"' in log and '"code": -9' in log


async def test_http_endpoints_are_shared_by_the_copies_too(
    fresh_database: str, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    """A service's HTTP endpoints (here accounts' JWKS) bind with SO_REUSEPORT in every copy as
    its gRPC port does: both copies stay up and both answer HTTP."""
    http_port = free_port()
    env = {
        "VOD_DATABASE_URL": fresh_database,
        "VOD_NATS_URL": nats_server.url,
        "VOD_ACCOUNTS_HTTP_ADDRESS": f"127.0.0.1:{http_port}",
    }
    with supervised("services.accounts", "accounts", env, tmp_path / "accounts.log") as service:
        await wait_serving(service.address, alive=lambda: service.process.poll() is None)
        await until(lambda: len(service.children()) == 2)
        children = service.children()
        answered: set[int] = set()
        for _ in range(60):  # a new connection per try; the kernel picks the copy that accepts it
            reader, writer = await asyncio.open_connection("127.0.0.1", http_port)
            mine = writer.get_extra_info("sockname")[1]
            owner: list[int] = []

            def accepted(mine: int = mine, owner: list[int] = owner) -> bool:
                owner[:] = [pid for pid in children if mine in service.peers_of(pid, http_port)]
                return bool(owner)

            await until(accepted)
            writer.write(
                b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            response = await reader.read()
            writer.close()
            assert response.startswith(b"HTTP/1.1 200") and b'"keys"' in response
            answered.update(owner)
            if len(answered) == 2:
                break
        assert sorted(answered) == children
        assert service.children() == children  # no copy died on a port clash


def test_the_process_count_is_checked(tmp_path: Path) -> None:
    from services.runtime.config import load_runtime_settings

    assert load_runtime_settings("catalog", {"VOD_CATALOG_PROCESSES": "2"}).processes == 2
    assert load_runtime_settings("catalog", {}).processes == 1
    for bad in ("0", "65", "two"):
        with pytest.raises(ValueError, match="VOD_CATALOG_PROCESSES"):
            load_runtime_settings("catalog", {"VOD_CATALOG_PROCESSES": bad})
