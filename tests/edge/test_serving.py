"""Real nginx edges in front of the real origin: tokens, caching, ranges, bad input."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mesh.edge import EdgeSpec
from mesh.embedded import free_port
from mesh.nginx import EmbeddedNginx
from tests.edge.conftest import EdgeFactory
from tests.edge.helpers import (
    SECRET,
    Origin,
    log_entries,
    raw_request,
    relative,
    signed,
    wait_for,
)

SEG = "/titles/t-one/renditions/m1/v0/seg-00001.m4s"


def test_valid_token_serves_exact_bytes_and_a_second_viewer_hits(
    edge: EmbeddedNginx, origin: Origin
) -> None:
    first = httpx.get(signed(edge, session="viewer-1"))
    assert first.status_code == 200
    assert first.content == origin.data[SEG]
    assert first.headers["x-cache-status"] == "MISS"
    assert first.headers["content-type"] == "video/iso.segment"
    assert first.headers["access-control-allow-origin"] == "*"

    second = httpx.get(signed(edge, session="viewer-2"))  # another session, another token
    assert second.status_code == 200
    assert second.headers["x-cache-status"] == "HIT"
    assert second.content == origin.data[SEG]
    assert second.headers["etag"] == first.headers["etag"]
    # The origin saw one request, for the origin path, without the token.
    assert origin.seen() == [("GET", SEG, None)]
    # One object on disk, written by the workers, holding the key without the token.
    cached = [p for p in edge.spec.cache_dir.rglob("*") if p.is_file()]
    assert len(cached) == 1
    assert f"KEY: {SEG}\n".encode() in cached[0].read_bytes()[:1024]


def test_conditional_request_is_answered_from_cache(edge: EmbeddedNginx, origin: Origin) -> None:
    etag = httpx.get(signed(edge)).headers["etag"]
    again = httpx.get(signed(edge, session="viewer-2"), headers={"If-None-Match": etag})
    assert (again.status_code, again.headers["x-cache-status"]) == (304, "HIT")
    assert len(origin.seen()) == 1


def test_head_is_served_and_fills_the_cache(edge: EmbeddedNginx, origin: Origin) -> None:
    head = httpx.head(signed(edge))
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(origin.data[SEG]))
    get = httpx.get(signed(edge, session="viewer-2"))
    assert get.headers["x-cache-status"] == "HIT"
    assert get.content == origin.data[SEG]
    assert origin.seen() == [("GET", SEG, None)]  # nginx asked the origin for the whole object


def test_range_on_miss_then_on_hit(edge: EmbeddedNginx, origin: Origin) -> None:
    data = origin.data[SEG]
    size = len(data)
    miss = httpx.get(signed(edge), headers={"Range": "bytes=1000-1999"})
    assert miss.status_code == 206
    assert miss.headers["x-cache-status"] == "MISS"
    assert miss.headers["content-range"] == f"bytes 1000-1999/{size}"
    assert miss.content == data[1000:2000]
    # The whole object was fetched (no Range upstream) and cached.
    assert origin.seen() == [("GET", SEG, None)]

    hit = httpx.get(signed(edge, session="viewer-2"), headers={"Range": "bytes=-100"})
    assert hit.status_code == 206
    assert hit.headers["x-cache-status"] == "HIT"
    assert hit.headers["content-range"] == f"bytes {size - 100}-{size - 1}/{size}"
    assert hit.content == data[-100:]

    tail = httpx.get(signed(edge, session="viewer-3"), headers={"Range": f"bytes={size - 5}-"})
    assert (tail.status_code, tail.content) == (206, data[-5:])

    unsatisfiable = httpx.get(signed(edge), headers={"Range": f"bytes={size}-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{size}"

    whole = httpx.get(signed(edge, session="viewer-4"))
    assert (whole.status_code, whole.headers["x-cache-status"]) == (200, "HIT")
    assert whole.content == data
    assert len(origin.seen()) == 1


def test_concurrent_misses_collapse_into_one_origin_request(
    edge: EmbeddedNginx, origin: Origin
) -> None:
    big = "/titles/t-one/renditions/m1/v0/seg-00002.m4s"
    urls = [signed(edge, file="seg-00002.m4s", session=f"viewer-{i}") for i in range(8)]
    with ThreadPoolExecutor(len(urls)) as pool:
        bodies = list(pool.map(lambda url: httpx.get(url, timeout=30).content, urls))
    assert all(body == origin.data[big] for body in bodies)
    assert origin.seen() == [("GET", big, None)]


@pytest.mark.parametrize(
    ("make_url", "reason", "body"),
    [
        # a URL signed for GB, sent to the US edge
        (lambda e: signed(e, region="GB"), "region_not_served", "region not served here\n"),
        # a token for t-two used on t-one
        (
            lambda e: signed(e).split("?")[0] + "?" + signed(e, "t-two", "m2", "a0").split("?")[1],
            "bad_token",
            "bad token\n",
        ),
        # signed correctly, but past its expiry
        (lambda e: signed(e, expires=int(time.time()) - 10), "expired", "token expired\n"),
        # the expiry moved forward: the signature no longer matches
        (
            lambda e: signed(e).replace("&e=", "&e=9"),
            "bad_token",
            "bad token\n",
        ),
        # another session's id with this session's token
        (lambda e: signed(e).replace("s=viewer-1", "s=viewer-2"), "bad_token", "bad token\n"),
        # signed with another secret
        (lambda e: signed(e, secret="another-secret-0123456789"), "bad_token", "bad token\n"),
        # no query at all, and each parameter missing
        (lambda e: signed(e).split("?")[0], "bad_token", "bad token\n"),
        (lambda e: _drop(signed(e), "t"), "bad_token", "bad token\n"),
        (lambda e: _drop(signed(e), "e"), "bad_token", "bad token\n"),
        (lambda e: _drop(signed(e), "s"), "bad_token", "bad token\n"),
    ],
    ids=[
        "other-region",
        "other-title",
        "expired",
        "extended-expiry",
        "other-session",
        "other-secret",
        "no-query",
        "no-token",
        "no-expiry",
        "no-session",
    ],
)
def test_refused_tokens(
    edge: EmbeddedNginx, origin: Origin, make_url: object, reason: str, body: str
) -> None:
    response = httpx.get(make_url(edge))  # type: ignore[operator]
    assert (response.status_code, response.text) == (403, body)
    assert "x-cache-status" not in response.headers
    assert response.headers["access-control-allow-origin"] == "*"
    entry = log_entries(edge, 1)[0]
    assert (entry["status"], entry["reason"], entry["cache"]) == (403, reason, "")
    assert origin.seen() == []


def test_forged_token_one_character_changed(edge: EmbeddedNginx, origin: Origin) -> None:
    url = signed(edge)
    token = url.rsplit("t=", 1)[1]
    # The first character: the last one of 22 base64 characters carries 4 padding bits, which a
    # decoder may ignore, so changing it need not change the MD5 at all.
    forged = url[: -len(token)] + ("B" if token[0] != "B" else "C") + token[1:]
    response = httpx.get(forged)
    assert (response.status_code, response.text) == (403, "bad token\n")
    assert httpx.get(url).status_code == 200
    assert len(origin.seen()) == 1


def _drop(url: str, name: str) -> str:
    base, query = url.split("?")
    kept = [p for p in query.split("&") if not p.startswith(f"{name}=")]
    return f"{base}?{'&'.join(kept)}"


def test_path_traversal_and_encodings_never_reach_the_origin(
    edge: EmbeddedNginx, origin: Origin
) -> None:
    query = signed(edge).split("?")[1]  # a valid token for /cdn/US/t-one/
    cases = {
        "/cdn/US/t-one/m1/v0/../v0/seg-00001.m4s": 400,
        "/cdn/US/t-one/m1/v0/%2e%2e/v0/seg-00001.m4s": 400,
        "/cdn/US/t-one/m1/v0/%2E%2E/v0/seg-00001.m4s": 400,
        "/cdn/US/t-one/m1/v0%2Fseg-00001.m4s/x": 400,
        "/cdn/US/t-one/m1/v0/seg-00001.m4s%2F..%2F..%2Fx": 400,
        "/cdn/US/t-one/m1/v0/..%2F..%2F..%2Ftitles": 400,
        "/cdn/US/t-one/m1//v0/seg-00001.m4s": 400,
        "/cdn/US/t-one/m1/v0/seg-00001.m4s%00": 400,
        "/cdn/US/t-one/m1/v0/seg..00001.m4s": 400,
        "/cdn/US/t-one/m1/v0/.hidden": 400,
        "/cdn/US/t-one/m1/v0/seg-00001.m4s/": 400,
        "/cdn/US/t-one/M1/v0/seg-00001.m4s": 400,
        "/cdn/US/t-one/m1/v0": 400,
        # nginx resolves these to a path outside /cdn/, which the edge does not serve
        "/cdn/../titles/t-one/renditions/m1/v0/seg-00001.m4s": 404,
        "/cdn/%2e%2e/titles/t-one/renditions/m1/v0/seg-00001.m4s": 404,
        "/titles/t-one/renditions/m1/v0/seg-00001.m4s": 404,
        # beyond the root: nginx itself refuses the request line
        "/cdn/US/../../../etc/passwd": 400,
    }
    got = {path: raw_request(edge, f"{path}?{query}").status for path in cases}
    assert got == cases
    assert origin.seen() == []
    # The same token on the clean path works: only the path was at fault.
    assert raw_request(edge, f"/cdn/US/t-one/m1/v0/seg-00001.m4s?{query}").status == 200


def test_only_get_and_head_are_allowed(edge: EmbeddedNginx, origin: Origin) -> None:
    url = relative(signed(edge))
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        response = raw_request(edge, url, method=method, headers={"Content-Length": "0"})
        assert response.status == 405, method
        assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert [e["reason"] for e in log_entries(edge, 4)] == ["method_not_allowed"] * 4
    assert origin.seen() == []


def test_cors_preflight_is_answered_without_a_token(edge: EmbeddedNginx, origin: Origin) -> None:
    response = raw_request(
        edge,
        "/cdn/US/t-one/m1/v0/seg-00001.m4s",
        method="OPTIONS",
        headers={
            "Origin": "http://player.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        },
    )
    assert response.status == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
    assert "Range" in response.headers["access-control-allow-headers"]
    assert response.headers["access-control-max-age"] == "86400"
    ok = httpx.get(signed(edge))
    assert "X-Cache-Status" in ok.headers["access-control-expose-headers"]
    assert "access-control-allow-methods" not in ok.headers
    assert len(origin.seen()) == 1


def test_unknown_object_is_a_404_from_the_origin(edge: EmbeddedNginx, origin: Origin) -> None:
    response = httpx.get(signed(edge, file="seg-09999.m4s"))
    assert (response.status_code, response.headers["x-cache-status"]) == (404, "MISS")
    again = httpx.get(signed(edge, file="seg-09999.m4s"))
    assert again.headers["x-cache-status"] == "MISS"  # not-found is not cached
    assert len(origin.seen()) == 2


def test_origin_down_is_a_502_and_the_token_is_not_logged(start_edge: EdgeFactory) -> None:
    edge = start_edge("US", origin_port=free_port())
    url = signed(edge)
    response = httpx.get(url)
    assert response.status_code == 502
    entry = log_entries(edge, 1)[0]
    assert (entry["status"], entry["upstream_status"]) == (502, "502")
    token = url.rsplit("t=", 1)[1]
    for log in (edge.spec.access_log_path, edge.spec.error_log_path):
        assert token not in log.read_text()


def test_blocked_client_networks(start_edge: EdgeFactory, origin: Origin) -> None:
    edge = start_edge("US", blocked_networks=("127.0.0.0/8",))
    response = httpx.get(signed(edge))
    assert (response.status_code, response.text) == (403, "client blocked\n")
    assert log_entries(edge, 1)[0]["reason"] == "client_blocked"
    assert origin.seen() == []


def test_two_regional_edges_side_by_side(start_edge: EdgeFactory, origin: Origin) -> None:
    us = start_edge("US")
    gb = start_edge("GB")
    assert us.spec.cache_dir != gb.spec.cache_dir
    for regional in (us, gb):
        own = httpx.get(signed(regional))
        assert own.status_code == 200
        assert own.headers["x-cache-status"] == "MISS"  # caches are separate
    for here, there in ((us, gb), (gb, us)):
        # a correctly signed URL for the other region, sent here
        foreign = raw_request(here, relative(signed(here, region=there.spec.region)))
        assert (foreign.status, foreign.body) == (403, b"region not served here\n")
    for regional in (us, gb):
        assert httpx.get(signed(regional, session="viewer-9")).headers["x-cache-status"] == "HIT"
    assert len(origin.seen(SEG)) == 2  # one fill per edge


def test_spec_of_each_edge_comes_from_one_place(start_edge: EdgeFactory) -> None:
    edge = start_edge("FR", cache_max_size="64m", worker_processes=1)
    assert isinstance(edge.spec, EdgeSpec)
    text = edge.conf_path.read_text()
    assert "max_size=64m" in text
    assert "worker_processes 1;" in text
    assert text.count(SECRET) == 1
    assert SECRET not in edge.spec.access_log_path.read_text()


def test_expired_objects_are_revalidated_not_refetched(
    start_edge: EdgeFactory, origin: Origin
) -> None:
    edge = start_edge("US", cache_valid="1s")
    assert httpx.get(signed(edge)).headers["x-cache-status"] == "MISS"
    sent = [1]

    def revalidated() -> httpx.Response | None:
        response = httpx.get(signed(edge, session="viewer-2"))
        sent[0] += 1
        return response if response.headers["x-cache-status"] == "REVALIDATED" else None

    response = wait_for(revalidated)
    assert response.content == origin.data[SEG]
    # The second origin request was conditional and answered 304: no body was refetched.
    assert [r[0] for r in origin.seen()] == ["GET", "GET"]
    entries = log_entries(edge, sent[0])
    assert [(e["cache"], e["upstream_status"]) for e in entries if e["cache"] != "HIT"] == [
        ("MISS", "200"),
        ("REVALIDATED", "304"),
    ]
