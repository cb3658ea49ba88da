"""gateway/web.py: the web app listener serves web/app and Shaka's allow-listed dist files with
the right types and caching, redirects `/`, and never serves anything else — dot segments (plain
or percent-encoded), absolute paths, backslashes, the rest of node_modules, the e2e driver and
files outside the web root all get the JSON 404. Requests go over a raw socket so the path
reaches the server exactly as written (no client-side normalisation)."""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway import web as gw

REAL_ROOT = gw.WEB_ROOT


async def raw_get(
    port: int, target: str, headers: str = "", method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = "{}" if method == "POST" else ""
    if body:
        headers += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    request = f"{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n{body}"
    writer.write(request.encode("latin-1"))
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        fields[key.strip().lower()] = value.strip()
    return status, fields, body


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    """A web root with an app, Shaka's dist, another package and a secret beside the root."""
    root = tmp_path / "web"
    (root / "app").mkdir(parents=True)
    (root / "app" / "index.html").write_text("<!doctype html><title>app</title>")
    (root / "app" / "app.js").write_text("export const x = 1;")
    (root / "app" / "app.css").write_text("body{}")
    (root / "app" / "e2e.mjs").write_text("driver")
    (root / "app" / ".hidden.js").write_text("hidden")
    dist = root / gw.SHAKA_DIST
    dist.mkdir(parents=True)
    (dist / "shaka-player.compiled.js").write_text("var shaka;")
    (dist / "deps.js").write_text("not allowed")
    (root / "node_modules" / "playwright-core").mkdir(parents=True)
    (root / "node_modules" / "playwright-core" / "package.json").write_text("{}")
    (tmp_path / "secret.txt").write_text("secret")
    server = gw.WebServer("127.0.0.1:0", root)
    await server.start()
    try:
        yield server.port, tmp_path
    finally:
        await server.stop()


async def test_serves_the_app_with_types_and_revalidation(site: tuple[int, Path]) -> None:
    port, _ = site
    status, headers, body = await raw_get(port, "/app/")
    assert status == 200 and body == b"<!doctype html><title>app</title>"
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    status, headers, body = await raw_get(port, "/app/app.js")
    assert (status, headers["content-type"]) == (200, "text/javascript; charset=utf-8")
    assert headers["x-content-type-options"] == "nosniff"
    status, again, _ = await raw_get(port, "/app/app.js", f"If-None-Match: {headers['etag']}\r\n")
    assert status == 304
    status, headers, _ = await raw_get(port, "/app/app.css?v=2")
    assert (status, headers["content-type"]) == (200, "text/css; charset=utf-8")


async def test_serves_shaka_dist_with_long_cache(site: tuple[int, Path]) -> None:
    port, _ = site
    status, headers, body = await raw_get(
        port, "/node_modules/shaka-player/dist/shaka-player.compiled.js"
    )
    assert (status, body) == (200, b"var shaka;")
    assert headers["cache-control"] == "public, max-age=3600"
    assert headers["content-type"] == "text/javascript; charset=utf-8"


async def test_root_redirects_to_the_app(site: tuple[int, Path]) -> None:
    status, headers, _ = await raw_get(site[0], "/")
    assert (status, headers["location"]) == (302, "/app/")


@pytest.mark.parametrize(
    "target",
    [
        "/app/../secret.txt",
        "/app/../../secret.txt",
        "/app/%2e%2e/secret.txt",
        "/app/%2E%2E%2Fsecret.txt",
        "/app/..%2f..%2fsecret.txt",
        "/app/..\\secret.txt",
        "/app//etc/passwd",
        "/app/%2fetc%2fpasswd",
        "//etc/passwd",
        "/etc/passwd",
        "/app/e2e.mjs",
        "/app/.hidden.js",
        "/app/missing.js",
        "/node_modules/playwright-core/package.json",
        "/node_modules/shaka-player/dist/deps.js",
        "/node_modules/shaka-player/dist/../package.json",
        "/node_modules/shaka-player/dist/%2e%2e/package.json",
        "/node_modules/",
        "/secret.txt",
        "/v1/unknown",
    ],
)
async def test_everything_else_is_not_found(site: tuple[int, Path], target: str) -> None:
    status, headers, body = await raw_get(site[0], target)
    assert status == 404, (target, body)
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["code"] == 5
    assert b"secret" not in body


async def test_openapi_is_served_only_when_the_module_exists(site: tuple[int, Path]) -> None:
    status, _, body = await raw_get(site[0], "/openapi.json")
    try:
        importlib.import_module("gateway.openapi")
    except ModuleNotFoundError:
        assert status == 404
    else:
        assert status == 200 and "openapi" in json.loads(body)


def test_resolve_uses_only_the_table() -> None:
    assert gw.resolve("/app/index.html", REAL_ROOT) is not None
    assert gw.resolve("/app/e2e.mjs", REAL_ROOT) is None
    assert gw.resolve("/app/../package.json", REAL_ROOT) is None


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_other_methods_get_the_json_404(site: tuple[int, Path], method: str) -> None:
    # An API path no service serves (e.g. QoE before it is deployed) ends here: 404, not 405.
    status, headers, body = await raw_get(site[0], "/v1/sessions/s1/qoe:record", method=method)
    assert (status, json.loads(body)["code"]) == (404, 5)
    status, _, _ = await raw_get(site[0], "/app/index.html", method=method)
    assert status == 404
