"""The web app over plain HTTP, published at the front door's catch-all route (`/`), so the app
and the API share one origin (no `?api=`, no CORS).

What it serves, and nothing else:
- `/` -> 302 to `/app/`;
- `/app/<file>`: the files of web/app/ (the app's own modules, CSS, HTML) — short cache, ETag;
- `/node_modules/shaka-player/dist/<file>`: an allow-list of Shaka Player's built files (the app
  loads them by this path, which also works when web/ is served by `python3 -m http.server`);
- `/openapi.json`: `gateway.openapi.build_document()` when that module exists (404 otherwise).

Every other path is a JSON 404. Paths are resolved against a fixed table, never joined onto the
file system from the request: `..`, encoded dots, backslashes and absolute paths never match."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from services.runtime.logs import get_logger
from services.runtime.processes import shares_port

__all__ = [
    "ADDRESS_ENV",
    "SHAKA_FILES",
    "StaticFile",
    "WebServer",
    "build_app",
    "resolve",
    "start_from_env",
]

ADDRESS_ENV = "VOD_GATEWAY_HTTP_ADDRESS"
WEB_ROOT = Path(__file__).resolve().parents[1] / "web"
SHAKA_DIST = "node_modules/shaka-player/dist"
SHAKA_FILES = frozenset(
    {
        "shaka-player.compiled.js",
        "shaka-player.compiled.map",
        "shaka-player.compiled.debug.js",
        "shaka-player.compiled.debug.map",
    }
)
APP_SUFFIXES = frozenset({".html", ".js", ".css", ".svg", ".png", ".ico", ".json", ".webmanifest"})
APP_EXCLUDED = frozenset({"e2e.mjs"})
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".map": "application/json",
}
APP_CACHE = "no-cache"  # revalidate every load (ETag): the app changes with the checkout
VENDOR_CACHE = "public, max-age=3600"  # version-pinned but not hash-named: a short max-age
NOT_FOUND = json.dumps({"code": 5, "message": "no such method or path", "details": []})
_log = get_logger("gateway.web")
ROOT_KEY = web.AppKey("root", Path)


@dataclass(frozen=True)
class StaticFile:
    path: Path
    content_type: str
    cache_control: str


def _safe_name(name: str) -> bool:
    """One plain file name: no separators, no dot segments, no hidden files, no encodings."""
    return (
        bool(name)
        and "/" not in name
        and "\\" not in name
        and "%" not in name
        and "\x00" not in name
        and not name.startswith(".")
        and ":" not in name
    )


def resolve(path: str, root: Path = WEB_ROOT) -> StaticFile | None:
    """The file a request path names, or None. `path` is the raw (still percent-encoded) path:
    anything encoded is refused rather than decoded."""
    if path in ("/app", "/app/"):
        path = "/app/index.html"
    if path.startswith("/app/"):
        name = path.removeprefix("/app/")
        suffix = Path(name).suffix
        if not _safe_name(name) or suffix not in APP_SUFFIXES or name in APP_EXCLUDED:
            return None
        file = root / "app" / name
        cache = APP_CACHE
    elif path.startswith(f"/{SHAKA_DIST}/"):
        name = path.removeprefix(f"/{SHAKA_DIST}/")
        if name not in SHAKA_FILES:
            return None
        file = root / SHAKA_DIST / name
        suffix = file.suffix
        cache = VENDOR_CACHE
    else:
        return None
    if not file.is_file():
        return None
    return StaticFile(file, CONTENT_TYPES[suffix], cache)


def _not_found() -> web.Response:
    return web.Response(status=404, text=NOT_FOUND, content_type="application/json")


def _etag(file: Path) -> str:
    stat = file.stat()
    digest = hashlib.sha256(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return f'"{digest.hexdigest()[:20]}"'


async def _static(request: web.Request) -> web.StreamResponse:
    found = resolve(request.raw_path.split("?", 1)[0], request.app[ROOT_KEY])
    if found is None:
        return _not_found()
    etag = _etag(found.path)
    headers = {
        "Cache-Control": found.cache_control,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    body = found.path.read_bytes()
    response = web.Response(body=body, headers=headers)
    response.headers["Content-Type"] = found.content_type
    return response


async def _no_such_path(request: web.Request) -> web.StreamResponse:
    return _not_found()


async def _root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/app/")


async def _openapi(request: web.Request) -> web.StreamResponse:
    try:
        module = importlib.import_module("gateway.openapi")
    except ModuleNotFoundError as missing:
        if missing.name != "gateway.openapi":
            raise
        return _not_found()
    document = module.build_document()
    return web.json_response(document, headers={"Cache-Control": "no-cache"})


def build_app(root: Path = WEB_ROOT) -> web.Application:
    app = web.Application()
    app[ROOT_KEY] = root
    app.router.add_get("/", _root)
    app.router.add_get("/openapi.json", _openapi)
    app.router.add_route("GET", "/{tail:.*}", _static)
    app.router.add_route("HEAD", "/{tail:.*}", _static)
    # Any other method on any path (e.g. POST to an API path no service serves): the same 404.
    app.router.add_route("*", "/{tail:.*}", _no_such_path)
    return app


class WebServer:
    """The listener: `await start()` then `await stop()`."""

    def __init__(self, address: str, root: Path = WEB_ROOT) -> None:
        host, _, port = address.rpartition(":")
        self.host = host or "127.0.0.1"
        self.port = int(port)
        self._runner = web.AppRunner(build_app(root), access_log=None)

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_port=shares_port())
        await site.start()
        server: Any = site._server  # noqa: SLF001 (aiohttp keeps the bound server private)
        sockets = server.sockets if server is not None else []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        _log.info("gateway.web.ready", address=f"{self.host}:{self.port}")

    async def stop(self) -> None:
        await self._runner.cleanup()


async def start_from_env(env: Mapping[str, str] | None = None) -> WebServer | None:
    """Start the listener at `VOD_GATEWAY_HTTP_ADDRESS` if set (the launcher sets it)."""
    address = (os.environ if env is None else env).get(ADDRESS_ENV, "")
    if not address:
        return None
    server = WebServer(address)
    await server.start()
    return server
