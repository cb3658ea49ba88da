"""The overview's edges (gateway/qoe/edges.py): hit ratio and requests counted from each edge's
JSON access log, incrementally (only new lines are read; a replaced or truncated log starts
over; a line still being written waits), and reachability from the edge's health URL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from gateway.qoe.edges import EdgeLogs, parse_pairs
from mesh.edge_stats import edge_stats
from mesh.embedded import free_port


def line(status: int, cache: str, reason: str = "") -> str:
    return json.dumps({"status": status, "cache": cache, "bytes": 100, "reason": reason}) + "\n"


@pytest.fixture
async def healthy_edge() -> AsyncIterator[str]:
    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok US\n")

    app = web.Application()
    app.router.add_get("/edge/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_hit_ratio_requests_and_reachability(healthy_edge: str, tmp_path: Path) -> None:
    us, gb = tmp_path / "us.log", tmp_path / "gb.log"
    us.write_text(
        line(200, "MISS") + line(200, "HIT") + line(200, "HIT") + line(403, "-", "bad_token")
    )
    async with httpx.AsyncClient() as http:
        edges = EdgeLogs(
            {"US": str(us), "GB": str(gb)},
            {"US": healthy_edge, "GB": f"http://127.0.0.1:{free_port()}"},  # nothing listens
            deadline_s=0.5,
            http=http,
        )
        first = {e.region_code: e for e in await edges.statuses()}
        assert [(e.edge, e.requests, e.reachable) for e in first.values()] == [
            ("edge-gb", 0, False),  # no log yet: served nothing
            ("edge-us", 4, True),
        ]
        assert first["US"].hit_ratio == 2 / 3  # the refusal never reached the cache
        assert first["US"].hit_ratio == edge_stats(us).hit_ratio  # the CLI's own count agrees

        with us.open("a") as fh:  # new lines, the last one still being written
            fh.write(line(200, "HIT") + line(200, "EXPIRED") + '{"status": 200, "cache": "HI')
        second = {e.region_code: e for e in await edges.statuses()}
        assert (second["US"].requests, second["US"].hit_ratio) == (6, 3 / 5)
        with us.open("a") as fh:
            fh.write('T", "bytes": 1}\n')
        third = {e.region_code: e for e in await edges.statuses()}
        assert (third["US"].requests, third["US"].hit_ratio) == (7, 4 / 6)
        assert third["US"].requests == edge_stats(us).requests

        us.unlink()  # rotated: a new log counts from its start
        us.write_text(line(200, "MISS"))
        fourth = {e.region_code: e for e in await edges.statuses()}
        assert (fourth["US"].requests, fourth["US"].hit_ratio) == (1, 0.0)


def test_pairs_are_checked() -> None:
    assert parse_pairs(("us=/a", " GB = /b "), "VOD_EDGE_LOGS") == {"US": "/a", "GB": "/b"}
    with pytest.raises(ValueError, match="VOD_EDGE_LOGS"):
        parse_pairs(("USA=/a",), "VOD_EDGE_LOGS")
