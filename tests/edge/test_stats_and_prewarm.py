"""Hit/miss counts from the access log, tokens kept out of it, and pre-warming."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from mesh.edge import WarmResult, prewarm
from mesh.edge_stats import EdgeStats, edge_stats, format_stats
from mesh.nginx import EmbeddedNginx
from tests.edge.conftest import EdgeFactory
from tests.edge.helpers import OBJECTS, Origin, log_entries, raw_request, relative, signed

SEG = "/titles/t-one/renditions/m1/v0/seg-00001.m4s"


def test_stats_count_what_happened(edge: EmbeddedNginx, origin: Origin) -> None:
    size = len(origin.data[SEG])
    urls = []
    for session in ("viewer-1", "viewer-2", "viewer-3"):  # 1 MISS, 2 HIT
        urls.append(signed(edge, session=session))
        assert httpx.get(urls[-1]).status_code == 200
    refused = [
        signed(edge, session="viewer-4", expires=int(time.time()) - 1),  # expired
        signed(edge, session="viewer-5", region="GB"),  # region_not_served
        signed(edge, "t-two", session="viewer-6").replace("t-two", "t-one", 1),  # bad_token
    ]
    for url in refused:
        assert httpx.get(url).status_code == 403
    query = signed(edge, session="viewer-7").split("?")[1]
    bad_path = raw_request(edge, f"/cdn/US/t-one/m1/v0/%2e%2e/x?{query}")
    assert bad_path.status == 400

    log_entries(edge, 7)
    stats = edge_stats(edge.spec.access_log_path)
    bodies = len("token expired\n") + len("region not served here\n") + len("bad token\n")
    assert stats == EdgeStats(
        requests=7,
        by_cache={"MISS": 1, "HIT": 2},
        by_status={200: 3, 403: 3, 400: 1},
        refusals={"expired": 1, "region_not_served": 1, "bad_token": 1, "bad_path": 1},
        bytes=3 * size + bodies + len("bad object path\n"),
        bytes_through_cache=3 * size,
        hit_bytes=2 * size,
    )
    assert (stats.hits, stats.misses, stats.forbidden) == (2, 1, 3)
    assert stats.hit_ratio == pytest.approx(2 / 3)
    assert stats.byte_hit_ratio == pytest.approx(2 / 3)

    # No token, session id or query string is in any log line.
    text = edge.spec.access_log_path.read_text() + edge.spec.error_log_path.read_text()
    for url in [*urls, *refused]:
        token = url.rsplit("t=", 1)[1]
        assert token not in text
    assert "viewer-" not in text
    assert "?" not in text
    assert all(json.loads(line)["region"] == "US" for line in text.splitlines() if line[:1] == "{")


def test_format_stats_is_a_table(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = [
        {"status": 200, "cache": "MISS", "bytes": 100, "reason": ""},
        {"status": 200, "cache": "HIT", "bytes": 100, "reason": ""},
        {"status": 206, "cache": "HIT", "bytes": 10, "reason": ""},
        {"status": 200, "cache": "EXPIRED", "bytes": 100, "reason": ""},
        {"status": 403, "cache": "", "bytes": 10, "reason": "bad_token"},
    ]
    log.write_text("\n".join(json.dumps(line) for line in lines) + "\n{cut off\n")
    stats = edge_stats(log)
    assert stats.unparsed_lines == 1
    assert (stats.hits, stats.misses, stats.requests) == (2, 2, 5)
    assert format_stats({"US": stats, "GB": edge_stats(tmp_path / "missing.log")}) == (
        "edge  requests  HIT  MISS  other  hit%  403  bytes  refusals\n"
        "US    5         2    1     1      50.0  1    320    bad_token=1\n"
        "GB    0         0    0     0      0.0   0    0      -\n"
    )
    assert format_stats(stats, "US").splitlines()[1].startswith("US ")


def _title_urls(edge: EmbeddedNginx, title: str, session: str) -> list[str]:
    urls = []
    for media, tracks in OBJECTS[title].items():
        for track, files in tracks.items():
            for file in files:
                urls.append(signed(edge, title, media, track, file, session=session))
    return urls


async def test_prewarm_makes_a_viewers_first_request_a_hit(
    edge: EmbeddedNginx, origin: Origin
) -> None:
    urls = _title_urls(edge, "t-one", "prewarm-admin")
    total = sum(OBJECTS["t-one"]["m1"]["v0"].values())
    assert await prewarm(edge.base_url, urls) == WarmResult(3, 0, total)
    assert await prewarm(edge.base_url, [relative(u) for u in urls]) == WarmResult(3, 3, total)

    first = httpx.get(signed(edge, session="viewer-1"))
    assert first.headers["x-cache-status"] == "HIT"
    assert first.content == origin.data[SEG]
    assert sorted(path for _, path, _ in origin.seen()) == sorted(
        f"/titles/t-one/renditions/m1/v0/{file}" for file in OBJECTS["t-one"]["m1"]["v0"]
    )


async def test_prewarm_refuses_foreign_urls_and_reports_refusals(
    start_edge: EdgeFactory,
) -> None:
    us = start_edge("US")
    gb = start_edge("GB")
    with pytest.raises(ValueError, match="is not on the edge"):
        await prewarm(us.base_url, _title_urls(gb, "t-one", "admin"))
    with pytest.raises(httpx.HTTPStatusError, match="403"):
        await prewarm(us.base_url, [signed(us, expires=int(time.time()) - 1)])
    assert await prewarm(us.base_url, []) == WarmResult(0, 0, 0)
